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

# The Linux console's 16 colours for each theme (index 0-15, set by the live image at login:
# bench_agent/tui/console.py). With TERM=linux Textual maps every theme colour to one of these
# indices, and the console draws bold text with the index's bright/dark partner (n XOR 8) and
# shows bright backgrounds with the dark index: so each pair n / n+8 gets the SAME colour, dark
# or light, and every theme colour that carries text is ≥ 7:1 against the theme's background.
CONSOLE_PALETTES: dict[str, tuple[str, ...]] = {
    "bench-contrast-dark": (
        "#000000",  # 0 black: background, panel
        "#FF8C8C",  # 1 red: error
        "#7CFC00",  # 2 green: success
        "#FFD700",  # 3 yellow: primary, warning
        "#8CB4FF",  # 4 blue
        "#FF8CFF",  # 5 magenta
        "#00FFFF",  # 6 cyan: secondary, placeholders
        "#FFFFFF",  # 7 white: text
        "#000000",  # 8 = 0
        "#FF8C8C",  # 9 = 1
        "#7CFC00",  # 10 = 2
        "#FFD700",  # 11 = 3
        "#8CB4FF",  # 12 = 4
        "#FF8CFF",  # 13 = 5
        "#00FFFF",  # 14 = 6
        "#FFFFFF",  # 15 = 7
    ),
    "bench-contrast-light": (
        "#000000",  # 0 black: text
        "#8B0000",  # 1 red: error
        "#005000",  # 2 green: success
        "#5C3A00",  # 3 brown: warning
        "#00008B",  # 4 blue: primary
        "#5A005A",  # 5 magenta
        "#00008B",  # 6 cyan → dark blue: placeholders
        "#FFFFFF",  # 7 white: background, panel
        "#000000",
        "#8B0000",
        "#005000",
        "#5C3A00",
        "#00008B",
        "#5A005A",
        "#00008B",
        "#FFFFFF",
    ),
}
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
