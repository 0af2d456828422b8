"""Storing what stations send: records (idempotent by ``record_id``), certificates, assets.

``ingest_record`` is the one write path for a bench record: the API calls it after checking the
token, the size and the schema. It verifies the signature against the station's enrolled key,
stores the canonical body, extracts the searchable columns, links (or creates) the asset, stores
each signed certificate, and chains the row in the audit log — all in one transaction.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bench_agent.errors import BenchError
from bench_agent.i18n import _
from bench_agent.ledger import audit, revocation
from bench_agent.ledger.certificate_rows import store_certificates
from bench_agent.ledger.db import Store
from bench_agent.ledger.inputs import CERTIFICATE_ID_PATTERN, check_id
from bench_agent.ledger.models import (
    HEARTBEAT_COLUMNS,
    Asset,
    Heartbeat,
    Record,
    Station,
    StationKey,
    utcnow,
)
from bench_agent.ledger.record_checks import RecordRejected, verify_station_certificate
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


# Statements built once: constructing SQLAlchemy expressions costs more than running them.
_SELECT_EXISTING = select(Record.id, Record.record_id, Record.body_sha256).where(
    Record.record_id == bindparam("rid")
)
_SELECT_STATION = select(Station.id, Station.name, Station.public_key, Station.key_id).where(
    Station.id == bindparam("sid")
)
# The keys a station may sign new documents with: retired keys sign nothing arriving now.
_SELECT_KEYS = select(StationKey.key_id, StationKey.public_key).where(
    StationKey.station_id == bindparam("sid"), StationKey.retired_at.is_(None)
)
_INSERT_RECORD = insert(Record).returning(Record.id)
_INSERT_ASSET = insert(Asset).returning(Asset.id)
_UPDATE_ASSET = (
    update(Asset)
    .where(Asset.id == bindparam("aid"))
    .values(
        asset_tag=bindparam("tag"),
        uuid=bindparam("u"),
        serial=bindparam("s"),
        lot=bindparam("l"),
        last_seen_at=bindparam("now"),
    )
)
_TOUCH_STATION = (
    update(Station).where(Station.id == bindparam("sid")).values(last_seen_at=bindparam("now"))
)
_ASSET_COLUMNS = (
    Asset.id,
    Asset.site_id,
    Asset.asset_tag,
    Asset.uuid,
    Asset.serial,
    Asset.lot,
    Asset.vendor,
    Asset.product,
)


@dataclass
class IngestResult:
    id: int
    record_id: str
    created: bool


def body_digest(document: dict[str, Any]) -> tuple[str, str]:
    body = canonical_json(document).decode("utf-8")
    return body, hashlib.sha256(body.encode("utf-8")).hexdigest()


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


def _link_asset(
    conn: Connection,
    record: BenchRecord,
    now: datetime,
    chain: list[tuple[str, int, str]],
    site_id: int,
) -> int:
    """The id of the machine this record is about, created on first sight (one query) in the
    station's site; a new machine, or identifiers learnt later, are chained in the audit log.
    A machine or lot of another site is refused (403 "site-mismatch": this record only)."""
    if record.lot and conn.execute(_SELECT_LOT_SITE, {"c": record.lot[:64], "s": site_id}).first():
        raise _other_site(_("Lot {lot} belongs to another site.", lot=record.lot))
    system = record.inventory.system
    tag = meaningful(record.asset_tag)
    uuid = meaningful(system.uuid)
    serial = meaningful(system.serial)
    conditions = [
        column == value
        for column, value in ((Asset.asset_tag, tag), (Asset.uuid, uuid), (Asset.serial, serial))
        if value
    ]
    best = None
    if conditions:
        rows = conn.execute(
            select(*_ASSET_COLUMNS).where(or_(*conditions)).order_by(Asset.id)
        ).all()
        # Asset tag first, then DMI UUID, then serial.
        for attribute, value in (("asset_tag", tag), ("uuid", uuid), ("serial", serial)):
            best = next((r for r in rows if value and getattr(r, attribute) == value), None)
            if best is not None:
                break
    if best is not None and best.site_id != site_id:
        raise _other_site(_("This machine belongs to another site's ledger."))
    if best is None:
        values = {
            "site_id": site_id,
            "asset_tag": tag,
            "uuid": uuid,
            "serial": serial,
            "vendor": system.vendor[:200],
            "product": system.product[:200],
            "lot": record.lot[:64],
        }
        asset_id = int(
            conn.execute(
                _INSERT_ASSET, {**values, "first_seen_at": now, "last_seen_at": now}
            ).scalar_one()
        )
        chain.append((Asset.__tablename__, asset_id, _asset_digest(asset_id, values)))
        return asset_id
    # Fill identifiers learnt later (a tag stuck on at the bench, a serial now readable).
    before = {
        "asset_tag": best.asset_tag,
        "uuid": best.uuid,
        "serial": best.serial,
        "lot": best.lot,
        "vendor": best.vendor,
        "product": best.product,
    }
    after = {
        **before,
        "asset_tag": best.asset_tag or tag,
        "uuid": best.uuid or uuid,
        "serial": best.serial or serial,
        "lot": best.lot or record.lot[:64],
    }
    conn.execute(
        _UPDATE_ASSET,
        {
            "aid": best.id,
            "tag": after["asset_tag"],
            "u": after["uuid"],
            "s": after["serial"],
            "l": after["lot"],
            "now": now,
        },
    )
    if after != before:
        chain.append((Asset.__tablename__, int(best.id), _asset_digest(int(best.id), after)))
    return int(best.id)


_SELECT_LOT_SITE = text("SELECT 1 FROM lots WHERE code = :c AND site_id <> :s")
_SELECT_SITE = text("SELECT site_id FROM stations WHERE id = :sid")


def _other_site(message: str) -> RecordRejected:
    return RecordRejected(403, message, "asset_tag", reason="site-mismatch")


def _asset_digest(asset_id: int, values: dict[str, Any]) -> str:
    return audit.table_digest(Asset.__tablename__, {"id": asset_id, **values})


def _check_signature(station: Any, document: dict[str, Any]) -> str:
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
            reason="no-key",
        )
    if str(block.get("public_key", "")) != station.public_key:
        raise RecordRejected(
            403,
            _(
                "The record is signed with another key than station '{station}' enrolled.",
                station=station.name,
            ),
            reason="key-mismatch",
        )
    try:
        verify_document(document, public_key_from_text(station.public_key))
    except BenchError as exc:
        raise RecordRejected(422, exc.message, "signature") from exc
    return station.key_id or ""


def _existing(conn: Connection, record_id: str) -> Any:
    return conn.execute(_SELECT_EXISTING, {"rid": record_id}).first()


def _same_or_conflict(existing: Any, digest: str) -> IngestResult:
    if existing.body_sha256 != digest:
        raise RecordRejected(
            409,
            _(
                "Record {record_id} is already stored with a different content.",
                record_id=existing.record_id,
            ),
            "record_id",
        )
    return IngestResult(int(existing.id), str(existing.record_id), False)


class _StationKeys:
    """station id → (id, name, public_key, key_id) for a few seconds."""

    ttl_s = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[float, Any]] = {}

    def get(self, station_id: int) -> Any:
        with self._lock:
            entry = self._entries.get(station_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, station_id: int, info: Any) -> None:
        with self._lock:
            self._entries[station_id] = (time.monotonic() + self.ttl_s, info)

    def drop(self, station_id: int) -> None:
        with self._lock:
            self._entries.pop(station_id, None)


station_keys = _StationKeys()

_UPDATE_HEARTBEAT = (
    update(Heartbeat)
    .where(Heartbeat.station_id == bindparam("sid"))
    .values({name: bindparam(f"v_{name}") for name in HEARTBEAT_COLUMNS})
)
_INSERT_HEARTBEAT = insert(Heartbeat)


def write_heartbeat(conn: Connection, station_id: int, values: dict[str, Any]) -> None:
    """Replace the station's latest state (in the caller's transaction)."""
    params = {f"v_{name}": values[name] for name in HEARTBEAT_COLUMNS}
    if conn.execute(_UPDATE_HEARTBEAT, {"sid": station_id, **params}).rowcount == 0:
        conn.execute(_INSERT_HEARTBEAT, {"station_id": station_id, **values})
    conn.execute(_TOUCH_STATION, {"sid": station_id, "now": values["received_at"]})


@dataclass
class PreparedRecord:
    """A record checked outside the write lock, ready for ``write_record``."""

    record: BenchRecord
    values: dict[str, Any]
    actor: str


@dataclass(frozen=True)
class StationKeyInfo:
    """What checking a station's documents needs: its current key and every key it published."""

    id: int
    name: str
    public_key: str | None
    key_id: str | None
    keys: dict[str, str]  # key id → public key text, current and retired


def station_key_info(store: Store, station_id: int) -> StationKeyInfo | None:
    with store.engine.connect() as conn:
        row = conn.execute(_SELECT_STATION, {"sid": station_id}).first()
        if row is None:
            return None
        keys = {
            str(k.key_id): str(k.public_key)
            for k in conn.execute(_SELECT_KEYS, {"sid": station_id})
        }
    if row.public_key and row.key_id:
        keys[str(row.key_id)] = str(row.public_key)
    return StationKeyInfo(int(row.id), str(row.name), row.public_key, row.key_id, keys)


def prepare_record(
    station: Any, actor: str, document: dict[str, Any], record: BenchRecord
) -> PreparedRecord:
    """Digest, signature and searchable columns (CPU work, no database)."""
    body, digest = body_digest(document)
    key_id = _check_signature(station, document)
    try:
        if record.finished_at is not None and record.finished_at.tzinfo is not None:
            record.finished_at.astimezone(UTC)
    except OverflowError as exc:
        raise RecordRejected(
            422, _("is out of the range of dates the ledger stores"), "finished_at"
        ) from exc
    _check_certificates(station, record)
    system = record.inventory.system
    values: dict[str, Any] = {
        "record_id": record.record_id,
        "station_id": station.id,
        "station": station.name,
        "asset_tag": record.asset_tag[:100],
        "serial": system.serial[:200],
        "uuid": system.uuid[:64],
        "lot": record.lot[:64],
        "operator": record.operator[:100],
        "outcome": record.verdict.outcome if record.verdict else "",
        "training": record.training,
        "finished_at": record.finished_at,
        "body_sha256": digest,
        "key_id": key_id,
        "body": body,
    }
    return PreparedRecord(record, values, actor)


def _check_certificates(station: Any, record: BenchRecord) -> None:
    """Every certificate of the record: a safe id, signed by the station's key (else 422)."""
    for index, document in enumerate(record.certificates):
        for key in ("certificate_id", "id"):
            value = document.get(key)
            if value is not None:
                try:
                    check_id(
                        value if isinstance(value, str) else "", pattern=CERTIFICATE_ID_PATTERN
                    )
                except ValueError as exc:
                    raise RecordRejected(422, str(exc), ("certificates", index, key)) from exc
                break
        verify_station_certificate(station, index, document)
    revocation.check_revoked(station, record)  # those a failed validation revoked


def write_record(conn: Connection, prepared: PreparedRecord) -> IngestResult:
    """Store a prepared record in the caller's transaction (idempotent by record_id)."""
    values = dict(prepared.values)
    existing = _existing(conn, values["record_id"])
    if existing is not None:
        return _same_or_conflict(existing, values["body_sha256"])
    now = utcnow()
    values["created_at"] = now
    chain: list[tuple[str, int, str]] = []  # the audit entries, appended in one go
    site_id = int(conn.execute(_SELECT_SITE, {"sid": values["station_id"]}).scalar_one())
    values["asset_id"] = _link_asset(conn, prepared.record, now, chain, site_id)
    row_id = int(conn.execute(_INSERT_RECORD, values).scalar_one())
    values["id"] = row_id
    chain.append((Record.__tablename__, row_id, audit.values_digest(values)))
    for store in (store_certificates, revocation.store_revoked):
        store(conn, row_id, values["asset_id"], prepared.record, values["key_id"], now, chain)
    audit.append_many(conn, chain, prepared.actor)
    conn.execute(_TOUCH_STATION, {"sid": values["station_id"], "now": now})
    return IngestResult(row_id, values["record_id"], True)


def ingest_record(
    store: Store, station_id: int, actor: str, document: dict[str, Any], record: BenchRecord
) -> IngestResult:
    """The whole path in the calling thread (CLI imports, tests); the API queues instead."""
    station = station_key_info(store, station_id)
    if station is None:
        raise RecordRejected(401, _("The station was removed."))
    prepared = prepare_record(station, actor, document, record)
    try:
        with store.write_connection() as conn:
            return write_record(conn, prepared)
    except IntegrityError:
        # Another request stored the same record_id in the meantime: answer as for a retry.
        with store.engine.connect() as conn:
            existing = _existing(conn, record.record_id)
        if existing is None:
            raise
        return _same_or_conflict(existing, prepared.values["body_sha256"])
