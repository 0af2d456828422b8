"""The public page behind a label's QR code (no login)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import (
    HTMLResponse,
)

from bench_agent.ledger.dashboard.pages import (
    format_day,
    render,
    request_language,
    store_of,
    to_local,
)
from bench_agent.ledger.lang import _, language

# ------------------------------------------------------------------------- public verification
public_router = APIRouter(include_in_schema=False)


@dataclass
class PublicCertificate:
    id: str
    method: str
    status: str
    issued: datetime | None
    valid: bool
    station: str = ""
    reason: str = ""


def _check_signature(session: Any, cert: Any) -> tuple[bool, str, str]:
    """(valid, station, reason) for a stored certificate: the key of the station that sent
    it, valid when the ledger received it (``certificate_rows.judge_certificate``)."""
    from bench_agent.ledger.certificate_rows import judge_certificate

    judged = judge_certificate(
        session, cert.document, station_id=cert.record.station_id, received_at=cert.issued_at
    )
    reasons = {
        "unsigned": _("not signed"),
        "unknown-key": _("signed by an unknown key"),
        "retired-key": _("signed by a key retired before this ledger received it"),
    }
    return judged.valid, judged.station, judged.message or reasons.get(judged.reason, "")


@public_router.get("/verify/{tag}", response_class=HTMLResponse)
def verify_page(request: Request, tag: str) -> HTMLResponse:
    """Public page behind a label's QR code: the machine and its signed wipe certificates.

    Shows no beneficiary, operator or donor detail: only what proves the disks were wiped.
    """
    from sqlalchemy import select

    from bench_agent.ledger.labels import maintenance_end
    from bench_agent.ledger.models import Asset, Certificate, LifecycleEvent

    lang = request_language(request)
    with language(lang), store_of(request).session() as session:
        asset = session.scalar(select(Asset).where(Asset.asset_tag == tag).order_by(Asset.id))
        if asset is None:
            raise HTTPException(404, detail=_("No machine {asset}.", asset=tag))
        packed_at = session.scalar(
            select(LifecycleEvent.at)
            .where(LifecycleEvent.asset_id == asset.id, LifecycleEvent.kind == "packed")
            .order_by(LifecycleEvent.at.desc())
        )
        certificates = []
        for cert in session.scalars(
            select(Certificate)
            .where(Certificate.asset_id == asset.id)
            .order_by(Certificate.issued_at)
        ):
            valid, station, reason = _check_signature(session, cert)
            certificates.append(
                PublicCertificate(
                    cert.certificate_id,
                    cert.method,
                    cert.status,
                    cert.issued_at,
                    valid,
                    station,
                    reason,
                )
            )
        model = f"{asset.vendor} {asset.product}".strip()
    packed = format_day(packed_at) if packed_at else ""
    local_packed = to_local(packed_at)
    return render(
        request,
        "verify.html",
        user=None,
        tag=tag,
        model=model,
        packed=packed,
        maintenance_end=maintenance_end(local_packed.date()).isoformat() if local_packed else "",
        certificates=certificates,
    )
