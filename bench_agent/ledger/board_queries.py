"""What the dashboard shows, read from the ledger's store (no HTML here).

The station board is computed from the ``heartbeats`` table (one row per station) plus a small
in-process tracker that remembers when each station's progress last moved, so a station whose
progress bar has not moved for ``stuck_after_s`` is shown as stuck.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench_agent.ledger.db import Store
from bench_agent.ledger.models import (
    HEARTBEAT_COLUMNS,
    Asset,
    Certificate,
    Heartbeat,
    LifecycleEvent,
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
from bench_agent.ledger.validation import ValidationCoverage, validation_coverage
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


def utc(when: datetime | None) -> datetime | None:
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
                *(getattr(Heartbeat, name) for name in HEARTBEAT_COLUMNS),
            )
            .outerjoin(Heartbeat, Heartbeat.station_id == Station.id)
            .where(Station.disabled.is_(False))
            .order_by(Station.name)
        ).all()
    views = []
    for row in rows:
        view = StationView(name=row.name, location=row.location or "")
        seen = utc(row.received_at) or utc(row.last_seen_at)
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
    # The validation programme: disks re-checked, and those that failed (loud on the board).
    validated: int = 0
    validation_failed: int = 0


@dataclass
class BoardStats:
    today: Throughput = field(default_factory=Throughput)
    week: Throughput = field(default_factory=Throughput)
    reasons: dict[str, int] = field(default_factory=dict)
    methods: dict[str, int] = field(default_factory=dict)


def _throughput(report: ProgrammeReport, validation: ValidationCoverage) -> Throughput:
    """The board's figures are the programme report's counts (machines, not records) and the
    validation coverage's (the report page's and ``validation report``'s)."""
    return Throughput(
        tested=report.tested,
        kept=report.tested - report.rejected,
        rejected=report.rejected,
        wiped=report.disks_wiped,
        packed=report.refurbished,
        validated=validation.validated,
        validation_failed=validation.failed,
    )


class StatsCache:
    """The board's figures, recomputed only when a record or event arrives (or each minute)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # One entry per site (None: the programme): each site's figures are its own.
        self._entries: dict[int | None, tuple[tuple[Any, ...], BoardStats, float]] = {}

    def get(self, store: Store, now: datetime | None = None) -> BoardStats:
        from bench_agent.ledger.sites import current_site, site_scope

        now = now or datetime.now(UTC)
        site = current_site()
        # The programme's newest ids (index lookups; a site's would scan its rows): nothing new
        # anywhere means nothing new in this site either.
        with site_scope(None), store.session() as session:
            key = (
                site,
                _start_of_day(now),
                session.scalar(select(func.max(Record.id))),
                session.scalar(select(func.max(LifecycleEvent.id))),
                session.scalar(select(func.max(Certificate.id))),
            )
        with self._lock:
            entry = self._entries.get(site)
            if entry is not None and key == entry[0] and time.monotonic() - entry[2] < 60:
                return entry[1]
        value = board_stats(store, now)
        with self._lock:
            self._entries[site] = (key, value, time.monotonic())
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
    checked_day = validation_coverage(records, start=today, end=today)
    checked_week = validation_coverage(records, start=monday, end=today)
    return BoardStats(
        today=_throughput(day, checked_day),
        week=_throughput(week, checked_week),
        reasons=dict(week.rejected_by_reason),
        methods=dict(week.wiped_by_method),
    )


# --- reports ----------------------------------------------------------------------------------


def load_report(
    store: Store,
    start: date,
    end: date,
    lot: str | None = None,
    *,
    on_bad_record: Callable[[str], None] | None = None,
) -> ProgrammeReport:
    """The programme report for the period, from the stored records and lifecycle events, with
    its environmental account (InputError when the workshop's factors file is wrong)."""
    from bench_agent.ledger.environment import load_account

    records, events, asset_key = _report_inputs(store, start, end, lot, on_bad_record)
    report = compute_report(records, events, start=start, end=end, lot=lot, asset_key=asset_key)
    report.environment = load_account(store, start, end, lot)
    return report


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
            events.append(ReportEvent(str(asset_id), kind, utc(at) or at, asset_lot, category))
    return (
        records,
        events,
        lambda r: asset_keys.get(r.record_id) or r.asset_tag or r.record_id,
    )


def record_document(store: Store, record_id: str) -> dict[str, Any] | None:
    with store.session() as session:
        body = session.scalar(select(Record.body).where(Record.record_id == record_id))
    return json.loads(body) if body else None
