"""Per-request language for the dashboard, reports and labels.

``bench_agent.i18n`` keeps one language for the whole process (right for the bench, where one
operator works); a web server answers a French and an English supervisor at the same time, so
the language here lives in a context variable, set for the duration of one request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from bench_agent.i18n import SUPPORTED, get_language, translate

_current: ContextVar[str | None] = ContextVar("bench_dashboard_language", default=None)


def current_language() -> str:
    return _current.get() or get_language()


def _(msgid: str, **params: Any) -> str:
    return translate(msgid, current_language(), **params)


@contextmanager
def language(code: str | None) -> Iterator[str]:
    """Translate with ``code`` (en/fr; anything else → English) inside the ``with`` block."""
    chosen = (code or "").lower()[:2]
    token = _current.set(chosen if chosen in SUPPORTED else "en")
    try:
        yield current_language()
    finally:
        _current.reset(token)
