"""Every string marked for translation has a French translation with the same placeholders."""

from __future__ import annotations

import ast
import json
import string
from pathlib import Path

import pytest

import bench_agent
from bench_agent.i18n import catalogue, set_language, translate

PACKAGE = Path(bench_agent.__file__).parent


def marked_strings() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "pgettext":  # a message in a context: "<context>\x04<msgid>"
                texts = [a.value for a in node.args[:2] if isinstance(a, ast.Constant)]
                if len(texts) == 2 and all(isinstance(t, str) for t in texts):
                    key = f"{texts[0]}\x04{texts[1]}"
                    found.append((str(path.relative_to(PACKAGE)), node.lineno, key))
                continue
            # Plural forms: the singular and the plural id are both catalogue keys.
            count = 2 if node.func.id in {"ngettext", "nboth"} else 1
            if node.func.id not in {"_", "N_", "both", "ngettext", "nboth"}:
                continue
            for arg in node.args[:count]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((str(path.relative_to(PACKAGE)), node.lineno, arg.value))
    return found


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_some_strings_are_marked() -> None:
    assert len(marked_strings()) > 10


def test_every_marked_string_has_a_french_translation() -> None:
    french = catalogue("fr")
    missing = [
        f"{where}:{line}: {text!r}" for where, line, text in marked_strings() if text not in french
    ]
    assert not missing, "missing French translations:\n" + "\n".join(missing)


def test_translations_keep_placeholders() -> None:
    wrong = [
        msgid
        for msgid, text in catalogue("fr").items()
        if placeholders(msgid) != placeholders(text)
    ]
    assert not wrong


def test_each_message_has_one_french_translation() -> None:
    """The catalogues are merged into one: the same English text translated two ways in two
    of them would silently take the later file's words everywhere (a message that needs two
    translations takes a context: ``pgettext``)."""
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in sorted((PACKAGE / "locale" / "fr").glob("*.json")):
        for msgid, text in json.loads(path.read_text(encoding="utf-8")).items():
            first = seen.setdefault(msgid, (path.name, text))
            if first[1] != text:
                clashes.append(f"{msgid!r}: {first} vs {(path.name, text)}")
    assert not clashes, "\n".join(clashes)


def test_a_context_tells_one_word_apart() -> None:
    from bench_agent.i18n import pgettext

    set_language("fr")
    try:
        assert translate("image") == "image"  # the images table's column
        assert pgettext("step", "image") == "l'image"  # "Arrêter l'image"
    finally:
        set_language("en")
    assert pgettext("step", "image") == "image"


def test_no_unused_translations_pile_up() -> None:
    used = {text for _, _, text in marked_strings()}
    extra = sorted(set(catalogue("fr")) - used)
    assert not extra, f"translations for strings no longer in the code: {extra[:10]}"


@pytest.mark.parametrize("lang,expected", [("fr", "erreur : boom"), ("en", "error: boom")])
def test_translate_fills_parameters(lang: str, expected: str) -> None:
    assert translate("error: {message}", lang, message="boom") == expected


def test_set_language_falls_back_to_english() -> None:
    set_language("de")
    from bench_agent.i18n import get_language

    assert get_language() == "en"
    set_language("fr")
    assert get_language() == "fr"
    set_language("en")
