"""The parts bin in the ledger: parts kept from rejected or remediated machines, stocked in a
bin, suggested for a machine whose RAM is "to remediate", fitted into it, or scrapped.

A part is harvested only from what the machine's latest bench record shows (its inventory; a
disk only if it passed SMART and its wipe certificate says erased; a power supply is typed),
once: its identity (its own serial, else the donor machine and slot) is unique. A part is
fitted only from stock, and a memory module only into a machine it fits (type, form factor,
free slot, board maximum: ``inventory.parts``). Every part row and each of its steps
(``part_events``) is in the audit chain.

Lots and sites: fitting a part from one donor's machine into another donor's machine is the
point of the bin, so lots are not compared; a part stays in its site (``ledger/sites.py``
scopes every query to the caller's site, and a machine of another site is refused).

Routes (station token): ``POST /api/v1/parts`` (harvest), ``GET /api/v1/parts`` (stock),
``GET /api/v1/parts/suggest?asset_tag=``, ``POST /api/v1/parts/{code}/stock|fit|scrap``.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bench_agent.errors import BenchError
from bench_agent.i18n import _, pgettext
from bench_agent.inventory.parts import harvestable_parts, memory_fit_problem, suggest_memory
from bench_agent.ledger import audit
from bench_agent.ledger.auth import (
    BearerCredentials,
    CookieToken,
    Principal,
    StationPrincipal,
    station_from_token,
    unauthorized,
    user_from_session_token,
)
from bench_agent.ledger.db import Store
from bench_agent.ledger.models import Asset, Certificate, Part, PartEvent, Record, utcnow
from bench_agent.ledger.sites import other_site_has
from bench_agent.models.inventory import Inventory
from bench_agent.models.part import Part as PartIn
from bench_agent.models.part import PartKind, PartState, StockedPart
from bench_agent.models.verdict import Verdict

HARVEST_OUTCOMES = ("rejected", "remediate")


class PartRefused(BenchError):
    """A parts bin request refused with its reason (``status``: the HTTP answer)."""

    def __init__(self, message: str, hint: str = "", *, status_code: int = 409) -> None:
        super().__init__(message, hint)
        self.status_code = status_code


# ----------------------------------------------------------------------------- helpers
def _asset(session: Session, asset_tag: str) -> Asset:
    asset = session.scalar(select(Asset).where(Asset.asset_tag == asset_tag).order_by(Asset.id))
    if asset is None or not asset_tag:
        raise PartRefused(
            _("No machine {tag} in the ledger.", tag=asset_tag or "?"),
            _("Finish the machine's bench run (its record) first."),
            status_code=404,
        )
    return asset


def latest_record(session: Session, asset: Asset) -> tuple[Inventory, Verdict | None]:
    """The inventory and verdict of the machine's latest (non-training) bench record."""
    when = func.coalesce(Record.finished_at, Record.created_at)
    row = session.scalar(
        select(Record)
        .where(Record.asset_id == asset.id, Record.training.is_(False))
        .order_by(when.desc(), Record.id.desc())
        .limit(1)
    )
    if row is None:
        raise PartRefused(
            _("Machine {tag} has no bench record.", tag=asset.asset_tag),
            status_code=404,
        )
    document = row.document
    verdict = document.get("verdict")
    return (
        Inventory.model_validate(document["inventory"]),
        Verdict.model_validate(verdict) if verdict else None,
    )


def _identity(asset: Asset, part: PartIn) -> str:
    if part.serial:
        return f"{part.kind}:sn:{part.serial}"
    where = part.slot if part.kind != "psu" else "psu"
    return f"{part.kind}:asset:{asset.id}:{where}"


def part_out(session: Session, row: Part) -> StockedPart:
    def tag(asset_id: int | None) -> str:
        asset = session.get(Asset, asset_id) if asset_id else None
        return asset.asset_tag if asset is not None else ""

    return StockedPart(
        code=row.code,
        state=row.state,
        kind=row.kind,
        description=row.description,
        serial=row.serial,
        slot=row.slot,
        model=row.model,
        mem_type=row.mem_type,
        form_factor=row.form_factor,
        size_bytes=row.size_bytes,
        speed_mts=row.speed_mts,
        certificate_id=row.certificate_id,
        watts=row.watts,
        bin=row.bin,
        lot=row.lot,
        from_asset_tag=tag(row.from_asset_id),
        fitted_asset_tag=row.fitted_asset_tag,
    )


def _event(session: Session, row: Part, kind: str, actor: str, **values: Any) -> None:
    event = PartEvent(part_id=row.id, kind=kind, at=utcnow(), created_by=actor, **values)
    session.add(event)
    audit.append(session, event, actor)


def _part(session: Session, code: str) -> Part:
    row = session.scalar(select(Part).where(Part.code == code))
    if row is None:
        raise PartRefused(_("No part {code} in the bin.", code=code), status_code=404)
    return row


def _state_words(session: Session, row: Part) -> str:
    if row.state == "fitted":
        return _("fitted into {tag}", tag=row.fitted_asset_tag or "?")
    if row.state == "in_stock":
        return _("in bin {bin}", bin=row.bin)
    if row.state == "scrapped":
        return pgettext("part state", "scrapped")
    return _("harvested, not yet in a bin")


def _clean_bin(value: str) -> str:
    return " ".join(value.split())[:64]


# ----------------------------------------------------------------------------- actions
def harvest(
    store: Store, asset_tag: str, parts: list[PartIn], bin_: str, actor: str
) -> list[StockedPart]:
    """Record the parts kept from a rejected or remediated machine (all or none)."""
    try:
        return _harvest(store, asset_tag, parts, bin_, actor)
    except IntegrityError:  # two benches keeping the same part at the same moment (PostgreSQL)
        raise PartRefused(
            _("Another bench kept one of these parts at the same moment."),
            _("Look at the stock, then try again."),
        ) from None


def _harvest(
    store: Store, asset_tag: str, parts: list[PartIn], bin_: str, actor: str
) -> list[StockedPart]:
    bin_ = _clean_bin(bin_)
    with store.write() as session:
        asset = _asset(session, asset_tag)
        inventory, verdict = latest_record(session, asset)
        if verdict is None or verdict.outcome not in HARVEST_OUTCOMES:
            raise PartRefused(
                _(
                    "Machine {tag} is not rejected or to remediate: its parts stay in it.",
                    tag=asset_tag,
                ),
                status_code=409,
            )
        wiped = {
            c.disk_serial: c.certificate_id
            for c in session.scalars(
                select(Certificate).where(
                    Certificate.asset_id == asset.id, Certificate.status == "erased"
                )
            )
            if c.disk_serial
        }
        found = {(p.kind, p.slot, p.serial): p for p in harvestable_parts(inventory, wiped)}
        rows: list[Part] = []
        for part in parts:
            if part.kind == "psu":
                if not part.description.strip():
                    raise PartRefused(
                        _("Describe the power supply (make, model, watts)."), status_code=422
                    )
                known = part
            else:
                seen = found.get((part.kind, part.slot, part.serial))
                if seen is None:
                    raise PartRefused(
                        _(
                            "Machine {tag}'s record shows no such part to keep: {part} ({slot}).",
                            tag=asset_tag,
                            part=part.description or part.kind,
                            slot=part.slot or "?",
                        ),
                        _("Only its memory, wiped healthy disks, optical drives and sound cards."),
                        status_code=422,
                    )
                known = seen  # what the record says, not what the caller typed
            identity = _identity(asset, known)
            before = session.scalar(select(Part).where(Part.identity == identity))
            if before is not None:
                raise PartRefused(
                    _(
                        "{part} from {tag} ({slot}) was already harvested as {code} ({state}).",
                        part=before.description,
                        tag=asset_tag,
                        slot=before.slot or before.serial or "-",
                        code=before.code,
                        state=_state_words(session, before),
                    )
                )
            row = Part(
                code="new-" + secrets.token_hex(12),  # the real code needs the row's id
                identity=identity,
                kind=known.kind,
                state="in_stock" if bin_ else "harvested",
                description=known.description[:200],
                serial=known.serial[:200],
                slot=known.slot[:64],
                model=known.model[:200],
                mem_type=known.mem_type[:32],
                form_factor=known.form_factor[:32],
                size_bytes=known.size_bytes,
                speed_mts=known.speed_mts,
                watts=known.watts,
                certificate_id=known.certificate_id[:100],
                bin=bin_,
                lot=asset.lot,
                from_asset_id=asset.id,
                created_at=utcnow(),
                created_by=actor,
            )
            session.add(row)
            session.flush()
            row.code = f"P{row.id:06d}"
            audit.append(session, row, actor)
            _event(session, row, "harvested", actor, asset_id=asset.id)
            if bin_:
                _event(session, row, "stocked", actor, bin=bin_)
            rows.append(row)
        return [part_out(session, r) for r in rows]


def stock(store: Store, code: str, bin_: str, actor: str) -> StockedPart:
    """Put a harvested part in a bin (or move a stocked one to another bin)."""
    bin_ = _clean_bin(bin_)
    if not bin_:
        raise PartRefused(_("Say which bin the part goes in."), status_code=422)
    with store.write() as session:
        row = _part(session, code)
        if row.state not in ("harvested", "in_stock"):
            raise PartRefused(
                _(
                    "Part {code} is not in the bin: {state}.",
                    code=code,
                    state=_state_words(session, row),
                )
            )
        row.state, row.bin = "in_stock", bin_
        audit.append(session, row, actor)
        _event(session, row, "stocked", actor, bin=bin_)
        return part_out(session, row)


def fit(
    store: Store, code: str, asset_tag: str, actor: str, inventory: Inventory | None = None
) -> StockedPart:
    """The technician fitted a stocked part into a machine: it leaves the bin for that machine.
    A memory module is checked against ``inventory`` (the bench's, when the machine is on the
    bench before its first record reaches the ledger) or the machine's latest record."""
    if not asset_tag.strip():
        raise PartRefused(_("Give the machine's asset tag."), status_code=422)
    with store.write() as session:
        row = _part(session, code)
        if row.state != "in_stock":
            raise PartRefused(
                _(
                    "Part {code} is not in stock: {state}.",
                    code=code,
                    state=_state_words(session, row),
                )
            )
        asset = session.scalar(select(Asset).where(Asset.asset_tag == asset_tag).order_by(Asset.id))
        if asset is None and other_site_has(session, asset_tag):  # tags are programme-wide
            raise PartRefused(
                _("Machine {tag} belongs to another site: a part stays in its site.", tag=asset_tag)
            )
        if asset is not None and asset.id == row.from_asset_id:
            raise PartRefused(_("Part {code} came from {tag} itself.", code=code, tag=asset_tag))
        if row.kind == "memory":
            if inventory is not None:
                target = inventory
            else:
                target, _verdict = latest_record(session, _asset(session, asset_tag))
            problem = memory_fit_problem(target, part_out(session, row))
            if problem is not None:
                raise PartRefused(
                    _(
                        "Part {code} does not fit {tag}: {reason}.",
                        code=code,
                        tag=asset_tag,
                        reason=problem,
                    )
                )
        bin_ = row.bin
        row.state, row.bin = "fitted", ""
        row.fitted_asset_id = asset.id if asset is not None else None
        row.fitted_asset_tag = asset_tag
        audit.append(session, row, actor)
        _event(
            session, row, "fitted", actor, asset_id=row.fitted_asset_id, bin=bin_, note=asset_tag
        )
        return part_out(session, row)


def scrap(store: Store, code: str, note: str, actor: str) -> StockedPart:
    with store.write() as session:
        row = _part(session, code)
        if row.state not in ("harvested", "in_stock"):
            raise PartRefused(
                _(
                    "Part {code} is not in the bin: {state}.",
                    code=code,
                    state=_state_words(session, row),
                )
            )
        bin_ = row.bin
        row.state, row.bin = "scrapped", ""
        audit.append(session, row, actor)
        _event(session, row, "scrapped", actor, bin=bin_, note=note[:1000])
        return part_out(session, row)


def list_parts(
    store: Store, state: PartState | None = None, kind: PartKind | None = None
) -> list[StockedPart]:
    query = select(Part).order_by(Part.id)
    if state is not None:
        query = query.where(Part.state == state)
    if kind is not None:
        query = query.where(Part.kind == kind)
    with store.session() as session:
        return [part_out(session, r) for r in session.scalars(query)]


class SuggestionOut(BaseModel):
    asset_tag: str
    text: str = ""  # "" when the machine's RAM is not to remediate
    missing_bytes: int = 0
    groups: list[dict[str, Any]] = Field(default_factory=list)
    refused: list[dict[str, str]] = Field(default_factory=list)


def suggest(store: Store, asset_tag: str) -> SuggestionOut:
    """The stocked modules that fit a machine whose RAM is to remediate, best first."""
    with store.session() as session:
        asset = _asset(session, asset_tag)
        inventory, verdict = latest_record(session, asset)
        stocked = [
            part_out(session, r)
            for r in session.scalars(
                select(Part).where(Part.state == "in_stock", Part.kind == "memory")
            )
        ]
    found = suggest_memory(inventory, verdict, stocked) if verdict is not None else None
    if found is None:
        return SuggestionOut(asset_tag=asset_tag)
    return SuggestionOut(
        asset_tag=asset_tag,
        text=found.text,
        missing_bytes=found.missing_bytes,
        groups=[
            {
                "description": g.description,
                "bin": g.bin,
                "codes": g.codes,
                "size_bytes": g.size_bytes,
            }
            for g in found.groups
        ],
        refused=[{"code": code, "reason": reason} for code, reason in found.refused],
    )


# ------------------------------------------------------------------------------ routes
router = APIRouter(prefix="/api/v1", tags=["parts"])


class HarvestIn(BaseModel):
    asset_tag: str = Field(max_length=100)
    parts: list[PartIn] = Field(min_length=1, max_length=64)
    bin: str = Field(default="", max_length=64)


class BinIn(BaseModel):
    bin: str = Field(max_length=64)


class FitIn(BaseModel):
    asset_tag: str = Field(max_length=100)
    # The machine as the bench sees it now (it may have no record in the ledger yet).
    inventory: Inventory | None = None


class ScrapIn(BaseModel):
    note: str = Field(default="", max_length=1000)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _station_or_supervisor(
    request: Request, credentials: BearerCredentials, cookie: CookieToken
) -> Principal:
    """The stock is read by the benches and by the supervisors (session token or cookie)."""
    token = credentials.credentials.strip() if credentials is not None else ""
    token = token or (cookie or "")
    store = _store(request)
    principal = station_from_token(store, token) or user_from_session_token(store, token)
    if principal is None:
        raise unauthorized(_("A station token or a supervisor's session is required."))
    return principal


StockReader = Annotated[Principal, Depends(_station_or_supervisor)]


def as_http_error(exc: PartRefused) -> HTTPException:
    """The HTTP answer of a refusal: its status, the message and hint as ``detail``. The app
    registers one handler for :class:`PartRefused` (``app.py``) that answers with it, so the
    routes below just let a refusal go up."""
    detail = f"{exc.message} {exc.hint}".strip()
    return HTTPException(exc.status_code, detail=detail)


@router.post("/parts", response_model=list[StockedPart], status_code=status.HTTP_201_CREATED)
def post_harvest(request: Request, body: HarvestIn, station: StationPrincipal) -> Any:
    """Keep parts of a rejected or remediated machine (in a bin if ``bin`` is given)."""
    return harvest(_store(request), body.asset_tag, body.parts, body.bin, station.actor)


@router.get("/parts", response_model=list[StockedPart])
def get_parts(
    request: Request,
    reader: StockReader,
    state: Annotated[PartState | None, Query()] = None,
    kind: Annotated[PartKind | None, Query()] = None,
) -> Any:
    return list_parts(_store(request), state, kind)


@router.get("/parts/suggest", response_model=SuggestionOut)
def get_suggestion(
    request: Request, station: StationPrincipal, asset_tag: Annotated[str, Query(max_length=100)]
) -> Any:
    """What the bin holds for a machine whose RAM is to remediate."""
    return suggest(_store(request), asset_tag)


@router.post("/parts/{code}/stock", response_model=StockedPart)
def post_stock(request: Request, code: str, body: BinIn, station: StationPrincipal) -> Any:
    return stock(_store(request), code, body.bin, station.actor)


@router.post("/parts/{code}/fit", response_model=StockedPart)
def post_fit(request: Request, code: str, body: FitIn, station: StationPrincipal) -> Any:
    """The part was fitted into this machine (re-inventory it next)."""
    return fit(_store(request), code, body.asset_tag, station.actor, body.inventory)


@router.post("/parts/{code}/scrap", response_model=StockedPart)
def post_scrap(request: Request, code: str, body: ScrapIn, station: StationPrincipal) -> Any:
    return scrap(_store(request), code, body.note, station.actor)


@router.get(
    "/parts/{code}/label.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, 404: {"description": "unknown part"}},
)
def get_label(
    request: Request,
    code: str,
    station: StationPrincipal,
    size: Annotated[Literal["62x100", "4x6", "a4"], Query()] = "62x100",
) -> Response:
    """The part's printable label (code as QR and in large type, what it is, bin, donor)."""
    from bench_agent.ledger.part_labels import render_part_labels

    with _store(request).session() as session:
        part = part_out(session, _part(session, code))
    return Response(render_part_labels([part], size), media_type="application/pdf")
