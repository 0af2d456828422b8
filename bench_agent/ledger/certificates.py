"""Certificates as PDF for donors: the sanitize engineer's renderer when present, else ours.

The PDF is a readable copy; the proof is the signed JSON (verify it at
``POST /api/v1/certificates/verify`` or offline with the station's public key).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench_agent.i18n import _

_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def render_pdf(document: dict[str, Any]) -> bytes:
    from bench_agent.sanitize.certificate import render_pdf as sanitize_render_pdf

    try:
        return sanitize_render_pdf(document)
    except Exception:  # a certificate of another (older) shape: fall back to ours
        return _render_plain(document)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key in sorted(value):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    elif isinstance(value, list):
        if not value:
            out.append((prefix, "—"))
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    else:
        out.append((prefix, "" if value is None else str(value)))


def _render_plain(document: dict[str, Any]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    if _FONT.exists():
        pdf.add_font("DejaVu", "", str(_FONT))
        family = "DejaVu"

        def clean(text: str) -> str:
            return text
    else:  # core fonts only know Latin-1
        family = "Helvetica"

        def clean(text: str) -> str:
            return text.encode("latin-1", "replace").decode("latin-1")

    pdf.set_font(family, size=16)
    pdf.multi_cell(
        0,
        9,
        clean(_("Media sanitization certificate (NIST SP 800-88)")),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font(family, size=9)
    body = {k: v for k, v in document.items() if k != "signature"}
    rows: list[tuple[str, str]] = []
    _flatten("", body, rows)
    for key, value in rows:
        pdf.multi_cell(0, 5, clean(f"{key}: {value}"), new_x="LMARGIN", new_y="NEXT")
    signature = document.get("signature")
    pdf.ln(4)
    pdf.set_font(family, size=8)
    if isinstance(signature, dict):
        pdf.multi_cell(
            0,
            4,
            clean(
                _(
                    "Signed ({algorithm}) by key {key_id}. Verify the JSON document with the station's published key.",
                    algorithm=str(signature.get("algorithm", "")),
                    key_id=str(signature.get("key_id", "")),
                )
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.multi_cell(
            0, 4, clean(json.dumps(signature, sort_keys=True)), new_x="LMARGIN", new_y="NEXT"
        )
    return bytes(pdf.output())
