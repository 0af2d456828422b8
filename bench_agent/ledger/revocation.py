"""Certificates revoked by a failed validation (issue 15): stored, and marked failed.

When a drawn validation fails, the bench does not hand out the wipe's certificate: it keeps it
in the wipe report (``extra.revoked_certificate``) beside the signed validation result that
revokes it (``extra.validation.document``), and the wipe's status is "failed" (the machine goes
back to "to wipe"). On arrival the ledger checks both — the certificate signed by a key of the
station, the result signed by a key of the station, failed, and tied to this very certificate
(its id and SHA-256) — else the record is refused (422 naming the field). The certificate is
then stored with the status :data:`FAILED_VALIDATION` (a certificate already stored as valid
is changed to it, and the change is chained): ``/verify``, ``POST /certificates/verify`` and the
certificate pages say it failed validation, and the lot's zip leaves it out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from bench_agent.errors import BenchError
from bench_agent.i18n import _
from bench_agent.ledger import audit
from bench_agent.ledger.models import Certificate
from bench_agent.ledger.record_checks import (
    RecordRejected,
    certificate_id_of,
    verify_station_certificate,
)
from bench_agent.models.record import BenchRecord

FAILED_VALIDATION = "failed_validation"


@dataclass(frozen=True)
class Revoked:
    index: int  # of the wipe in ``record.wipes``
    certificate: Any
    validation: Any


def revoked_in(record: BenchRecord) -> list[Revoked]:
    found = []
    for index, wipe in enumerate(record.wipes):
        if "revoked_certificate" in wipe.extra:
            validation = wipe.extra.get("validation")
            document = validation.get("document") if isinstance(validation, dict) else None
            found.append(Revoked(index, wipe.extra["revoked_certificate"], document))
    return found


def check_revoked(station: Any, record: BenchRecord) -> None:
    """Each revoked certificate and the failed validation revoking it are genuine (else 422)."""
    from bench_agent.sanitize.validation import certificate_digest
    from bench_agent.signing import public_key_from_text, verify_document

    for item in revoked_in(record):
        where = ("wipes", item.index, "extra")
        if not isinstance(item.certificate, dict):
            raise RecordRejected(
                422, _("is not a certificate document"), (*where, "revoked_certificate")
            )
        verify_station_certificate(
            station, 0, item.certificate, loc=(*where, "revoked_certificate")
        )
        cert_id = certificate_id_of(item.certificate)
        result = item.validation if isinstance(item.validation, dict) else {}
        block = result.get("signature")
        kid = block.get("key_id") if isinstance(block, dict) else None
        public_key = station.keys.get(kid) if isinstance(kid, str) else None
        problem = ""
        if public_key is None:
            problem = _(
                "Certificate {id} is marked revoked without a validation result signed by "
                "station '{station}'.",
                id=cert_id,
                station=station.name,
            )
        else:
            try:
                verify_document(result, public_key_from_text(public_key))
            except BenchError as exc:
                problem = _(
                    "The validation of certificate {id}: {reason}", id=cert_id, reason=exc.message
                )
        if not problem and (
            result.get("certificate_status") != "failed"
            or result.get("certificate_id") != cert_id
            or result.get("certificate_sha256") != certificate_digest(item.certificate)
        ):
            problem = _(
                "The validation result does not revoke certificate {id} (another certificate, "
                "or it passed).",
                id=cert_id,
            )
        if problem:
            raise RecordRejected(422, problem, (*where, "validation", "document"))


def store_revoked(
    conn: Connection,
    record_row: int,
    asset_id: int,
    record: BenchRecord,
    key_id: str,
    now: datetime,
    chain: list[tuple[str, int, str]],
) -> None:
    """Store each revoked certificate as a failed row (or mark the stored one failed)."""

    table = Certificate.__tablename__
    for item in revoked_in(record):
        document: dict[str, Any] = item.certificate
        wipe = record.wipes[item.index]
        cert_id = certificate_id_of(document)
        existing = conn.execute(
            select(Certificate).where(Certificate.certificate_id == cert_id)
        ).first()
        if existing is not None:
            if existing.status == FAILED_VALIDATION:
                continue
            values = {**existing._mapping, "status": FAILED_VALIDATION}
            conn.execute(
                update(Certificate)
                .where(Certificate.id == existing.id)
                .values(status=FAILED_VALIDATION)
            )
            chain.append((table, int(existing.id), audit.table_digest(table, dict(values))))
            continue
        signature = document.get("signature")
        values = {
            "certificate_id": cert_id,
            "record_id": record_row,
            "asset_id": asset_id,
            "disk_serial": wipe.serial[:200],
            "method": str(wipe.method)[:64],
            "status": FAILED_VALIDATION,
            "key_id": str(signature.get("key_id", "") if isinstance(signature, dict) else key_id)[
                :32
            ],
            "issued_at": now,
            "body": json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        }
        row_id = int(
            conn.execute(insert(Certificate).values(values).returning(Certificate.id)).scalar_one()
        )
        chain.append((table, row_id, audit.table_digest(table, {"id": row_id, **values})))


def revoked_message() -> str:
    return _("Validation failed: the certificate is revoked; wipe the disk again.")


def failure_detail(conn: Any, certificate_id: str) -> str | None:
    """Why a stored certificate failed validation ("" when it says nothing), or None when it
    did not fail. ``conn`` is a connection or a session."""
    status = conn.execute(
        select(Certificate.status, Certificate.record_id).where(
            Certificate.certificate_id == certificate_id
        )
    ).first()
    if status is None or status.status != FAILED_VALIDATION:
        return None
    from bench_agent.ledger.models import Record

    body = conn.execute(select(Record.body).where(Record.id == status.record_id)).scalar()
    try:
        record = BenchRecord.model_validate_json(body or "")
    except ValueError:
        return ""
    for item in revoked_in(record):
        if isinstance(item.validation, dict) and item.validation.get("certificate_id") == (
            certificate_id
        ):
            check = item.validation.get("check")
            return str(check.get("detail", "")) if isinstance(check, dict) else ""
    return ""
