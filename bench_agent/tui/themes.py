"""High-contrast themes (dark and light, text contrast ≥ 7:1) and the terminal's own palette."""

from __future__ import annotations

from textual.theme import Theme

# Every colour that carries text against the background is chosen for a WCAG ratio ≥ 7:1;
# tests/test_tui_themes.py computes it from these values.
CONTRAST_DARK = Theme(
    name="bench-contrast-dark",
    primary="#FFD700",
    secondary="#00FFFF",
    accent="#FFD700",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1A1A1A",
    success="#7CFC00",
    warning="#FFD700",
    error="#FF8C8C",
    dark=True,
    text_alpha=1.0,
    variables={"footer-key-foreground": "#FFD700", "input-cursor-background": "#FFFFFF"},
)

CONTRAST_LIGHT = Theme(
    name="bench-contrast-light",
    primary="#00008B",
    secondary="#00008B",
    accent="#00008B",
    foreground="#000000",
    background="#FFFFFF",
    surface="#FFFFFF",
    panel="#E8E8E8",
    success="#005000",
    warning="#5C3A00",
    error="#8B0000",
    dark=False,
    text_alpha=1.0,
    variables={"footer-key-foreground": "#00008B", "input-cursor-background": "#000000"},
)

BENCH_THEMES = (CONTRAST_DARK, CONTRAST_LIGHT)
# "ansi": the terminal's own palette (Textual's native-ANSI themes).
ALIASES = {
    "ansi": "ansi-dark",
    "terminal": "ansi-dark",
    "dark": "bench-contrast-dark",
    "light": "bench-contrast-light",
}


def theme_name(requested: str) -> str:
    return ALIASES.get(requested, requested)


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(hex_colour: str) -> float:
    text = hex_colour.lstrip("#")
    r, g, b = (int(text[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
