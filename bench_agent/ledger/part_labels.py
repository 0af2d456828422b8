"""Printable labels for the parts bin: the part's code as a QR code (a scanner types it at the
bench) and in large type, what the part is, its bin and the machine it came from. Same sizes
and drawing as the machines' labels (``labels.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench_agent.ledger.labels import draw_qr, fit, label_size, render_sheet
from bench_agent.ledger.lang import _
from bench_agent.models.part import StockedPart


def part_lines(part: StockedPart) -> list[tuple[str, str]]:
    from bench_agent.ledger.environment import PART_CATEGORIES, category_label

    lines = [(_("Part"), category_label(PART_CATEGORIES.get(part.kind, part.kind)))]
    lines.append((_("Description"), part.description))
    if part.form_factor:
        lines.append((_("Form factor"), part.form_factor))
    if part.serial:
        lines.append((_("Serial"), part.serial))
    if part.certificate_id:
        lines.append((_("Certificate"), part.certificate_id))
    if part.watts:
        lines.append((_("Rated power"), f"{part.watts} W"))
    lines.append((_("Parts bin"), part.bin or "-"))
    if part.from_asset_tag:
        lines.append((_("Taken from"), part.from_asset_tag))
    return lines


def render_part_labels(parts: Sequence[StockedPart], size: str = "62x100") -> bytes:
    """One PDF: one page per label on label printers, 8 labels per page on A4 sheets."""
    return render_sheet(parts, label_size(size), _draw)


def _draw(pdf: Any, part: StockedPart, x: float, y: float, w: float, h: float) -> None:
    from bench_agent.ledger.pdf import text, use_font

    pad = 3.0
    portrait = h > w * 1.2
    if portrait:
        qr = min(w - 2 * pad, h * 0.42)
        draw_qr(pdf, part.code, x + (w - qr) / 2, y + pad, qr)
        tx, ty, tw = x + pad, y + pad + qr + 1, w - 2 * pad
    else:
        qr = min(h - 2 * pad, w * 0.4)
        draw_qr(pdf, part.code, x + pad, y + (h - qr) / 2, qr)
        tx, ty, tw = x + pad + qr + 2, y + pad, w - qr - 2 * pad - 2
    scale = min(w / 62, 1.6) if portrait else min(h / 67.7, 1.6)
    use_font(pdf, "B", 16 * scale)
    pdf.set_xy(tx, ty)
    pdf.cell(tw, 8 * scale, text(pdf, part.code))
    ty += 8.5 * scale
    for name, value in part_lines(part):
        use_font(pdf, "", 6.5 * scale)
        pdf.set_xy(tx, ty)
        caption = text(pdf, _("{label}:", label=name) + " ")
        pdf.cell(tw, 3.6 * scale, caption)
        vx = tx + pdf.get_string_width(caption)
        use_font(pdf, "B", 8 * scale)
        room = tw - (vx - tx)
        pdf.set_xy(vx, ty - 0.3 * scale)
        pdf.cell(room, 4 * scale, fit(pdf, value, room))
        ty += 4.3 * scale
