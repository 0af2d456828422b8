"""The translation layer: every user-visible string goes through ``_()``.

Message ids are the English text (gettext style). French catalogues are JSON files in
``bench_agent/locale/fr/`` — one per area of the code, so parts of the project never edit the
same file — merged at first use. ``tests/test_i18n.py`` checks that every literal passed to
``_()`` or ``N_()`` in the package has a French translation with the same placeholders.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Any

SUPPORTED = ("en", "fr")
_language: str | None = None
_catalogues: dict[str, dict[str, str]] = {}


def _default_language() -> str:
    for var in ("BENCH_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            code = value.split(":")[0].split("_")[0].split(".")[0].lower()
            return code if code in SUPPORTED else "en"
    return "en"


def get_language() -> str:
    global _language
    if _language is None:
        _language = _default_language()
    return _language


def set_language(language: str) -> None:
    """Switch the language for the whole process (operators choose theirs at login)."""
    global _language
    code = language.lower().split("_")[0]
    _language = code if code in SUPPORTED else "en"


def catalogue(language: str) -> dict[str, str]:
    if language not in _catalogues:
        merged: dict[str, str] = {}
        if language != "en":
            folder = resources.files("bench_agent").joinpath("locale", language)
            if folder.is_dir():
                for entry in sorted(folder.iterdir(), key=lambda e: e.name):
                    if entry.name.endswith(".json"):
                        merged.update(json.loads(entry.read_text(encoding="utf-8")))
        _catalogues[language] = merged
    return _catalogues[language]


def translate(msgid: str, language: str | None = None, **params: Any) -> str:
    """Translate ``msgid`` into ``language`` (default: the current one) and fill ``{params}``."""
    lang = language or get_language()
    text = catalogue(lang).get(msgid, msgid) if lang != "en" else msgid
    return text.format(**params) if params else text


def _(msgid: str, **params: Any) -> str:
    return translate(msgid, None, **params)


def N_(msgid: str) -> str:
    """Mark a string for translation without translating it now (translate later with ``_``)."""
    return msgid


def both(msgid: str, **params: Any) -> dict[str, str]:
    """The message in every supported language (for records read later in either language)."""
    return {lang: translate(msgid, lang, **params) for lang in SUPPORTED}
