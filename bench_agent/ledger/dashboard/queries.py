"""What the dashboard shows, read from the ledger's store (no HTML here).

The station board is computed from the ``heartbeats`` table (one row per station) plus a small
in-process tracker that remembers when each station's progress last moved, so a station whose
progress bar has not moved for ``stuck_after_s`` is shown as stuck.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench_agent.ledger.db import Store
from bench_agent.ledger.models import (
    Asset,
    Certificate,
    Heartbeat,
    LifecycleEvent,
    Lot,
    Record,
    Station,
)
from bench_agent.ledger.reports import (
    LifecycleEvent as ReportEvent,
)
from bench_agent.ledger.reports import (
    ProgrammeReport,
    compute_report,
)
from bench_agent.models.record import BenchRecord

# Station states reported by the bench that mean "nothing running".
IDLE_STATES = frozenset({"", "idle", "ready", "login", "done", "finished", "waiting"})
STATUSES = ("working", "idle", "stuck", "offline", "never")


@dataclass
class BoardSettings:
    offline_after_s: float = 60.0
    stuck_after_s: float = 600.0
    poll_interval_s: float = 1.0
    public_url: str = ""  # base of the public verification URL printed on labels
    # An event stream ends after this long and the page reopens it at once: an open board then
    # never holds a server shutdown (uvicorn waits for open responses) longer than this.
    stream_max_s: float = 60.0


@dataclass
class StationView:
    name: str
    location: str = ""
    operator: str = ""
    asset_tag: str = ""
    state: str = ""
    step: str = ""
    progress: float | None = None
    rate: float | None = None
    eta_s: float | None = None
    queued: int = 0
    last_seen: datetime | None = None
    status: str = "never"
    age_s: float | None = None
    training: bool = False  # the bench runs in training mode: nothing it does is real
    help: str = "none"  # the technician's call for the supervisor: none | called | acknowledged

    def signature(self) -> tuple[Any, ...]:
        """What, when it changes, makes the board row change (the age is shown by the client)."""
        return (
            self.location,
            self.operator,
            self.asset_tag,
            self.state,
            self.step,
            None if self.progress is None else round(self.progress, 3),
            None if self.rate is None else round(self.rate, -4),
            None if self.eta_s is None else round(self.eta_s),
            self.queued,
            self.last_seen,
            self.status,
            self.help,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "location": self.location,
            "operator": self.operator,
            "asset_tag": self.asset_tag,
            "state": self.state,
            "step": self.step,
            "progress": self.progress,
            "rate": self.rate,
            "eta_s": self.eta_s,
            "queued": self.queued,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "status": self.status,
            "training": self.training,
            "help": self.help,
        }


class ProgressTracker:
    """Remembers, per station, the last (step, progress) and when it changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[tuple[str, float | None], float]] = {}

    def moved_ago(self, station: str, step: str, progress: float | None, now: float) -> float:
        key = (step, None if progress is None else round(progress, 4))
        with self._lock:
            previous = self._seen.get(station)
            if previous is None or previous[0] != key:
                self._seen[station] = (key, now)
                return 0.0
            return now - previous[1]


def _utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def board(
    store: Store,
    settings: BoardSettings,
    tracker: ProgressTracker,
    *,
    now: datetime | None = None,
) -> list[StationView]:
    """Every enabled station with its latest heartbeat and computed status, by name."""
    now = now or datetime.now(UTC)
    mono = time.monotonic()
    with store.session() as session:
        rows = session.execute(
            select(
                Station.name,
                Station.location,
                Station.last_seen_at,
                Heartbeat.received_at,
                Heartbeat.state,
                Heartbeat.step,
                Heartbeat.progress,
                Heartbeat.rate,
                Heartbeat.eta_s,
                Heartbeat.operator,
                Heartbeat.asset_tag,
                Heartbeat.queued,
                Heartbeat.body,
            )
            .outerjoin(Heartbeat, Heartbeat.station_id == Station.id)
            .where(Station.disabled.is_(False))
            .order_by(Station.name)
        ).all()
    views = []
    for row in rows:
        view = StationView(name=row.name, location=row.location or "")
        seen = _utc(row.received_at) or _utc(row.last_seen_at)
        if row.received_at is not None:
            view.state = row.state or ""
            view.step = row.step or ""
            view.progress = row.progress
            view.rate = row.rate
            view.eta_s = row.eta_s
            view.operator = row.operator or ""
            view.asset_tag = row.asset_tag or ""
            view.queued = row.queued or 0
            view.training = '"training":true' in (row.body or "").replace(" ", "")
        view.last_seen = seen
        if seen is None:
            view.status = "never"
        else:
            view.age_s = max((now - seen).total_seconds(), 0.0)
            still = tracker.moved_ago(view.name, view.step, view.progress, mono)
            if view.age_s > settings.offline_after_s:
                view.status = "offline"
            elif view.state.lower() in IDLE_STATES:
                view.status = "idle"
            elif still > settings.stuck_after_s:
                view.status = "stuck"
            else:
                view.status = "working"
        views.append(view)
    from bench_agent.ledger.help import desk_of

    calls = desk_of(store).states()
    for view in views:
        view.help = calls.get(view.name, "none")
    return views


def _start_of_day(now: datetime) -> datetime:
    local = now.astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


@dataclass
class Throughput:
    tested: int = 0
    kept: int = 0
    rejected: int = 0
    wiped: int = 0
    packed: int = 0


@dataclass
class BoardStats:
    today: Throughput = field(default_factory=Throughput)
    week: Throughput = field(default_factory=Throughput)
    reasons: dict[str, int] = field(default_factory=dict)
    methods: dict[str, int] = field(default_factory=dict)


def _throughput(report: ProgrammeReport) -> Throughput:
    """The board's figures are the programme report's counts (machines, not records)."""
    return Throughput(
        tested=report.tested,
        kept=report.tested - report.rejected,
        rejected=report.rejected,
        wiped=report.disks_wiped,
        packed=report.refurbished,
    )


class StatsCache:
    """The board's figures, recomputed only when a record or event arrives (or each minute)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._value: BoardStats | None = None
        self._at = 0.0

    def get(self, store: Store, now: datetime | None = None) -> BoardStats:
        now = now or datetime.now(UTC)
        with store.session() as session:
            key = (
                _start_of_day(now),
                session.scalar(select(func.max(Record.id))),
                session.scalar(select(func.max(LifecycleEvent.id))),
                session.scalar(select(func.max(Certificate.id))),
            )
        with self._lock:
            if self._value is not None and key == self._key and time.monotonic() - self._at < 60:
                return self._value
        value = board_stats(store, now)
        with self._lock:
            self._key, self._value, self._at = key, value, time.monotonic()
        return value


def board_stats(store: Store, now: datetime | None = None) -> BoardStats:
    """Today's and this week's figures, counted exactly as the programme report counts them
    (one definition of each count: ``reports.compute_report``)."""
    now = now or datetime.now(UTC)
    today = now.astimezone().date()
    monday = today - timedelta(days=today.weekday())
    records, events, asset_key = _report_inputs(store, monday, today, None)
    day = compute_report(records, events, start=today, end=today, asset_key=asset_key)
    week = compute_report(records, events, start=monday, end=today, asset_key=asset_key)
    return BoardStats(
        today=_throughput(day),
        week=_throughput(week),
        reasons=dict(week.rejected_by_reason),
        methods=dict(week.wiped_by_method),
    )


# --- lots -------------------------------------------------------------------------------------


@dataclass
class LotSummary:
    code: str
    donor: str = ""
    received_on: date | None = None
    received: int = 0
    kept: int = 0
    rejected: int = 0
    wiped: int = 0
    imaged: int = 0
    packed: int = 0
    delivered: int = 0


def _latest_outcomes(session: Session, lot: str | None = None) -> dict[int, str]:
    """asset id → outcome of its latest non-training record."""
    latest = (
        select(Record.asset_id, func.max(Record.id).label("rid"))
        .where(Record.training.is_(False), Record.asset_id.is_not(None))
        .group_by(Record.asset_id)
    )
    if lot is not None:
        latest = latest.where(Record.lot == lot)
    sub = latest.subquery()
    rows = session.execute(
        select(Record.asset_id, Record.outcome).join(sub, Record.id == sub.c.rid)
    ).all()
    return {asset_id: outcome for asset_id, outcome in rows if asset_id is not None}


def lot_summaries(store: Store, codes: Iterable[str] | None = None) -> list[LotSummary]:
    with store.session() as session:
        query = select(Lot).order_by(Lot.received_on.desc().nulls_last(), Lot.code)
        if codes is not None:
            query = query.where(Lot.code.in_(list(codes)))
        lots = {
            lot.code: LotSummary(lot.code, lot.donor, lot.received_on)
            for lot in session.scalars(query)
        }
        # Lots named only by assets (the bench typed a lot code nobody registered) still show.
        asset_lots = select(Asset.lot, func.count()).where(Asset.lot != "").group_by(Asset.lot)
        for code, count in session.execute(asset_lots):
            if codes is not None and code not in codes:
                continue
            lots.setdefault(code, LotSummary(code)).received = count
        outcomes = session.execute(
            select(Asset.lot, Record.outcome, func.count(func.distinct(Record.asset_id)))
            .select_from(Record)
            .join(Asset, Asset.id == Record.asset_id)
            .where(Record.training.is_(False))
            .group_by(Asset.lot, Record.outcome)
        )
        for code, outcome, count in outcomes:
            if code in lots and outcome == "kept":
                lots[code].kept = count
            elif code in lots and outcome == "rejected":
                lots[code].rejected = count
        wiped = session.execute(
            select(Asset.lot, func.count())
            .select_from(Certificate)
            .join(Asset, Asset.id == Certificate.asset_id)
            .where(Certificate.status.in_(("erased", "erased_with_exceptions")))
            .group_by(Asset.lot)
        )
        for code, count in wiped:
            if code in lots:
                lots[code].wiped = count
        kinds = session.execute(
            select(
                Asset.lot, LifecycleEvent.kind, func.count(func.distinct(LifecycleEvent.asset_id))
            )
            .select_from(LifecycleEvent)
            .join(Asset, Asset.id == LifecycleEvent.asset_id)
            .where(LifecycleEvent.kind.in_(("imaged", "packed", "given")))
            .group_by(Asset.lot, LifecycleEvent.kind)
        )
        for code, kind, count in kinds:
            if code not in lots:
                continue
            if kind == "imaged":
                lots[code].imaged = count
            elif kind == "packed":
                lots[code].packed = count
            else:
                lots[code].delivered = count
    return list(lots.values())


@dataclass
class AssetRow:
    id: int
    asset_tag: str
    serial: str
    vendor: str
    product: str
    lot: str
    outcome: str = ""
    last_event: str = ""
    last_event_at: datetime | None = None


def lot_assets(store: Store, code: str, *, limit: int = 2000) -> list[AssetRow]:
    with store.session() as session:
        assets = session.scalars(
            select(Asset).where(Asset.lot == code).order_by(Asset.asset_tag, Asset.id).limit(limit)
        ).all()
        outcomes = _latest_outcomes(session, code)
        last_events = _last_events(session, [a.id for a in assets])
    return [
        AssetRow(
            a.id,
            a.asset_tag,
            a.serial,
            a.vendor,
            a.product,
            a.lot,
            outcomes.get(a.id, ""),
            *last_events.get(a.id, ("", None)),
        )
        for a in assets
    ]


def _last_events(session: Session, ids: list[int]) -> dict[int, tuple[str, datetime | None]]:
    result: dict[int, tuple[str, datetime | None]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for asset_id, kind, at in session.execute(
            select(LifecycleEvent.asset_id, LifecycleEvent.kind, LifecycleEvent.at)
            .where(LifecycleEvent.asset_id.in_(chunk))
            .order_by(LifecycleEvent.at)
        ):
            result[asset_id] = (kind, _utc(at))
    return result


def lot_certificates(store: Store, code: str) -> list[Certificate]:
    with store.session() as session:
        return list(
            session.scalars(
                select(Certificate)
                .join(Asset, Asset.id == Certificate.asset_id)
                .where(Asset.lot == code)
                .order_by(Certificate.issued_at)
            )
        )


# --- assets -----------------------------------------------------------------------------------


@dataclass
class TimelineEntry:
    at: datetime | None
    kind: str  # record | lifecycle kind
    text: str = ""
    detail: str = ""
    record_id: str = ""


@dataclass
class AssetPage:
    asset: Asset
    records: list[Record]
    events: list[LifecycleEvent]
    certificates: list[Certificate]
    timeline: list[TimelineEntry]
    latest: BenchRecord | None

    @property
    def caveats(self) -> list[Any]:
        """What the latest record does not prove (untested answers, stops, pending work)."""
        from bench_agent.workflow.caveats import record_caveats

        return record_caveats(self.latest) if self.latest is not None else []


def find_assets(store: Store, query: str, *, limit: int = 50) -> list[AssetRow]:
    text = query.strip()
    with store.session() as session:
        select_assets = select(Asset).order_by(Asset.asset_tag).limit(limit)
        if text:
            like = f"%{text}%"
            select_assets = select_assets.where(
                Asset.asset_tag.ilike(like) | Asset.serial.ilike(like) | Asset.uuid.ilike(like)
            )
        assets = session.scalars(select_assets).all()
        last_events = _last_events(session, [a.id for a in assets])
    return [
        AssetRow(
            a.id,
            a.asset_tag,
            a.serial,
            a.vendor,
            a.product,
            a.lot,
            "",
            *last_events.get(a.id, ("", None)),
        )
        for a in assets
    ]


def asset_page(store: Store, asset_id: int) -> AssetPage | None:
    with store.session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None:
            return None
        records = list(
            session.scalars(select(Record).where(Record.asset_id == asset_id).order_by(Record.id))
        )
        events = list(
            session.scalars(
                select(LifecycleEvent)
                .where(LifecycleEvent.asset_id == asset_id)
                .order_by(LifecycleEvent.at, LifecycleEvent.id)
            )
        )
        certificates = list(
            session.scalars(
                select(Certificate)
                .where(Certificate.asset_id == asset_id)
                .order_by(Certificate.issued_at)
            )
        )
        session.expunge_all()
    latest: BenchRecord | None = None
    timeline: list[TimelineEntry] = []
    for record in records:
        try:
            parsed = BenchRecord.model_validate_json(record.body)
        except ValueError:
            parsed = None
        if parsed is not None and not record.training:
            latest = parsed
        timeline.append(
            TimelineEntry(
                at=_utc(record.finished_at) or _utc(record.created_at),
                kind="training" if record.training else "record",
                text=record.outcome,
                detail=f"{record.station} · {record.operator}".strip(" ·"),
                record_id=record.record_id,
            )
        )
    for event in events:
        timeline.append(
            TimelineEntry(
                at=_utc(event.at),
                kind=event.kind,
                text=event.category,
                detail=event.note,
            )
        )
    timeline.sort(key=lambda e: e.at or datetime.min.replace(tzinfo=UTC))
    return AssetPage(asset, records, events, certificates, timeline, latest)


def packed_on(page: AssetPage) -> datetime | None:
    packed = [e.at for e in page.events if e.kind == "packed"]
    return _utc(packed[-1]) if packed else None


# --- distribution -----------------------------------------------------------------------------


@dataclass
class Delivery:
    asset_id: int
    asset_tag: str
    category: str
    beneficiary_ref: str
    given_at: datetime
    maintenance_end: date
    returned_at: datetime | None = None


@dataclass
class Distribution:
    by_category: dict[str, int]
    deliveries: list[Delivery]
    ending_soon: list[Delivery]
    returns_open: list[Delivery]


def distribution(store: Store, *, today: date | None = None, soon_days: int = 90) -> Distribution:
    """Deliveries by category, maintenance ends, and returned machines not yet dealt with."""
    from bench_agent.ledger.labels import maintenance_end

    today = today or date.today()
    with store.session() as session:
        rows = session.execute(
            select(
                LifecycleEvent.asset_id,
                LifecycleEvent.kind,
                LifecycleEvent.at,
                LifecycleEvent.category,
                LifecycleEvent.beneficiary_ref,
                Asset.asset_tag,
            )
            .join(Asset, Asset.id == LifecycleEvent.asset_id)
            .where(LifecycleEvent.kind.in_(("given", "returned", "recycled", "packed")))
            .order_by(LifecycleEvent.at, LifecycleEvent.id)
        ).all()
    current: dict[int, Delivery] = {}
    open_returns: dict[int, Delivery] = {}
    packed: dict[int, datetime] = {}
    for asset_id, kind, raw_at, category, ref, tag in rows:
        at: datetime = _utc(raw_at) or raw_at
        if kind == "packed":
            packed[asset_id] = at
        if kind == "given":
            # Maintenance runs 3 years from packing: the date printed on the machine's label.
            start = packed.get(asset_id, at)
            current[asset_id] = Delivery(
                asset_id, tag, category or "unknown", ref, at, maintenance_end(start.date())
            )
            open_returns.pop(asset_id, None)
        elif kind == "returned" and asset_id in current:
            delivery = current.pop(asset_id)
            delivery.returned_at = at
            open_returns[asset_id] = delivery
        elif kind in ("recycled", "packed"):
            open_returns.pop(asset_id, None)
    deliveries = sorted(current.values(), key=lambda d: d.given_at, reverse=True)
    by_category = Counter(d.category for d in deliveries)
    horizon = today + timedelta(days=soon_days)
    ending = sorted(
        (d for d in deliveries if today <= d.maintenance_end <= horizon),
        key=lambda d: d.maintenance_end,
    )
    returns = sorted(open_returns.values(), key=lambda d: d.returned_at or d.given_at)
    return Distribution(dict(by_category.most_common()), deliveries, ending, returns)


# --- reports ----------------------------------------------------------------------------------


def load_report(
    store: Store,
    start: date,
    end: date,
    lot: str | None = None,
    *,
    on_bad_record: Callable[[str], None] | None = None,
) -> ProgrammeReport:
    """The programme report for the period, from the stored records and lifecycle events."""
    records, events, asset_key = _report_inputs(store, start, end, lot, on_bad_record)
    return compute_report(records, events, start=start, end=end, lot=lot, asset_key=asset_key)


def _report_inputs(
    store: Store,
    start: date,
    end: date,
    lot: str | None,
    on_bad_record: Callable[[str], None] | None = None,
) -> tuple[list[BenchRecord], list[ReportEvent], Callable[[BenchRecord], str]]:
    """The records and events a report of the period counts (a day of margin each side)."""
    since = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(days=1)
    until = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=2)
    records: list[BenchRecord] = []
    asset_keys: dict[str, str] = {}
    events: list[ReportEvent] = []
    with store.session() as session:
        query = select(Record.record_id, Record.asset_id, Record.body).where(
            Record.training.is_(False),
            func.coalesce(Record.finished_at, Record.created_at) >= since,
            func.coalesce(Record.finished_at, Record.created_at) < until,
        )
        if lot is not None:
            query = query.where(Record.lot == lot)
        for record_id, asset_id, body in session.execute(query):
            try:
                parsed = BenchRecord.model_validate_json(body)
            except ValueError:
                if on_bad_record:
                    on_bad_record(record_id)
                continue
            records.append(parsed)
            if asset_id is not None:
                asset_keys[parsed.record_id] = str(asset_id)
        event_query = (
            select(
                LifecycleEvent.asset_id,
                LifecycleEvent.kind,
                LifecycleEvent.at,
                LifecycleEvent.category,
                Asset.lot,
            )
            .join(Asset, Asset.id == LifecycleEvent.asset_id)
            .where(LifecycleEvent.at >= since, LifecycleEvent.at < until)
        )
        if lot is not None:
            event_query = event_query.where(Asset.lot == lot)
        for asset_id, kind, at, category, asset_lot in session.execute(event_query):
            events.append(ReportEvent(str(asset_id), kind, _utc(at) or at, asset_lot, category))
    return (
        records,
        events,
        lambda r: asset_keys.get(r.record_id) or r.asset_tag or r.record_id,
    )


def record_document(store: Store, record_id: str) -> dict[str, Any] | None:
    with store.session() as session:
        body = session.scalar(select(Record.body).where(Record.record_id == record_id))
    return json.loads(body) if body else None
