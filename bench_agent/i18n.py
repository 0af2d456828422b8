"""The translation layer: every user-visible string goes through ``_()``.

Message ids are the English text (gettext style). The French catalogue is one gettext domain,
``bench_agent/locale/fr/LC_MESSAGES/bench_agent.po`` (``msgctxt`` for ``pgettext``,
``msgid_plural`` for ``ngettext``), compiled by ``scripts/i18n compile`` to the ``.mo`` beside
it, which the standard library's ``gettext`` reads at first use (Babel only writes it).
``tests/test_i18n.py`` extracts every marked string with Babel and checks it against the .po.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from bench_agent.resources import PACKAGE

DOMAIN = "bench_agent"
SUPPORTED = ("en", "fr")
_language: str | None = None
# A web server answers a French and an English supervisor at the same time: inside
# ``scoped_language`` (one request) the language is a context variable's, not the process's.
_scoped: ContextVar[str | None] = ContextVar("bench_language", default=None)
# The .mo's messages as gettext reads them: "<msgid>" and "<context>\x04<msgid>" keys, and
# (singular, n) for msgstr[n] of a plural entry.
_messages: dict[str, dict[Any, str]] = {}
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
    scoped = _scoped.get()
    if scoped:
        return scoped
    if _language is None:
        _language = _default_language()
    return _language


def set_language(language: str) -> None:
    """Switch the language for the whole process (operators choose theirs at login)."""
    global _language
    code = language.lower().split("_")[0]
    _language = code if code in SUPPORTED else "en"


@contextmanager
def scoped_language(code: str | None) -> Iterator[str]:
    """Translate with ``code`` (anything unsupported: English) inside the ``with`` block, in
    this thread or task only (the dashboard's requests); the process's language is untouched."""
    chosen = (code or "").lower()[:2]
    token = _scoped.set(chosen if chosen in SUPPORTED else "en")
    try:
        yield get_language()
    finally:
        _scoped.reset(token)


def _load(language: str) -> dict[Any, str]:
    messages: dict[Any, str] = {}
    # A plain path (as bench_agent.resources finds the other package data): the
    # importlib.resources machinery cost ~10 ms of every start-up on a fast PC.
    mo = PACKAGE / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if language != "en" and mo.is_file():
        import gettext  # only when a translation is shown: English start-ups skip it

        with mo.open("rb") as handle:
            messages = getattr(gettext.GNUTranslations(handle), "_catalog", messages)
        messages.pop("", None)  # the header
    _messages[language] = messages
    return messages


def _lookup(language: str, key: str) -> str | None:
    messages = _messages.get(language)
    if messages is None:
        messages = _load(language)
    text = messages.get(key)
    return text if text is not None else messages.get((key, 0))  # a plural's singular


def catalogue(language: str) -> dict[str, str]:
    """The language's translations by English text (plural entries: their singular)."""
    if language not in _catalogues:
        messages = _messages.get(language)
        if messages is None:
            messages = _load(language)
        flat = {key: text for key, text in messages.items() if isinstance(key, str)}
        for key, text in messages.items():
            if isinstance(key, tuple) and key[1] == 0:
                flat.setdefault(key[0], text)
        _catalogues[language] = flat
    return _catalogues[language]


def translate(msgid: str, language: str | None = None, **params: Any) -> str:
    """Translate ``msgid`` into ``language`` (default: the current one) and fill ``{params}``."""
    lang = language or get_language()
    text = (_lookup(lang, msgid) or msgid) if lang != "en" else msgid
    return text.format(**params) if params else text


def _(msgid: str, **params: Any) -> str:
    return translate(msgid, None, **params)


def pgettext(context: str, msgid: str, **params: Any) -> str:
    """``msgid`` in a context (gettext's msgctxt), for one English text that two places say
    differently in French: the catalogue key is ``"<context>\x04<msgid>"``, as in gettext."""
    lang = get_language()
    text = (_lookup(lang, f"{context}\x04{msgid}") or msgid) if lang != "en" else msgid
    return text.format(**params) if params else text


def N_(msgid: str) -> str:
    """Mark a string for translation without translating it now (translate later with ``_``)."""
    return msgid


def both(msgid: str, **params: Any) -> dict[str, str]:
    """The message in every supported language (for records read later in either language)."""
    return {lang: translate(msgid, lang, **params) for lang in SUPPORTED}


# ------------------------------------------------------------------------------ formatting
# Numbers, sizes and plurals in the language shown (Babel's CLDR data): "82,3 Go" beside
# "493 Mo" in French, "82.3 GB" and "493 MB" in English; "1 secteur", "2 secteurs".
_LOCALES = {"en": "en_GB", "fr": "fr_FR"}
_SIZE_UNITS = {
    "en": ("B", "kB", "MB", "GB", "TB"),
    "fr": ("o", "ko", "Mo", "Go", "To"),
}


def format_decimal(value: float, digits: int = 1, language: str | None = None) -> str:
    """``value`` with ``digits`` decimals and the language's decimal mark and grouping."""
    from babel.numbers import format_decimal as babel_decimal

    lang = language or get_language()
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return str(babel_decimal(value, format=pattern, locale=_LOCALES.get(lang, "en_GB")))


def format_size(value: float | None, language: str | None = None) -> str:
    """A size in decimal units (as disks are sold): "82.3 GB" / "82,3 Go", "512 B" / "512 o"."""
    if value is None:
        return "?"
    lang = language or get_language()
    units = _SIZE_UNITS.get(lang, _SIZE_UNITS["en"])
    size = float(value)
    for unit in units:
        if abs(size) < 1000 or unit == units[-1]:
            digits = 0 if unit == units[0] or abs(size) >= 100 else 1  # 3 figures
            return f"{format_decimal(size, digits, lang)}\u00a0{unit}"
        size /= 1000
    return f"{value} {units[0]}"  # unreachable: the last unit takes any size


def format_duration(seconds: float | None) -> str:
    """A duration in the current language: "1 h 05 min", "3 min 07 s", "42 s"; "—" if unknown."""
    if seconds is None:
        return "—"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("{h} h {m:02d} min", h=hours, m=minutes)
    if minutes:
        return _("{m} min {s:02d} s", m=minutes, s=secs)
    return _("{s} s", s=secs)


def plural_form(count: float, language: str | None = None) -> str:
    """CLDR plural category of ``count`` in the language: "one" or "other" (en, fr)."""
    from babel import Locale

    lang = language or get_language()
    return str(Locale.parse(_LOCALES.get(lang, "en_GB")).plural_form(abs(count)))


def ntranslate(
    singular: str, plural: str, count: float, language: str | None = None, **params: Any
) -> str:
    """The singular or plural message for ``count`` (French: 0 and 1 are singular), filled
    with ``count`` and ``params``: the catalogue's plural entry (msgstr[0] or [1], chosen by
    Babel's CLDR rule), else the two ids' own entries (pairs marked apart with ``N_``)."""
    lang = language or get_language()
    one = plural_form(count, lang) == "one"
    if lang != "en":
        messages = _messages.get(lang)
        if messages is None:
            messages = _load(lang)
        text = messages.get((singular, 0 if one else 1))  # Plural-Forms: nplurals=2
        if text is not None:
            return text.format(count=count, **params)
    return translate(singular if one else plural, lang, count=count, **params)


def ngettext(singular: str, plural: str, count: float, **params: Any) -> str:
    return ntranslate(singular, plural, count, None, **params)


def nboth(singular: str, plural: str, count: float, **params: Any) -> dict[str, str]:
    """The plural-aware message in every supported language (for records)."""
    return {lang: ntranslate(singular, plural, count, lang, **params) for lang in SUPPORTED}
