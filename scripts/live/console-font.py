#!/usr/bin/env python3
"""Build the live bench's console fonts (PSF2 with a Unicode table) from GNU Unifont.

    scripts/live/console-font.py [/usr/share/unifont/unifont.hex] [OUTDIR]

Writes OUTDIR/bench-8x16.psf (normal text: 8x16-pixel cells) and OUTDIR/bench-16x32.psf
(large text: 16x32). The Linux console's stock fonts lack the bench's state symbols
(✔ ⚠ ○ ◌ ▣ ⚒ ✉ ◎...) and the block characters Textual draws borders and bars with, so all of
them showed as the same ■. The glyphs come from Debian's `unifont` package (unifont.hex: one
`CODE:HEX` line per glyph, 8x16 or 16x16 pixels). In the 8x16 font a 16-pixel-wide glyph is
narrowed by OR-ing pixel pairs; in the 16x32 font 8-pixel glyphs are doubled both ways and
16-pixel glyphs doubled in height. At most 512 glyphs (the console's limit).
tests/test_console_font.py checks that every character the app can draw is in the table and
that these files are what this script makes. Standard library only.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_HEX = Path("/usr/share/unifont/unifont.hex")
DEFAULT_OUT = HERE / "rootfs" / "usr" / "share" / "consolefonts"

RANGES = (
    (0x20, 0x7E),  # ASCII
    (0xA0, 0xFF),  # Latin-1: French letters, « », °, ×...
    (0x2500, 0x257F),  # box drawing: Textual's borders, tables, digits
    (0x2580, 0x259F),  # block elements: tall borders, scrollbars, progress bars
    (0x2190, 0x2195),  # arrows: key names
)
EXTRA = (
    "ŒœŸ€ƒ"  # French and money
    "‐‑–—‖‘’‚“”„•…‹›′″"  # punctuation
    "≤≥≠≈±∞√·"  # maths in messages
    "■□▢▣▤▪▫▬▲△▶▷►▼▽◀◁◄◆◇◈○◌◎●◐◑◒◓◯"  # geometric shapes: states and pointers
    "☐☑☒★☆♪⚒⚠⚡✉✓✔✕✖✗✘⟲⟳⭘"  # symbols: checks, tools, mail, sound, refresh
    "�"  # what a missing character still shows as
)
MAX_GLYPHS = 512
PSF2_MAGIC = 0x864AB572
PSF2_HAS_UNICODE_TABLE = 0x01


def wanted_codepoints() -> list[int]:
    points = {c for low, high in RANGES for c in range(low, high + 1)}
    points |= {ord(ch) for ch in EXTRA}
    return sorted(points)


def glyph_order(points: list[int]) -> list[int]:
    """Code points by glyph position: Latin-1 characters at their own position (setfont wants
    the space at position 32), the others in the free positions, in order."""
    slots: list[int | None] = [None] * len(points)
    own = [p for p in points if p < 256 and p < len(points)]
    for p in own:
        slots[p] = p
    rest = iter(p for p in points if p not in set(own))
    return [slot if slot is not None else next(rest) for slot in slots]


def read_hex(path: Path, points: set[int]) -> dict[int, bytes]:
    glyphs: dict[int, bytes] = {}
    with open(path, encoding="ascii") as handle:
        for line in handle:
            code, _, bits = line.strip().partition(":")
            point = int(code, 16)
            if point in points:
                glyphs[point] = bytes.fromhex(bits)
    return glyphs


def _rows(bitmap: bytes) -> tuple[list[int], int]:
    """Unifont glyph → 16 rows as integers and the glyph's width (8 or 16)."""
    if len(bitmap) == 16:
        return list(bitmap), 8
    return [int.from_bytes(bitmap[i : i + 2], "big") for i in range(0, 32, 2)], 16


def narrow(row: int) -> int:
    """16 pixels → 8: a pixel is on when either of its pair is."""
    out = 0
    for i in range(8):
        if row >> (14 - 2 * i) & 0b11:
            out |= 1 << (7 - i)
    return out


def widen(row: int) -> int:
    """8 pixels → 16: each pixel twice."""
    out = 0
    for i in range(8):
        if row >> (7 - i) & 1:
            out |= 0b11 << (14 - 2 * i)
    return out


def glyph_8x16(bitmap: bytes) -> bytes:
    rows, width = _rows(bitmap)
    return bytes(rows if width == 8 else [narrow(r) for r in rows])


def glyph_16x32(bitmap: bytes) -> bytes:
    rows, width = _rows(bitmap)
    out = bytearray()
    for row in rows:
        wide = widen(row) if width == 8 else row
        out += wide.to_bytes(2, "big") * 2
    return bytes(out)


def psf2(glyphs: list[bytes], points: list[int], width: int, height: int) -> bytes:
    """A PSF2 font of exactly MAX_GLYPHS glyphs: the kernel's framebuffer console refuses
    other counts for fonts wider than 8 pixels; the unused positions are blank, unmapped."""
    size = len(glyphs[0])
    blank = MAX_GLYPHS - len(glyphs)
    header = struct.pack(
        "<8I", PSF2_MAGIC, 0, 32, PSF2_HAS_UNICODE_TABLE, MAX_GLYPHS, size, height, width
    )
    table = b"".join(chr(p).encode("utf-8") + b"\xff" for p in points) + b"\xff" * blank
    return header + b"".join(glyphs) + bytes(size * blank) + table


def build(hex_path: Path = DEFAULT_HEX) -> dict[str, bytes]:
    points = wanted_codepoints()
    source = read_hex(hex_path, set(points))
    missing = [f"U+{p:04X}" for p in points if p not in source]
    if missing:
        raise SystemExit(f"console-font: not in {hex_path}: {' '.join(missing)}")
    if len(points) > MAX_GLYPHS:
        raise SystemExit(f"console-font: {len(points)} glyphs, the console takes {MAX_GLYPHS}")
    order = glyph_order(points)
    return {
        "bench-8x16.psf": psf2([glyph_8x16(source[p]) for p in order], order, 8, 16),
        "bench-16x32.psf": psf2([glyph_16x32(source[p]) for p in order], order, 16, 32),
    }


def main() -> int:
    hex_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_HEX
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_OUT
    if not hex_path.is_file():
        print(f"console-font: {hex_path} not found (apt-get install unifont)", file=sys.stderr)
        return 6
    out.mkdir(parents=True, exist_ok=True)
    for name, data in build(hex_path).items():
        (out / name).write_bytes(data)
        print(f"{out / name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
