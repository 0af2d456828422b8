"""Each step screen speaks one language: no French on English screens, no English on French
ones (judged with the catalogues), and sizes in that language's units and decimal mark.

The screens are the snapshot tests' deterministic states (the recorded Pentium 4), shown with
Pilot at 100×37; the text is read from the rendered screen (its SVG export), not from code.
"""

from __future__ import annotations

import functools
import html
import re
import string
from pathlib import Path
from typing import Any

import pytest

from bench_agent.i18n import catalogue, format_decimal, format_size, ngettext, set_language
from tests.test_tui_snapshots import make_app, progress_events

SIZE = (100, 37)
STEP_SCREENS = ["operator", "intake", "inventory", "guided", "verdict", "wipe_plan", "wipe",
                "image", "done"]  # fmt: skip
MIN_FRAGMENT = 6  # shorter pieces ("OK", "Tab", "de") say nothing about a language


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_animations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")


def fragments(text: str) -> set[str]:
    """The literal pieces of a message between its placeholders."""
    pieces = set()
    for literal, _name, _spec, _conv in string.Formatter().parse(text):
        for part in re.split(r"[\n:·()«»\"'…]", literal):
            part = part.strip(" .,;!?–—-▶✔✘⚠○▣")
            if len(part) >= MIN_FRAGMENT and re.search(r"[A-Za-zÀ-ÿ]{4}", part):
                pieces.add(part)
    return pieces


@functools.cache
def foreign_fragments(language: str) -> frozenset[str]:
    """Pieces that, seen on a screen in ``language``, are the other language's words."""
    french = catalogue("fr")
    found: set[str] = set()
    for msgid, msgstr in french.items():
        if msgid == msgstr:
            continue
        english, translated = fragments(msgid), fragments(msgstr)
        found |= (translated - english) if language == "en" else (english - translated)
    # Words both languages use ("Machine", "interface", SMART's "FAILED") prove nothing.
    own = " ".join(french.values() if language == "fr" else french.keys())
    return frozenset(
        p for p in found if p not in own or not re.search(rf"(?<![\w]){re.escape(p)}(?![\w])", own)
    )


def screen_text(app: Any) -> str:
    svg = app.export_screenshot()
    lines: dict[str, list[tuple[float, str]]] = {}
    for match in re.finditer(r'<text[^>]* x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        x, y, content = match.groups()
        lines.setdefault(y, []).append((float(x), html.unescape(content)))
    ordered = sorted(lines.items(), key=lambda item: float(item[0]))
    return "\n".join(
        "".join(t for _x, t in sorted(parts)).replace("\u00a0", " ") for _y, parts in ordered
    )


async def rendered(agent_home: Path, screen: str, language: str) -> str:
    app = make_app(agent_home, screen, language, "bench-contrast-dark")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for event in progress_events(screen):
            pilot.app.screen.show_progress(event)
        await pilot.pause()
        return screen_text(app)


def words_on(text: str, pieces: frozenset[str]) -> list[str]:
    flat = " ".join(text.split())
    found = set()
    for piece in pieces:  # overlapping pieces: each is looked for on its own, once screened
        if piece in flat and re.search(rf"(?<![\w]){re.escape(piece)}(?![\w])", flat):
            found.add(piece)
    return sorted(found)


@pytest.mark.anyio
@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("screen", STEP_SCREENS)
async def test_each_step_screen_speaks_one_language(
    agent_home: Path, screen: str, language: str
) -> None:
    text = await rendered(agent_home, screen, language)
    assert text.strip(), "nothing rendered"
    other = words_on(text, foreign_fragments(language))
    assert not other, f"{screen} in {language} shows the other language: {other}\n{text}"
    # Codes are said in words: no criterion id ("disk.sdb.health", "cpu.sse2") on screen.
    assert not re.search(r"\b(disk|cpu|guided|auto)\.[a-z0-9_]+", text), text
    if language == "fr":
        assert not re.search(r"\d[\d.,]* ?[kMGT]B\b", text), text  # Mo/Go in French
    else:
        assert not re.search(r"\d[\d.,]* ?[kMGT]o\b", text), text


@pytest.mark.anyio
@pytest.mark.parametrize("language", ["fr", "en"])
async def test_the_other_languages_words_are_seen_where_they_are(
    agent_home: Path, language: str
) -> None:
    """The check above can fail: a screen in one language, looked at with the other
    language's check, shows foreign words (an empty catalogue or a broken fragment split
    would otherwise let every screen pass)."""
    other = "en" if language == "fr" else "fr"
    text = await rendered(agent_home, "intake", language)
    assert words_on(text, foreign_fragments(other)), text


def test_sizes_numbers_and_plurals_follow_the_language() -> None:
    assert format_size(82_347_195_904, "fr") == "82,3\u00a0Go"
    assert format_size(82_347_195_904, "en") == "82.3\u00a0GB"
    assert format_size(493_000_000, "fr") == "493\u00a0Mo"
    assert format_size(512, "fr") == "512\u00a0o" and format_size(512, "en") == "512\u00a0B"
    assert format_decimal(1234.5, 1, "en") == "1,234.5"
    assert format_decimal(1234.5, 1, "fr").replace("\u202f", " ") == "1 234,5"
    set_language("fr")
    try:
        assert ngettext("{count} reallocated sector", "{count} reallocated sectors", 1) == (
            "1 secteur réalloué"
        )
        # French counts 0 as singular, English does not.
        assert ngettext("{count} reallocated sector", "{count} reallocated sectors", 0) == (
            "0 secteur réalloué"
        )
        assert ngettext("{count} reallocated sector", "{count} reallocated sectors", 2) == (
            "2 secteurs réalloués"
        )
        set_language("en")
        assert ngettext("{count} reallocated sector", "{count} reallocated sectors", 0) == (
            "0 reallocated sectors"
        )
    finally:
        set_language("en")


@pytest.mark.anyio
@pytest.mark.parametrize("language", ["fr", "en"])
async def test_the_guided_tests_and_the_help_call_speak_one_language(
    agent_home: Path, language: str
) -> None:
    from bench_agent.tui.guided_tests import KeyboardTestScreen, MouseTestScreen
    from bench_agent.tui.help_call import HelpCallScreen

    foreign = foreign_fragments(language)
    app = make_app(agent_home, "guided", language, "bench-contrast-dark")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for modal in (KeyboardTestScreen([], ""), MouseTestScreen([], ""), HelpCallScreen()):
            await app.push_screen(modal)
            await pilot.pause()
            text = screen_text(app)
            other = words_on(text, foreign)
            assert not other, f"{type(modal).__name__} in {language}: {other}\n{text}"
            app.pop_screen()
            await pilot.pause()
