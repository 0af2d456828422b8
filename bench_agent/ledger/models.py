"""The ledger's tables (SQLAlchemy 2 declarative models), the same on SQLite and PostgreSQL.

Tables (all times are UTC; ``*_by`` columns say who wrote the row: ``station:NAME``,
``user:NAME`` or ``cli:USER@HOST``):

- ``sites``            the programme's workshops (``code``, ``name``); stations, users
                       (supervisors), lots, assets and parts carry a ``site_id``
                       (``ledger/sites.py`` scopes every query to the caller's site).
- ``stations``         one bench: ``name`` (unique), ``token_hash`` (SHA-256 of the token shown
                       once), current ``public_key``/``key_id`` (Ed25519, base64 raw), ``location``,
                       ``last_seen_at``, ``disabled``.
- ``station_keys``     every public key a station ever published (certificates signed with an
                       older key stay verifiable): ``station_id``, ``key_id``, ``public_key``,
                       ``published_at``, ``retired_at``.
- ``users``            supervisors and admins: ``name``, ``role`` (supervisor|admin),
                       ``password_hash`` (argon2id), ``disabled``, ``failed_logins``
                       (consecutive wrong passwords) and ``locked_at`` (locked after too many).
- ``login_failures``   consecutive wrong passwords per account and per client address (the
                       login throttle's counts, shared by the server processes).
- ``user_sessions``    login sessions (cookie ``bench_session`` or bearer token):
                       ``token_hash``, ``user_id``, ``expires_at``.
- ``heartbeats``       the LATEST state of each station (one row per station, replaced at each
                       heartbeat): ``received_at``, a column per field of the heartbeat model
                       the boards show, ``body`` (JSON): :data:`HEARTBEAT_COLUMNS`.
- ``lots``             donor lots: ``code`` (unique), ``donor``, ``received_on``, ``note``,
                       ``updated_at``/``updated_by`` (last change).
- ``assets``           one physical machine, identified by ``asset_tag``, DMI ``uuid`` or
                       ``serial`` (looked up in that order); ``lot``, ``first_seen_at``,
                       ``last_seen_at``.
- ``records``          every bench record as received: ``record_id`` (unique, the agent's UUID),
                       ``body`` (canonical JSON text of the signed document, exactly as
                       verified; ``Record.document`` parses it) and extracted columns
                       ``station``, ``asset_id``, ``asset_tag``, ``serial``, ``uuid``, ``lot``,
                       ``outcome`` (verdict outcome or ""), ``training``, ``operator``,
                       ``finished_at``, ``created_at`` (received), ``body_sha256``, ``key_id``.
- ``certificates``     each signed wipe certificate found in a record: ``certificate_id``,
                       ``record_id``, ``asset_id``, ``disk_serial``, ``method``, ``status``,
                       ``key_id``, ``issued_at``, ``body`` (canonical JSON).
- ``lifecycle_events`` received → tested → wiped → imaged → packed → given → returned →
                       recycled: ``asset_id``, ``kind``, ``at``, ``category`` (beneficiary
                       category for given/returned), ``beneficiary_ref`` (pseudonymous, never a
                       name or address), ``note``, ``created_by``.
- ``parts``            the parts bin: one kept part (memory module, wiped disk, optical drive,
                       sound card, power supply), its ``code`` (label), ``state``, ``bin``, the
                       machine it came from and the one it was fitted into (``ledger/parts.py``).
- ``part_events``      each part's steps: harvested, stocked, fitted, scrapped (chained).
- ``audit_chain``      hash chain over every row that matters (see ``audit.CHAINED``): ``seq``,
                       ``table_name``, ``row_id``, ``row_sha256`` (of the row's canonical JSON),
                       ``prev_hash``, ``hash`` = SHA-256(prev_hash + table + row id + row_sha256).
                       ``audit_head`` holds the last hash (locked while appending).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bench_agent.models.heartbeat import HEARTBEAT_FIELDS


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite returns naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        # SQLite stores text: keep it naive UTC so ordering by the column is chronological.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Site(Base):
    """One workshop of the programme (``ledger/sites.py``); site 1 is the default site."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class Station(Base):
    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[str | None] = mapped_column(String(200), default=None)
    key_id: Mapped[str | None] = mapped_column(String(32), default=None)
    location: Mapped[str] = mapped_column(String(200), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True, server_default="1")

    keys: Mapped[list[StationKey]] = relationship(back_populates="station")
    heartbeat: Mapped[Heartbeat | None] = relationship(back_populates="station")


class StationKey(Base):
    __tablename__ = "station_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    public_key: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    station: Mapped[Station] = relationship(back_populates="keys")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # supervisor | admin
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    # Consecutive wrong passwords; at LOCKOUT_FAILURES the account is locked until unlocked.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The site a supervisor belongs to; None for a programme administrator (every site).
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True, default=None)


class LoginFailure(Base):
    """Consecutive wrong passwords per account ("user:NAME") or client address ("addr:IP"),
    shared by every server process (``throttle.LoginThrottle``); wall-clock seconds."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[float] = mapped_column(Float)


class UserSession(Base):
    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Heartbeat(Base):
    __tablename__ = "heartbeats"

    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(64), default="")
    step: Mapped[str] = mapped_column(String(200), default="")
    progress: Mapped[float | None] = mapped_column(Float, default=None)
    rate: Mapped[float | None] = mapped_column(Float, default=None)
    eta_s: Mapped[float | None] = mapped_column(Float, default=None)
    operator: Mapped[str] = mapped_column(String(100), default="")
    asset_tag: Mapped[str] = mapped_column(String(100), default="")
    queued: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[str] = mapped_column(Text, default="{}")

    station: Mapped[Station] = relationship(back_populates="heartbeat")


# The heartbeat's stored columns, read from the table above (the one list): ``received_at``
# (the ledger's clock), the fields of the heartbeat model (``models.heartbeat``) the boards show,
# each in its own column of the same name, and ``body``, the whole heartbeat as sent (with the
# fields that have no column). A new column here is a new migration; a new field of the model
# is kept in ``body`` until it gets one (tests/test_heartbeat_columns.py checks they agree).
HEARTBEAT_COLUMNS = tuple(c.name for c in Heartbeat.__table__.columns if not c.primary_key)
HEARTBEAT_FIELD_COLUMNS = tuple(name for name in HEARTBEAT_COLUMNS if name in HEARTBEAT_FIELDS)


class Lot(Base):
    __tablename__ = "lots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    donor: Mapped[str] = mapped_column(String(200), default="")
    received_on: Mapped[date | None] = mapped_column(Date, default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    updated_by: Mapped[str] = mapped_column(String(100), default="", server_default="")
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True, server_default="1")


class Asset(Base):
    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_tag: Mapped[str] = mapped_column(String(100), default="", index=True)
    serial: Mapped[str] = mapped_column(String(200), default="", index=True)
    uuid: Mapped[str] = mapped_column(String(64), default="", index=True)
    vendor: Mapped[str] = mapped_column(String(200), default="")
    product: Mapped[str] = mapped_column(String(200), default="")
    lot: Mapped[str] = mapped_column(String(64), default="", index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True, server_default="1")

    records: Mapped[list[Record]] = relationship(
        back_populates="asset", order_by="Record.created_at"
    )
    events: Mapped[list[LifecycleEvent]] = relationship(
        back_populates="asset", order_by="LifecycleEvent.at"
    )


class Record(Base):
    __tablename__ = "records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str] = mapped_column(String(64), unique=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    station: Mapped[str] = mapped_column(String(64), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    asset_tag: Mapped[str] = mapped_column(String(100), default="", index=True)
    serial: Mapped[str] = mapped_column(String(200), default="", index=True)
    uuid: Mapped[str] = mapped_column(String(64), default="", index=True)
    lot: Mapped[str] = mapped_column(String(64), default="", index=True)
    operator: Mapped[str] = mapped_column(String(100), default="")
    outcome: Mapped[str] = mapped_column(String(32), default="", index=True)
    training: Mapped[bool] = mapped_column(Boolean, default=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32), default="")
    body: Mapped[str] = mapped_column(Text)

    asset: Mapped[Asset | None] = relationship(back_populates="records")
    certificates: Mapped[list[Certificate]] = relationship(back_populates="record")

    # A site's records by time (the site is the station's): reports and the board.
    __table_args__ = (Index("ix_records_station_id_created_at", "station_id", "created_at"),)

    @property
    def document(self) -> dict[str, Any]:
        """The signed record as the station sent it (validate with ``BenchRecord``)."""
        data: dict[str, Any] = json.loads(self.body)
        return data


class Certificate(Base):
    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[str] = mapped_column(String(100), unique=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    disk_serial: Mapped[str] = mapped_column(String(200), default="", index=True)
    method: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(64), default="")
    key_id: Mapped[str] = mapped_column(String(32), default="")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    body: Mapped[str] = mapped_column(Text)

    record: Mapped[Record] = relationship(back_populates="certificates")

    @property
    def document(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class LifecycleEvent(Base):
    __tablename__ = "lifecycle_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    category: Mapped[str] = mapped_column(String(32), default="")
    beneficiary_ref: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")

    asset: Mapped[Asset] = relationship(back_populates="events")

    __table_args__ = (Index("ix_lifecycle_events_asset_id_at", "asset_id", "at"),)


class AuditEntry(Base):
    __tablename__ = "audit_chain"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int] = mapped_column(Integer)
    row_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100), default="")

    # Several entries per row: a row changed through the ledger is chained again.
    __table_args__ = (Index("ix_audit_chain_row", "table_name", "row_id"),)


class AuditHead(Base):
    """One row (id 1): the last hash of the chain; locked while a new entry is appended."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class Part(Base):
    """A part kept for the parts bin (see ``ledger/parts.py``): one row per physical part,
    its state (harvested, in_stock, fitted, scrapped), bin and the machine it came from /
    went into. ``identity`` is unique: the part's serial, or the donor machine and slot."""

    __tablename__ = "parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # printed on its label
    identity: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    serial: Mapped[str] = mapped_column(String(200), default="")
    slot: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    mem_type: Mapped[str] = mapped_column(String(32), default="")
    form_factor: Mapped[str] = mapped_column(String(32), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    speed_mts: Mapped[int | None] = mapped_column(Integer, default=None)
    watts: Mapped[int | None] = mapped_column(Integer, default=None)
    certificate_id: Mapped[str] = mapped_column(String(100), default="")
    bin: Mapped[str] = mapped_column(String(64), default="")
    lot: Mapped[str] = mapped_column(String(64), default="")
    from_asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    fitted_asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    # The machine it went into, by tag: known before that machine's first record arrives.
    fitted_asset_tag: Mapped[str] = mapped_column(String(100), default="", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True, server_default="1")


class PartEvent(Base):
    """harvested → stocked → fitted | scrapped, one row per step (chained)."""

    __tablename__ = "part_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), default=None)
    bin: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
