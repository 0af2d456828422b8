#!/usr/bin/env python3
# Copied from the project's shared tools (shared/tools/cell_contrast.py, issue 11), unchanged
# but for `ruff format`; tests import it so that nothing reads ../shared/ at test time.
"""WCAG contrast of every text cell in a QEMU screendump of a framebuffer/VGA text console.

Usage: cell_contrast.py IMAGE.ppm|png [--cell WxH] [--min 7.0]
Each character cell (default 8x16 px) with more than one colour is one glyph/background pair: the
background is the cell's most common colour, the glyph the colour (covering >= 5 % of the cell)
farthest from it in luminance, so antialiased fonts are measured too; one-colour cells are blank. Prints the worst pairs and a last line
`min_contrast=… cells=… below=…`; exit 0 only if no text cell is below --min.
"""

import sys
from collections import Counter

from PIL import Image


def lum(rgb):
    def ch(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b)


def ratio(a, b):
    la, lb = sorted((lum(a), lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def main():
    args = sys.argv[1:]
    path = args[0]
    cw, chh = 8, 16
    need = 7.0
    if "--cell" in args:
        cw, chh = map(int, args[args.index("--cell") + 1].split("x"))
    if "--min" in args:
        need = float(args[args.index("--min") + 1])
    im = Image.open(path).convert("RGB")
    w, h = im.size
    px = im.load()
    pairs = Counter()
    for cy in range(0, h - chh + 1, chh):
        for cx in range(0, w - cw + 1, cw):
            cols = Counter(px[x, y] for y in range(cy, cy + chh) for x in range(cx, cx + cw))
            if len(cols) < 2:
                continue  # blank cell
            bg = cols.most_common(1)[0][0]
            # glyph colour: among colours covering >= 5 % of the cell, the one farthest from the
            # background (antialiased edges are ignored, the glyph's core colour is kept)
            floor = 0.05 * cw * chh
            cands = [c for c, k in cols.items() if c != bg and k >= floor]
            if not cands:
                continue
            fg = max(cands, key=lambda c: abs(lum(c) - lum(bg)))
            pairs[(fg, bg)] += 1
    worst = sorted(((ratio(f, b), f, b, n) for (f, b), n in pairs.items()))
    below = [(r, f, b, n) for r, f, b, n in worst if r < need]
    for r, f, b, n in worst[:8]:
        print(f"{r:5.2f}:1  fg={f} bg={b} cells={n}")
    total = sum(pairs.values())
    mn = worst[0][0] if worst else 0.0
    print(f"min_contrast={mn:.2f} cells={total} below={sum(n for *_, n in below)}")
    return 0 if not below else 1


if __name__ == "__main__":
    sys.exit(main())
