"""Every character the bench app can draw is in the live console's font (issue 11).

On the live image's stock console font ✔ ⚠ ○ ◌ ▣ ⚒ ✉ ◎ and Textual's block characters all drew
as the same ■. The live image now loads scripts/live/rootfs/usr/share/consolefonts/bench-*.psf
(made by scripts/live/console-font.py from Debian's unifont). This test reads the fonts' PSF2
Unicode tables and checks them STATICALLY against every character the app can put on screen:
the string literals of bench_agent (the ledger's web pages excepted: a browser draws those),
the French catalogues, and the characters Textual draws borders, scrollbars, progress bars,
digits and the header with.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import struct
import unicodedata
from pathlib import Path
from types import ModuleType

import pytest
import textual

ROOT = Path(__file__).resolve().parents[1]
FONTS = ROOT / "scripts" / "live" / "rootfs" / "usr" / "share" / "consolefonts"
UNIFONT_HEX = Path("/usr/share/unifont/unifont.hex")
# Textual modules whose string literals are drawn by the widgets the app uses.
TEXTUAL_DRAWING = (
    "_border.py",
    "scrollbar.py",
    "renderables/bar.py",
    "renderables/digits.py",
    "widgets/_header.py",
    "widgets/_input.py",
    "widgets/_loading_indicator.py",
    "app.py",
)


def psf2_table(path: Path) -> tuple[int, int, int, set[str]]:
    """(glyph count, width, height, characters) of a PSF2 font with a Unicode table."""
    data = path.read_bytes()
    magic, version, header, flags, count, size, height, width = struct.unpack_from("<8I", data)
    assert magic == 0x864AB572 and version == 0, f"{path} is not a PSF2 font"
    assert flags & 1, f"{path} has no Unicode table"
    table = data[header + count * size :]
    chars: set[str] = set()
    entries = table.split(b"\xff")[:count]
    assert len(entries) == count, f"{path}: Unicode table has {len(entries)} of {count} entries"
    for entry in entries:
        # An entry is the glyph's characters in UTF-8, then (0xFE) its combining sequences.
        chars |= set(entry.split(b"\xfe")[0].decode("utf-8"))
    return count, width, height, chars


def _literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            found |= set(node.value)
    return found


def _catalogue_text(value: object) -> set[str]:
    if isinstance(value, str):
        return set(value)
    if isinstance(value, dict):
        return set().union(*(_catalogue_text(k) | _catalogue_text(v) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(_catalogue_text(v) for v in value))
    return set()


def drawable(chars: set[str]) -> set[str]:
    """Characters that take a cell (control characters and combining marks do not)."""
    return {c for c in chars if not unicodedata.category(c).startswith(("C", "M"))}


def app_characters() -> dict[str, set[str]]:
    sources: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bench_agent").rglob("*.py")):
        if "ledger" not in path.relative_to(ROOT / "bench_agent").parts:
            sources[str(path.relative_to(ROOT))] = drawable(_literals(path))
    for path in sorted((ROOT / "bench_agent" / "locale").rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        sources[str(path.relative_to(ROOT))] = drawable(_catalogue_text(data))
    textual_root = Path(textual.__file__).parent
    for name in TEXTUAL_DRAWING:
        sources[f"textual/{name}"] = drawable(_literals(textual_root / name))
    return sources


def _font_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "console_font", ROOT / "scripts" / "live" / "console-font.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "width", "height"), [("bench-8x16", 8, 16), ("bench-16x32", 16, 32)]
)
def test_every_character_the_app_draws_is_in_the_console_font(
    name: str, width: int, height: int
) -> None:
    count, font_w, font_h, table = psf2_table(FONTS / f"{name}.psf")
    assert (font_w, font_h) == (width, height)
    assert count <= 512  # the Linux console's limit
    missing = {
        where: "".join(sorted(chars - table))
        for where, chars in app_characters().items()
        if chars - table
    }
    assert missing == {}, f"characters the console font lacks: {missing}"


def test_the_check_sees_the_state_symbols_and_textual_blocks() -> None:
    """The collection finds what the issue saw drawn as ■ (so the check above can fail)."""
    everything = set().union(*app_characters().values())
    assert set("✔⚠○◌▣⚒✉◎") <= everything
    assert set("▁▂▃▄▅▆▇▊▎▔━╸╺") <= everything
    _, _, _, table = psf2_table(FONTS / "bench-8x16.psf")
    assert "🔎" not in table  # a character outside the font is reported, not assumed


def test_shipped_fonts_are_what_the_script_builds_from_unifont() -> None:
    if not UNIFONT_HEX.is_file():
        pytest.fail(f"{UNIFONT_HEX} is missing: run scripts/setup (Debian package unifont)")
    built = _font_script().build(UNIFONT_HEX)
    for name, data in built.items():
        assert (FONTS / name).read_bytes() == data, f"{name}: run scripts/live/console-font.py"


def test_wide_symbols_stay_distinct_at_8x16() -> None:
    """Narrowing unifont's 16-pixel symbols must not turn two states into the same picture."""
    count, _, height, _ = psf2_table(FONTS / "bench-8x16.psf")
    data = (FONTS / "bench-8x16.psf").read_bytes()
    header = struct.unpack_from("<8I", data)[2]
    script = _font_script()
    points = script.glyph_order(script.wanted_codepoints())
    glyph = {
        chr(p): data[header + i * height : header + (i + 1) * height] for i, p in enumerate(points)
    }
    symbols = "✔⚠○◌▣⚒✉◎✘■–?—"
    pictures = [glyph[s] for s in symbols]
    assert len(set(pictures)) == len(symbols)
    assert all(any(row for row in picture) for picture in pictures)
    assert count == 512 and len(points) <= count
    assert glyph[" "] == bytes(height) and points[32] == ord(" ")  # setfont checks position 32
