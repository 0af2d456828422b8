"""Every string marked for translation has a French translation with the same placeholders.

The marked strings are what Babel's extractor finds in the package (pybabel's keywords:
``_``, ``N_``, ``both``, ``ngettext:1,2``, ``nboth:1,2``, ``pgettext:1c,2``; see scripts/i18n);
the translations are the gettext catalogue bench_agent/locale/fr/LC_MESSAGES/bench_agent.po,
and the .mo the agent loads must be its compilation.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import re
import string
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import bench_agent
from bench_agent.i18n import (
    catalogue,
    nboth,
    ngettext,
    pgettext,
    set_language,
    translate,
)

PACKAGE = Path(bench_agent.__file__).parent
SCRIPT = PACKAGE.parent / "scripts" / "i18n"


@functools.cache
def tool() -> ModuleType:
    """scripts/i18n, the same extraction and compilation the maintainers run."""
    loader = importlib.machinery.SourceFileLoader("bench_i18n_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@functools.cache
def marked() -> tuple[tuple[str, int, str | tuple[str, str], str | None], ...]:
    return tuple(tool().extracted())


@functools.cache
def french() -> Any:
    return tool().read("fr")


def key(msgid: str | tuple[str, str], context: str | None) -> str:
    """The runtime catalogue's key: gettext's "<context>\\x04<msgid>" (a plural: its singular)."""
    text = msgid if isinstance(msgid, str) else msgid[0]
    return f"{context}\x04{text}" if context else text


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_some_strings_are_marked() -> None:
    assert len(marked()) > 1000
    assert any(isinstance(message, tuple) for _, _, message, _ in marked())  # plurals
    assert any(context for _, _, _, context in marked())  # contexts


def test_no_json_catalogue_is_left() -> None:
    left = sorted(p.name for p in (PACKAGE / "locale").rglob("*.json"))
    assert not left, f"merge them into the .po: scripts/i18n convert ({left})"


def translated(msgid: str, context: str | None) -> bool:
    entry = french().get(msgid, context=context)
    if entry is None:
        return False
    strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
    return all(strings)


def test_every_marked_string_has_a_french_translation() -> None:
    missing = []
    for where, line, message, context in marked():
        # A plural pair is one entry (msgid_plural) or, marked apart with N_, two.
        ids = (message[0],) if isinstance(message, tuple) else (message,)
        entry = french().get(ids[0], context=context)
        if isinstance(message, tuple) and (entry is None or not isinstance(entry.id, tuple)):
            ids = message
        missing += [f"{where}:{line}: {text!r}" for text in ids if not translated(text, context)]
    assert not missing, "missing French translations (scripts/i18n update):\n" + "\n".join(missing)


def test_no_unused_translations_pile_up() -> None:
    used = set()
    for _, _, message, context in marked():
        for text in (message,) if isinstance(message, str) else message:
            used.add(key(text, context))
    extra = sorted(
        key(m.id, m.context) for m in french() if m.id and key(m.id, m.context) not in used
    )
    assert not extra, f"translations for strings no longer in the code: {extra[:10]}"


def test_translations_keep_placeholders() -> None:
    wrong = []
    for message in french():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid, text in zip(ids, texts, strict=True):
            if placeholders(msgid) != placeholders(text):
                wrong.append(msgid)
    assert not wrong, wrong


def test_each_message_has_one_french_translation() -> None:
    """One English text (in one context) is one entry: a duplicate in the .po would silently
    lose one of its translations (a message that needs two takes a context: ``pgettext``)."""
    source = tool().po_path("fr").read_text(encoding="utf-8")
    written = len(re.findall(r"^msgid ", source, flags=re.MULTILINE))
    assert written == len(french()) + 1  # + the header


def test_the_mo_is_the_compiled_po() -> None:
    assert tool().check("fr") == []
    header = french()
    assert header.locale_identifier == "fr"
    assert header.plural_forms == "nplurals=2; plural=(n > 1);"


def test_the_agent_loads_every_entry_of_the_po() -> None:
    loaded = catalogue("fr")
    wrong = []
    for message in french():
        if not message.id:
            continue
        text = message.string if isinstance(message.string, str) else message.string[0]
        if loaded.get(key(message.id, message.context)) != text:
            wrong.append(message.id)
    assert not wrong and len(loaded) == len(french()), wrong[:10]


def test_a_context_tells_one_word_apart() -> None:
    set_language("fr")
    try:
        assert translate("image") == "image"  # the images table's column
        assert pgettext("step", "image") == "l'image"  # "Arrêter l'image"
    finally:
        set_language("en")
    assert pgettext("step", "image") == "image"


@pytest.mark.parametrize(
    "count,fr,en",
    [
        (0, "0 secteur réalloué", "0 reallocated sectors"),
        (1, "1 secteur réalloué", "1 reallocated sector"),
        (2, "2 secteurs réalloués", "2 reallocated sectors"),
    ],
)
def test_a_plural_entry_follows_each_language_rule(count: int, fr: str, en: str) -> None:
    """French says 0 in the singular, English in the plural (msgid_plural entry)."""
    pair = ("{count} reallocated sector", "{count} reallocated sectors")
    assert nboth(*pair, count) == {"en": en, "fr": fr}
    set_language("fr")
    try:
        assert ngettext(*pair, count) == fr
    finally:
        set_language("en")
    assert ngettext(*pair, count) == en


def test_a_pair_marked_apart_is_plural_too() -> None:
    """health.py marks its pairs with N_ and passes them as variables: two plain entries."""
    pair = (
        "{count} sector pending reallocation (197)",
        "{count} sectors pending reallocation (197)",
    )
    assert nboth(*pair, 0)["fr"] == "0 secteur en attente de réallocation (197)"
    assert nboth(*pair, 3)["fr"] == "3 secteurs en attente de réallocation (197)"


@pytest.mark.parametrize("lang,expected", [("fr", "erreur : boom"), ("en", "error: boom")])
def test_translate_fills_parameters(lang: str, expected: str) -> None:
    assert translate("error: {message}", lang, message="boom") == expected


def test_an_unknown_message_stays_in_english() -> None:
    assert translate("no such message {n}", "fr", n=3) == "no such message 3"


def test_set_language_falls_back_to_english() -> None:
    set_language("de")
    from bench_agent.i18n import get_language

    assert get_language() == "en"
    set_language("fr")
    assert get_language() == "fr"
    set_language("en")
