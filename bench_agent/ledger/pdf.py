"""PDF helpers shared by the report and the labels: a Unicode font when the system has one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF

# Debian's fonts-dejavu-core (installed by scripts/setup); French needs œ, …, « » and ’.
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FAMILY = "DejaVu"


def new_pdf(**kwargs: Any) -> FPDF:
    """An FPDF document with DejaVu Sans registered (Helvetica + Latin-1 fallback otherwise)."""
    pdf = FPDF(**kwargs)
    pdf.set_auto_page_break(False)
    regular = _DEJAVU / "DejaVuSans.ttf"
    bold = _DEJAVU / "DejaVuSans-Bold.ttf"
    if regular.exists() and bold.exists():
        pdf.add_font(FAMILY, "", str(regular))
        pdf.add_font(FAMILY, "B", str(bold))
        pdf.set_font(FAMILY, size=10)
    else:
        pdf.set_font("helvetica", size=10)
    return pdf


def use_font(pdf: FPDF, style: str = "", size: float = 10) -> None:
    family = FAMILY if FAMILY.lower() in pdf.fonts else "helvetica"
    pdf.set_font(family, style=style, size=size)


def text(pdf: FPDF, value: str) -> str:
    """``value`` made printable with the current font (core fonts only know Latin-1)."""
    if pdf.font_family.lower() == FAMILY.lower():
        return value
    replaced = value.replace("…", "...").replace("’", "'").replace("œ", "oe").replace("Œ", "OE")
    return replaced.encode("latin-1", "replace").decode("latin-1")
