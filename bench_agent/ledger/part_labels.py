"""Printable labels for the parts bin: the part's code as a QR code (a scanner types it at the
bench) and in large type, what the part is, its bin and the machine it came from. Same sizes
and drawing as the machines' labels (``labels.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench_agent.errors import InputError
from bench_agent.ledger.labels import SIZES, _draw_qr
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
    from bench_agent.ledger.pdf import new_pdf

    if size not in SIZES:
        raise InputError(
            _("Unknown label size '{size}'.", size=size),
            _("Use one of: {sizes}.", sizes=", ".join(SIZES)),
        )
    spec = SIZES[size]
    pdf = new_pdf(orientation="P", unit="mm", format=(spec.page_w, spec.page_h))
    pdf.set_margins(0, 0, 0)
    pdf.set_title(_("Labels"))
    per_page = spec.columns * spec.rows
    for index, part in enumerate(parts):
        slot = index % per_page
        if slot == 0:
            pdf.add_page()
        column, row = slot % spec.columns, slot // spec.columns
        x = spec.margin_x + column * (spec.label_w + spec.gap_x)
        y = spec.margin_y + row * (spec.label_h + spec.gap_y)
        _draw(pdf, part, x, y, spec.label_w, spec.label_h)
    return bytes(pdf.output())


def _draw(pdf: Any, part: StockedPart, x: float, y: float, w: float, h: float) -> None:
    from bench_agent.ledger.pdf import text, use_font

    pad = 3.0
    portrait = h > w * 1.2
    if portrait:
        qr = min(w - 2 * pad, h * 0.42)
        _draw_qr(pdf, part.code, x + (w - qr) / 2, y + pad, qr)
        tx, ty, tw = x + pad, y + pad + qr + 1, w - 2 * pad
    else:
        qr = min(h - 2 * pad, w * 0.4)
        _draw_qr(pdf, part.code, x + pad, y + (h - qr) / 2, qr)
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
        shown = text(pdf, value)
        while shown and pdf.get_string_width(shown) > room:
            shown = shown[:-1]  # cut, not wrapped: a label has no room for a second line
        pdf.cell(room, 4 * scale, shown)
        ty += 4.3 * scale
