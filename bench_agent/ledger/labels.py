"""Printable labels for packed machines: QR code of the public verification URL + spec summary.

Sizes: Brother DK 62 × 100 mm, 4 × 6 in shipping labels, and A4 sheets of 8 (99.1 × 67.7 mm,
the common "L7165" layout). The QR code is drawn as vector squares so it stays sharp on any
printer resolution.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from bench_agent.errors import InputError
from bench_agent.ledger.lang import _
from bench_agent.models.record import BenchRecord

MAINTENANCE_YEARS = 3

T = TypeVar("T")


@dataclass(frozen=True)
class LabelSize:
    name: str
    page_w: float  # mm
    page_h: float
    label_w: float
    label_h: float
    columns: int = 1
    rows: int = 1
    margin_x: float = 0.0
    margin_y: float = 0.0
    gap_x: float = 0.0
    gap_y: float = 0.0


SIZES: dict[str, LabelSize] = {
    "62x100": LabelSize("62x100", 62, 100, 62, 100),
    "4x6": LabelSize("4x6", 101.6, 152.4, 101.6, 152.4),
    "a4": LabelSize(
        "a4", 210, 297, 99.1, 67.7, columns=2, rows=4, margin_x=4.65, margin_y=13.1, gap_x=2.5
    ),
}


@dataclass(frozen=True)
class LabelInfo:
    asset_tag: str
    verify_url: str
    cpu: str = ""
    ram: str = ""
    disk: str = ""
    image: str = ""
    packed_on: date | None = None
    maintenance_end: date | None = None
    lot: str = ""


def maintenance_end(packed_on: date, years: int = MAINTENANCE_YEARS) -> date:
    """The day maintenance ends: same day ``years`` later (28 Feb when packed on 29 Feb)."""
    year = packed_on.year + years
    day = min(packed_on.day, calendar.monthrange(year, packed_on.month)[1])
    return date(year, packed_on.month, day)


def _size_text(size_bytes: int, *, binary: bool) -> str:
    base = 1024 if binary else 1000
    gib = size_bytes / base**3
    if gib >= 1:
        return f"{gib:.0f} GB" if gib >= 10 or gib == int(gib) else f"{gib:.1f} GB"
    return f"{size_bytes / base**2:.0f} MB"


def short_cpu_name(model: str) -> str:
    """``Intel(R) Pentium(R) 4 CPU 3.00GHz`` → ``Pentium 4 3.00GHz``: fits on a label line."""
    name = model
    for noise in ("(R)", "(r)", "(TM)", "(tm)", " CPU", " Processor", "Intel ", "AMD "):
        name = name.replace(noise, " " if noise.startswith(" ") else "")
    name = name.replace("@", " ")
    return " ".join(name.split())


def label_info(
    record: BenchRecord,
    *,
    verify_url: str,
    packed_on: date | datetime | None = None,
    asset_tag: str = "",
) -> LabelInfo:
    """What the label of a packed machine says, taken from its (latest) bench record."""
    inventory = record.inventory
    cpu = short_cpu_name(inventory.cpu.model)
    if inventory.cpu.mhz and "hz" not in cpu.lower():
        cpu = f"{cpu} {inventory.cpu.mhz / 1000:.1f} GHz".strip()
    ram = (
        _size_text(inventory.memory.total_bytes, binary=True)
        if inventory.memory.total_bytes
        else ""
    )
    disks = [d for d in inventory.disks if d.kind != "loop" and d.health != "fail"]
    disk = " + ".join(_size_text(d.size_bytes, binary=False) for d in disks if d.size_bytes)
    image = ""
    if record.image is not None and record.image.status == "success":
        image = f"{record.image.image} {record.image.version}".strip()
    day: date | None
    if isinstance(packed_on, datetime):
        day = packed_on.date()
    else:
        day = packed_on or (record.finished_at.date() if record.finished_at else None)
    return LabelInfo(
        asset_tag=asset_tag or record.asset_tag,
        verify_url=verify_url,
        cpu=cpu,
        ram=ram,
        disk=disk,
        image=image,
        packed_on=day,
        maintenance_end=maintenance_end(day) if day else None,
        lot=record.lot,
    )


def render_labels(infos: Sequence[LabelInfo], size: str = "62x100") -> bytes:
    """One PDF: one page per label on label printers, 8 labels per page on A4 sheets."""
    spec = label_size(size)
    if not infos:
        raise InputError(_("No label to print."), _("Pack a machine first."))
    return render_sheet(infos, spec, _draw_label)


def label_size(size: str) -> LabelSize:
    """The label size named ``size``; an InputError naming the known ones otherwise."""
    if size not in SIZES:
        raise InputError(
            _("Unknown label size '{size}'.", size=size),
            _("Use one of: {sizes}.", sizes=", ".join(SIZES)),
        )
    return SIZES[size]


def render_sheet(
    items: Sequence[T], spec: LabelSize, draw: Callable[[Any, T, float, float, float, float], None]
) -> bytes:
    """Lay ``items`` out on ``spec``'s pages, calling ``draw(pdf, item, x, y, w, h)`` per label."""
    from bench_agent.ledger.pdf import new_pdf

    pdf = new_pdf(orientation="P", unit="mm", format=(spec.page_w, spec.page_h))
    pdf.set_margins(0, 0, 0)
    pdf.set_title(_("Labels"))
    per_page = spec.columns * spec.rows
    for index, item in enumerate(items):
        slot = index % per_page
        if slot == 0:
            pdf.add_page()
        column, row = slot % spec.columns, slot // spec.columns
        x = spec.margin_x + column * (spec.label_w + spec.gap_x)
        y = spec.margin_y + row * (spec.label_h + spec.gap_y)
        draw(pdf, item, x, y, spec.label_w, spec.label_h)
    return bytes(pdf.output())


def fit(pdf: Any, value: str, room: float) -> str:
    """``value`` cut, not wrapped, to ``room`` mm in the current font: a label has no room for
    a second line."""
    from bench_agent.ledger.pdf import text

    shown = text(pdf, value)
    while shown and pdf.get_string_width(shown) > room:
        shown = shown[:-1]
    return shown


def render_label(info: LabelInfo, size: str = "62x100") -> bytes:
    return render_labels([info], size)


def draw_qr(pdf: Any, data: str, x: float, y: float, side: float) -> None:
    import segno

    code = segno.make(data, error="m", micro=False)
    rows: Iterable[Iterable[int]] = code.matrix_iter(scale=1, border=4)
    matrix = [list(row) for row in rows]
    module = side / len(matrix)
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                # One rectangle per run of dark modules, slightly overlapping to avoid seams.
                pdf.rect(
                    x + start * module,
                    y + r * module,
                    (c - start) * module + 0.01,
                    module + 0.01,
                    style="F",
                )
            else:
                c += 1


def _lines(info: LabelInfo) -> list[tuple[str, str]]:
    lines = []
    if info.cpu:
        lines.append((_("CPU"), info.cpu))
    if info.ram:
        lines.append((_("RAM"), info.ram))
    if info.disk:
        lines.append((_("Disk"), info.disk))
    if info.image:
        lines.append((_("System"), info.image))
    if info.packed_on:
        lines.append((_("Packed"), info.packed_on.isoformat()))
    if info.maintenance_end:
        lines.append((_("Maintenance until"), info.maintenance_end.isoformat()))
    return lines


def _draw_label(pdf: Any, info: LabelInfo, x: float, y: float, w: float, h: float) -> None:
    from bench_agent.ledger.pdf import text, use_font

    pad = 3.0
    portrait = h > w * 1.2
    if portrait:
        qr = min(w - 2 * pad, h * 0.48)
        draw_qr(pdf, info.verify_url, x + (w - qr) / 2, y + pad, qr)
        tx, ty, tw = x + pad, y + pad + qr + 1, w - 2 * pad
    else:
        qr = min(h - 2 * pad, w * 0.45)
        draw_qr(pdf, info.verify_url, x + pad, y + (h - qr) / 2, qr)
        tx, ty, tw = x + pad + qr + 2, y + pad, w - qr - 2 * pad - 2
    scale = min(w / 62, 1.6) if portrait else min(h / 67.7, 1.6)
    use_font(pdf, "B", 14 * scale)
    pdf.set_xy(tx, ty)
    pdf.cell(tw, 7 * scale, text(pdf, info.asset_tag))
    ty += 7.5 * scale
    for name, value in _lines(info):
        use_font(pdf, "", 6.5 * scale)
        pdf.set_xy(tx, ty)
        caption = text(pdf, _("{label}:", label=name) + " " if portrait else name)
        pdf.cell(tw, 3.2 * scale, caption)
        if portrait:
            # One line per fact: "RAM: 1 GB", value in bold after the caption.
            vx = tx + pdf.get_string_width(caption)
        else:
            ty += 3.0 * scale
            vx = tx
        use_font(pdf, "B", 8 * scale)
        room = tw - (vx - tx)
        pdf.set_xy(vx, ty - (0.5 * scale if portrait else 0))
        pdf.cell(room, 4 * scale, fit(pdf, value, room))
        ty += 4.3 * scale
    use_font(pdf, "", 5.5 * scale)
    pdf.set_xy(tx, ty + 0.5)
    pdf.multi_cell(tw, 2.6 * scale, text(pdf, info.verify_url), max_line_height=2.6 * scale)
