"""Certificate rows of the ledger: their id, how a record's certificates are stored, and how a
stored certificate is judged (by key id, against the ledger's own receive times)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from bench_agent.errors import BenchError
from bench_agent.ledger import audit, revocation
from bench_agent.ledger.models import Certificate, StationKey, utcnow
from bench_agent.ledger.record_checks import certificate_id_of
from bench_agent.models.record import BenchRecord


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def store_certificates(
    conn: Connection,
    row_id: int,
    asset_id: int,
    record: BenchRecord,
    key_id: str,
    now: datetime,
    chain: list[tuple[str, int, str]],
) -> None:
    """Store each signed certificate of a stored record (once: a resent one is skipped) and
    add its row to the audit entries of the record's transaction."""
    if not record.certificates:
        return
    wipes_by_id = {w.certificate_id: w for w in record.wipes if w.certificate_id}
    for document in record.certificates:
        cert_id = certificate_id_of(document)
        if conn.execute(
            select(Certificate.id).where(Certificate.certificate_id == cert_id)
        ).first():
            continue  # the same certificate sent again inside a later record
        wipe = wipes_by_id.get(cert_id)
        signature = document.get("signature")
        cert_key = signature.get("key_id", "") if isinstance(signature, dict) else ""
        media = _section(document, "media")
        process = _section(document, "sanitization")
        serial = str(media.get("serial") or document.get("serial") or "")
        values = {
            "certificate_id": cert_id,
            "record_id": row_id,
            "asset_id": asset_id,
            "disk_serial": (wipe.serial if wipe else serial)[:200],
            "method": str(wipe.method if wipe else process.get("method", ""))[:64],
            "status": str(wipe.status if wipe else process.get("status", ""))[:64],
            "key_id": str(cert_key or key_id)[:32],
            "issued_at": now,
            "body": json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        }
        cert_row = int(
            conn.execute(insert(Certificate).values(values).returning(Certificate.id)).scalar_one()
        )
        chain.append(
            (
                Certificate.__tablename__,
                cert_row,
                audit.table_digest(Certificate.__tablename__, {"id": cert_row, **values}),
            )
        )


@dataclass
class Judgement:
    """Whether a certificate's signature holds, judged by the ledger's own clock."""

    valid: bool
    station: str = ""
    key_id: str = ""
    # "" valid, else unsigned|unknown-key|retired-key|invalid|failed-validation (see message)
    reason: str = ""
    message: str = ""
    retired_at: datetime | None = None


def judge_certificate(
    session: Session,
    document: dict[str, Any],
    *,
    station_id: int | None = None,
    received_at: datetime | None = None,
) -> Judgement:
    """Check a certificate against the key it names, by key id and validity period.

    A key is valid from its publication until its retirement (a rotation, a revoked station),
    in the ledger's receive times: a certificate the ledger received while the key was valid
    stays valid; one it never received, or received after the retirement, does not. With
    ``station_id`` (a stored certificate), the key must be that station's.
    """
    from bench_agent.sanitize.certificate import verify_certificate

    block = document.get("signature")
    kid = block.get("key_id") if isinstance(block, dict) else None
    if not isinstance(kid, str) or not kid:
        return Judgement(False, reason="unsigned")
    query = select(StationKey).where(StationKey.key_id == kid).order_by(StationKey.id)
    if station_id is not None:
        query = query.where(StationKey.station_id == station_id)
    key = session.scalars(query).first()
    if key is None:
        return Judgement(False, key_id=kid, reason="unknown-key")
    station = key.station.name
    when = received_at or utcnow()
    if key.retired_at is not None and when > key.retired_at:
        return Judgement(False, station, kid, "retired-key", retired_at=key.retired_at)
    try:
        verify_certificate(document, key.public_key)
    except BenchError as exc:
        return Judgement(False, station, kid, "invalid", exc.message)
    failed = revocation.failure_detail(session, certificate_id_of(document))
    if failed is not None:
        message = revocation.revoked_message()
        return Judgement(False, station, kid, "failed-validation", f"{message} {failed}".strip())
    return Judgement(True, station, kid)
