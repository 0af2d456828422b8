"""Per-request language for the dashboard, reports and labels.

``bench_agent.i18n`` keeps one language for the whole process (right for the bench, where one
operator works); a web server answers a French and an English supervisor at the same time, so
a request's language is ``i18n.scoped_language`` (a context variable, set for the duration of
one request). The dashboard translates with the same ``_`` as the rest of the agent.
"""

from __future__ import annotations

from bench_agent.i18n import _ as _
from bench_agent.i18n import get_language
from bench_agent.i18n import scoped_language as language

__all__ = ["_", "current_language", "language"]


def current_language() -> str:
    """The language of the request being answered (else the process's)."""
    return get_language()
