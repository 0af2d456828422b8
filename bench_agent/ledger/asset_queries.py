"""Lots, machines and deliveries as the dashboard shows them, read from the ledger's store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench_agent.ledger.board_queries import utc
from bench_agent.ledger.db import Store
from bench_agent.ledger.models import (
    Asset,
    Certificate,
    LifecycleEvent,
    Lot,
    Record,
)
from bench_agent.ledger.revocation import FAILED_VALIDATION
from bench_agent.models.record import BenchRecord

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
        return _asset_rows(session, assets, _latest_outcomes(session, code))


def _asset_rows(
    session: Session, assets: Sequence[Asset], outcomes: dict[int, str] | None = None
) -> list[AssetRow]:
    """The rows of ``assets``, each with its last lifecycle event (and outcome, if given)."""
    last_events = _last_events(session, [a.id for a in assets])
    return [
        AssetRow(
            a.id,
            a.asset_tag,
            a.serial,
            a.vendor,
            a.product,
            a.lot,
            (outcomes or {}).get(a.id, ""),
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
            result[asset_id] = (kind, utc(at))
    return result


def lot_certificates(store: Store, code: str) -> list[Certificate]:
    with store.session() as session:
        return list(
            session.scalars(
                select(Certificate)
                .join(Asset, Asset.id == Certificate.asset_id)
                # A certificate a failed validation revoked is never handed to the donor.
                .where(Asset.lot == code, Certificate.status != FAILED_VALIDATION)
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
        return _asset_rows(session, session.scalars(select_assets).all())


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
                at=utc(record.finished_at) or utc(record.created_at),
                kind="training" if record.training else "record",
                text=record.outcome,
                detail=f"{record.station} · {record.operator}".strip(" ·"),
                record_id=record.record_id,
            )
        )
    for event in events:
        timeline.append(
            TimelineEntry(
                at=utc(event.at),
                kind=event.kind,
                text=event.category,
                detail=event.note,
            )
        )
    timeline.sort(key=lambda e: e.at or datetime.min.replace(tzinfo=UTC))
    return AssetPage(asset, records, events, certificates, timeline, latest)


def packed_on(page: AssetPage) -> datetime | None:
    packed = [e.at for e in page.events if e.kind == "packed"]
    return utc(packed[-1]) if packed else None


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
        at: datetime = utc(raw_at) or raw_at
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
