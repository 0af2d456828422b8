"""High-contrast themes: every text colour on the background reaches 7:1 (WCAG AAA)."""

from __future__ import annotations

import pytest

from bench_agent.tui.themes import BENCH_THEMES, contrast_ratio, theme_name


@pytest.mark.parametrize("theme", BENCH_THEMES, ids=lambda t: t.name)
def test_text_colours_reach_seven_to_one(theme) -> None:  # type: ignore[no-untyped-def]
    background = theme.background
    assert background is not None
    text_colours = {
        "foreground": theme.foreground,
        "success": theme.success,
        "warning": theme.warning,
        "error": theme.error,
        "accent": theme.accent,
        "primary": theme.primary,
    }
    for name, colour in text_colours.items():
        assert colour is not None, name
        ratio = contrast_ratio(colour, background)
        assert ratio >= 7.0, f"{theme.name}: {name} {colour} on {background} is {ratio:.2f}:1"
    # Focused buttons are drawn reversed: background colour on the foreground colour.
    assert contrast_ratio(theme.background, theme.foreground or "") >= 7.0
    # The panel (header, key line) carries foreground text too.
    assert contrast_ratio(theme.foreground or "", theme.panel or "") >= 7.0


def test_contrast_ratio_matches_known_values() -> None:
    assert contrast_ratio("#FFFFFF", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)


def test_theme_aliases() -> None:
    assert theme_name("ansi") == "ansi-dark"
    assert theme_name("bench-contrast-light") == "bench-contrast-light"


@pytest.mark.parametrize(
    "requested,used",
    [("ansi", "ansi-dark"), ("bench-contrast-light", "bench-contrast-light"),
     ("no-such-theme", "bench-contrast-dark")],
)  # fmt: skip
def test_operator_theme_is_applied_or_falls_back(requested: str, used: str, agent_home) -> None:  # type: ignore[no-untyped-def]
    from bench_agent.config import load_settings
    from bench_agent.tui.app import BenchApp
    from bench_agent.tui.operators import OperatorProfile

    app = BenchApp(
        load_settings(station="bench-1"),
        operator=OperatorProfile(name="x", theme=requested),
        poll_ledger=False,
    )
    assert app.theme == used
    if requested == "ansi":
        assert app.current_theme.ansi  # the terminal's own palette
