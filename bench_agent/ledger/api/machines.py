"""Machines (assets), donor lots and lifecycle events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bench_agent.errors import BenchError
from bench_agent.i18n import _
from bench_agent.ledger import audit
from bench_agent.ledger.api.common import (
    certificate_summary,
    invalid,
    not_found,
    record_summary,
    responses,
    store_of,
)
from bench_agent.ledger.auth import (
    AdminPrincipal,
    SupervisorPrincipal,
)
from bench_agent.ledger.db import Store
from bench_agent.ledger.ingest import (
    find_assets,
)
from bench_agent.ledger.models import (
    Asset,
    Certificate,
    LifecycleEvent,
    Lot,
    Record,
    utcnow,
)
from bench_agent.ledger.schemas import (
    MAX_ID,
    AssetHistory,
    AssetOut,
    EventIn,
    EventOut,
    LotIn,
    LotOut,
    LotPatch,
    in_range,
)
from bench_agent.ledger.sites import programme_wide

router = APIRouter(prefix="/api/v1")


# ---------------------------------------------------------------------------------- assets
def _asset_out(row: Asset) -> AssetOut:
    return AssetOut.model_validate(row, from_attributes=True)


def event_out(row: LifecycleEvent) -> EventOut:
    return EventOut.model_validate(row, from_attributes=True)


@router.get(
    "/assets", response_model=list[AssetOut], tags=["assets"], responses=responses(401, 403)
)
def lookup_assets(
    request: Request,
    _user: SupervisorPrincipal,
    serial: Annotated[str, Query(max_length=200)] = "",
    uuid: Annotated[str, Query(max_length=64)] = "",
    asset_tag: Annotated[str, Query(max_length=100)] = "",
) -> list[AssetOut]:
    """Machines matching a serial, a DMI UUID or an asset tag (any of those given)."""
    with store_of(request).session() as session:
        return [
            _asset_out(a)
            for a in find_assets(session, serial=serial, uuid=uuid, asset_tag=asset_tag)
        ]


@router.get(
    "/assets/{asset_id}",
    response_model=AssetHistory,
    tags=["assets"],
    responses=responses(401, 403, 404),
)
def asset_history(
    request: Request, asset_id: Annotated[int, Path(ge=1, le=MAX_ID)], _user: SupervisorPrincipal
) -> AssetHistory:
    """One machine's full history: bench records, lifecycle events, certificates."""
    with store_of(request).session() as session:
        row = session.get(Asset, asset_id)
        if row is None:
            raise not_found(_("No asset {asset_id}.", asset_id=asset_id))
        certificates = session.scalars(
            select(Certificate).where(Certificate.asset_id == row.id).order_by(Certificate.id)
        )
        return AssetHistory(
            **_asset_out(row).model_dump(),
            records=[record_summary(r) for r in row.records],
            events=[event_out(e) for e in row.events],
            certificates=[certificate_summary(c) for c in certificates],
        )


# ------------------------------------------------------------------------------------ lots
def _lot_out(row: Lot) -> LotOut:
    return LotOut.model_validate(row, from_attributes=True)


@router.get("/lots", response_model=list[LotOut], tags=["lots"], responses=responses(401, 403))
def list_lots(request: Request, _user: SupervisorPrincipal) -> list[LotOut]:
    with store_of(request).session() as session:
        return [_lot_out(r) for r in session.scalars(select(Lot).order_by(Lot.code))]


def create_lot(store: Store, body: LotIn, actor: str) -> LotOut:
    with store.write() as session:
        if programme_wide(session, select(Lot.id).where(Lot.code == body.code)) is not None:
            raise BenchError(
                _("Lot '{code}' already exists.", code=body.code),
                _("Choose another code, or change the lot instead."),
            )
        row = Lot(
            code=body.code,
            donor=body.donor,
            received_on=body.received_on,
            note=body.note,
            created_by=actor,
        )
        session.add(row)
        session.flush()
        audit.append(session, row, actor)
        return _lot_out(row)


@router.post(
    "/lots",
    response_model=LotOut,
    status_code=201,
    tags=["lots"],
    responses=responses(401, 403, 409),
)
def post_lot(request: Request, body: LotIn, admin: AdminPrincipal) -> LotOut:
    try:
        return create_lot(store_of(request), body, admin.actor)
    except (BenchError, IntegrityError) as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=_("Lot '{code}' already exists.", code=body.code)
        ) from exc


@router.get(
    "/lots/{code}", response_model=LotOut, tags=["lots"], responses=responses(401, 403, 404)
)
def get_lot(request: Request, code: str, _user: SupervisorPrincipal) -> LotOut:
    with store_of(request).session() as session:
        row = session.scalar(select(Lot).where(Lot.code == code))
        if row is None:
            raise not_found(_("No lot '{code}'.", code=code))
        return _lot_out(row)


@router.patch(
    "/lots/{code}", response_model=LotOut, tags=["lots"], responses=responses(401, 403, 404)
)
def patch_lot(request: Request, code: str, body: LotPatch, admin: AdminPrincipal) -> LotOut:
    with store_of(request).write() as session:
        row = session.scalar(select(Lot).where(Lot.code == code))
        if row is None:
            raise not_found(_("No lot '{code}'.", code=code))
        for field in body.model_fields_set:
            setattr(row, field, getattr(body, field) if getattr(body, field) is not None else "")
        if "received_on" in body.model_fields_set:
            row.received_on = body.received_on
        row.updated_at = utcnow()
        row.updated_by = admin.actor
        session.flush()
        audit.append(session, row, admin.actor)
        return _lot_out(row)


@router.delete(
    "/lots/{code}", status_code=204, tags=["lots"], responses=responses(401, 403, 404, 409)
)
def delete_lot(request: Request, code: str, admin: AdminPrincipal) -> Response:
    """Delete a lot no record or machine refers to yet (a typo); otherwise 409."""
    with store_of(request).write() as session:
        row = session.scalar(select(Lot).where(Lot.code == code))
        if row is None:
            raise not_found(_("No lot '{code}'.", code=code))
        used = session.scalar(select(Record.id).where(Record.lot == code).limit(1)) or (
            session.scalar(select(Asset.id).where(Asset.lot == code).limit(1))
        )
        if used:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=_("Lot '{code}' is used by machines and cannot be deleted.", code=code),
            )
        audit.append_deleted(session, row, admin.actor)
        session.delete(row)
    return Response(status_code=204)


# ---------------------------------------------------------------------------------- events
def record_event(store: Store, body: EventIn, actor: str) -> EventOut:
    """Store a lifecycle event (and chain it in the audit log)."""
    if body.kind == "given" and body.category is None:
        raise invalid(("category",), _("A 'given' event needs the beneficiary category."))
    if body.category is not None and body.kind not in ("given", "returned"):
        raise invalid(("category",), _("Only 'given' and 'returned' events have a category."))
    if body.beneficiary_ref and body.kind not in ("given", "returned"):
        raise invalid(
            ("beneficiary_ref",), _("Only 'given' and 'returned' events have a beneficiary.")
        )
    with store.write() as session:
        asset: Asset | None
        if body.asset_id is not None:
            asset = session.get(Asset, body.asset_id)
        else:
            matches = find_assets(
                session, serial=body.serial, uuid=body.uuid, asset_tag=body.asset_tag
            )
            asset = matches[0] if matches else None
            if asset is None and body.kind == "received" and (body.asset_tag or body.serial):
                # A machine is received before any bench has seen it.
                asset = Asset(asset_tag=body.asset_tag, serial=body.serial, uuid=body.uuid)
                session.add(asset)
                session.flush()
                audit.append(session, asset, actor)
        if asset is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=_("No machine matches this asset id, tag, serial or UUID."),
            )
        row = LifecycleEvent(
            asset_id=asset.id,
            kind=body.kind,
            at=body.at or utcnow(),
            category=body.category or "",
            beneficiary_ref=body.beneficiary_ref,
            note=body.note,
            created_by=actor,
        )
        session.add(row)
        session.flush()
        audit.append(session, row, actor)
        return event_out(row)


@router.post(
    "/events",
    response_model=EventOut,
    status_code=201,
    tags=["events"],
    responses=responses(401, 403, 404),
)
def post_event(request: Request, body: EventIn, user: SupervisorPrincipal) -> EventOut:
    """Record a step in a machine's life (supervisor). Beneficiaries are pseudonymous."""
    return record_event(store_of(request), body, user.actor)


@router.get(
    "/events", response_model=list[EventOut], tags=["events"], responses=responses(401, 403)
)
def list_events(
    request: Request,
    _user: SupervisorPrincipal,
    asset_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    kind: str = "",
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[EventOut]:
    query = select(LifecycleEvent).order_by(LifecycleEvent.at, LifecycleEvent.id)
    if asset_id is not None:
        query = query.where(LifecycleEvent.asset_id == asset_id)
    if kind:
        query = query.where(LifecycleEvent.kind == kind)
    if since is not None:
        try:
            in_range(since)
        except ValueError as exc:
            raise RequestValidationError(
                [{"loc": ("query", "since"), "msg": str(exc), "type": "value_error"}]
            ) from exc
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        query = query.where(LifecycleEvent.at >= since)
    with store_of(request).session() as session:
        return [event_out(e) for e in session.scalars(query.limit(limit))]
