"""Storing what stations send: records (idempotent by ``record_id``), certificates, assets.

``ingest_record`` is the one write path for a bench record: the API calls it after checking the
token, the size and the schema. It verifies the signature against the station's enrolled key,
stores the canonical body, extracts the searchable columns, links (or creates) the asset, stores
each signed certificate, and chains the row in the audit log — all in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bench_agent.errors import BenchError
from bench_agent.i18n import _
from bench_agent.ledger import audit
from bench_agent.ledger.db import Store
from bench_agent.ledger.models import Asset, Certificate, Record, Station, utcnow
from bench_agent.models.record import BenchRecord
from bench_agent.signing import canonical_json, public_key_from_text, verify_document

# DMI placeholders that identify nothing: never match two machines on them.
JUNK_IDENTIFIERS = {
    "",
    "0",
    "none",
    "n/a",
    "na",
    "default string",
    "to be filled by o.e.m.",
    "to be filled by oem",
    "not specified",
    "not available",
    "system serial number",
    "0123456789",
    "123456789",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",
}


def meaningful(value: str) -> str:
    value = (value or "").strip()
    return "" if value.lower() in JUNK_IDENTIFIERS else value


@dataclass
class IngestResult:
    id: int
    record_id: str
    created: bool


class RecordRejected(Exception):
    """The record cannot be stored; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def body_digest(document: dict[str, Any]) -> tuple[str, str]:
    body = canonical_json(document).decode("utf-8")
    return body, hashlib.sha256(body.encode("utf-8")).hexdigest()


def find_asset(session: Session, asset_tag: str, uuid: str, serial: str) -> Asset | None:
    """The machine these identifiers name: asset tag first, then DMI UUID, then serial."""
    for column, value in ((Asset.asset_tag, asset_tag), (Asset.uuid, uuid), (Asset.serial, serial)):
        value = meaningful(value)
        if value:
            asset = session.scalar(select(Asset).where(column == value).order_by(Asset.id).limit(1))
            if asset is not None:
                return asset
    return None


def find_assets(
    session: Session, *, serial: str = "", uuid: str = "", asset_tag: str = ""
) -> list[Asset]:
    conditions = []
    if serial:
        conditions.append(Asset.serial == serial)
    if uuid:
        conditions.append(Asset.uuid == uuid)
    if asset_tag:
        conditions.append(Asset.asset_tag == asset_tag)
    if not conditions:
        return []
    return list(session.scalars(select(Asset).where(or_(*conditions)).order_by(Asset.id)))


def _link_asset(session: Session, record: BenchRecord) -> Asset:
    system = record.inventory.system
    tag = meaningful(record.asset_tag)
    uuid = meaningful(system.uuid)
    serial = meaningful(system.serial)
    asset = find_asset(session, tag, uuid, serial)
    now = utcnow()
    if asset is None:
        asset = Asset(
            asset_tag=tag,
            uuid=uuid,
            serial=serial,
            vendor=system.vendor,
            product=system.product,
            lot=record.lot,
            first_seen_at=now,
            last_seen_at=now,
        )
        session.add(asset)
    else:
        # Fill identifiers learnt later (a tag stuck on at the bench, a serial now readable).
        asset.asset_tag = asset.asset_tag or tag
        asset.uuid = asset.uuid or uuid
        asset.serial = asset.serial or serial
        asset.lot = asset.lot or record.lot
        asset.last_seen_at = now
    session.flush()
    return asset


def certificate_id_of(document: dict[str, Any]) -> str:
    for key in ("certificate_id", "id"):
        value = document.get(key)
        if isinstance(value, str) and value:
            return value[:100]
    return hashlib.sha256(canonical_json(document)).hexdigest()[:32]


def _check_signature(station: Station, document: dict[str, Any]) -> str:
    """Return the key id; raise RecordRejected unless signed by the station's enrolled key.

    Policy: a missing or broken signature is a defect of the document (422 naming
    ``signature``); a valid signature by another key than the one the station enrolled is a
    question of identity (403).
    """
    block = document.get("signature")
    if not isinstance(block, dict):
        raise RecordRejected(422, _("The record is not signed by the station key."), "signature")
    if not station.public_key:
        raise RecordRejected(
            403,
            _(
                "Station '{station}' has not published its public key: enrol it first.",
                station=station.name,
            ),
        )
    if str(block.get("public_key", "")) != station.public_key:
        raise RecordRejected(
            403,
            _(
                "The record is signed with another key than station '{station}' enrolled.",
                station=station.name,
            ),
        )
    try:
        verify_document(document, public_key_from_text(station.public_key))
    except BenchError as exc:
        raise RecordRejected(422, exc.message, "signature") from exc
    return station.key_id or ""


def _existing(session: Session, record_id: str) -> Record | None:
    return session.scalar(select(Record).where(Record.record_id == record_id))


def _same_or_conflict(existing: Record, digest: str) -> IngestResult:
    if existing.body_sha256 != digest:
        raise RecordRejected(
            409,
            _(
                "Record {record_id} is already stored with a different content.",
                record_id=existing.record_id,
            ),
            "record_id",
        )
    return IngestResult(existing.id, existing.record_id, False)


def ingest_record(
    store: Store, station_id: int, actor: str, document: dict[str, Any], record: BenchRecord
) -> IngestResult:
    body, digest = body_digest(document)
    # Fast path for a retry: no write lock needed to answer "already stored".
    with store.session() as session:
        existing = _existing(session, record.record_id)
        if existing is not None:
            return _same_or_conflict(existing, digest)
    try:
        with store.write() as session:
            existing = _existing(session, record.record_id)
            if existing is not None:
                return _same_or_conflict(existing, digest)
            station = session.get(Station, station_id)
            if station is None:
                raise RecordRejected(401, _("The station was removed."))
            key_id = _check_signature(station, document)
            asset = _link_asset(session, record)
            system = record.inventory.system
            row = Record(
                record_id=record.record_id,
                station_id=station.id,
                station=station.name,
                asset_id=asset.id,
                asset_tag=record.asset_tag,
                serial=system.serial,
                uuid=system.uuid,
                lot=record.lot,
                operator=record.operator,
                outcome=record.verdict.outcome if record.verdict else "",
                training=record.training,
                finished_at=record.finished_at,
                created_at=utcnow(),
                body_sha256=digest,
                key_id=key_id,
                body=body,
            )
            session.add(row)
            station.last_seen_at = row.created_at
            session.flush()
            _store_certificates(session, row, asset, record, key_id)
            audit.append(session, row, actor)
            return IngestResult(row.id, row.record_id, True)
    except IntegrityError:
        # Another request stored the same record_id in the meantime: answer as for a retry.
        with store.session() as session:
            existing = _existing(session, record.record_id)
            if existing is None:
                raise
            return _same_or_conflict(existing, digest)


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def _store_certificates(
    session: Session, row: Record, asset: Asset, record: BenchRecord, key_id: str
) -> None:
    wipes_by_id = {w.certificate_id: w for w in record.wipes if w.certificate_id}
    for document in record.certificates:
        cert_id = certificate_id_of(document)
        if session.scalar(select(Certificate.id).where(Certificate.certificate_id == cert_id)):
            continue  # the same certificate sent again inside a later record
        wipe = wipes_by_id.get(cert_id)
        signature = document.get("signature")
        cert_key = signature.get("key_id", "") if isinstance(signature, dict) else ""
        media = _section(document, "media")
        process = _section(document, "sanitization")
        serial = str(media.get("serial") or document.get("serial") or "")
        session.add(
            Certificate(
                certificate_id=cert_id,
                record_id=row.id,
                asset_id=asset.id,
                disk_serial=(wipe.serial if wipe else serial)[:200],
                method=str(wipe.method if wipe else process.get("method", ""))[:64],
                status=str(wipe.status if wipe else process.get("status", ""))[:64],
                key_id=str(cert_key or key_id)[:32],
                issued_at=row.created_at,
                body=json.dumps(
                    document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
                ),
            )
        )
