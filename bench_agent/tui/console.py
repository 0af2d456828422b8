"""The live image's text console: font size and colour palette per operator (issue 11).

Only on the live bench's own console (the session exports ``BENCH_LIVE_CONSOLE=1`` and runs the
app on a Linux virtual terminal with TERM=linux): it loads the operator's console font
(``setfont``: 8x16 or 16x32-pixel cells; the kernel then resizes the terminal and Textual lays
the screen out again) and sets the 16 console colours the theme was measured with
(``ESC ] P n RRGGBB``). Anywhere else it does nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench_agent.tui.themes import CONSOLE_PALETTES

FONT_DIR = Path("/usr/share/consolefonts")
FONTS = {"normal": "bench-8x16.psf", "large": "bench-16x32.psf"}


def live_console() -> bool:
    return os.environ.get("BENCH_LIVE_CONSOLE") == "1" and os.environ.get("TERM") == "linux"


def palette_sequence(theme: str) -> str:
    """The escape sequences that give the console the theme's 16 colours ("" if none)."""
    palette = CONSOLE_PALETTES.get(theme)
    if palette is None:
        return "\x1b]R"  # the console's default palette
    return "".join(f"\x1b]P{index:X}{colour.lstrip('#')}" for index, colour in enumerate(palette))


def apply(text_size: str, theme: str) -> str:
    """Font and palette for this operator on the live console; returns what went wrong ("")."""
    if not live_console():
        return ""
    problem = ""
    font = FONT_DIR / FONTS.get(text_size, FONTS["normal"])
    setfont = shutil.which("setfont")
    if setfont and font.is_file():
        try:
            done = subprocess.run(
                [setfont, str(font)], stdin=sys.__stdin__, capture_output=True, timeout=10
            )
            if done.returncode != 0:
                problem = done.stderr.decode(errors="replace").strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = str(exc)
    else:
        problem = f"setfont or {font} missing"
    out = sys.__stdout__
    if out is not None:
        try:
            out.write(palette_sequence(theme))
            out.flush()
        except OSError as exc:
            problem = problem or str(exc)
    if problem:
        _log(f"console: {problem}")
    return problem


def _log(line: str) -> None:
    """Into the kernel log (the live image copies it to the serial port): never on screen."""
    try:
        with open("/dev/kmsg", "w", encoding="utf-8") as kmsg:
            kmsg.write(f"<3>bench-live: {line}\n")
    except OSError:
        pass
