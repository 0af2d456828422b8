"""The ledger's JSON API under ``/api/v1`` (OpenAPI at ``/openapi.json``).

Status codes every client can rely on: 401 no or bad credentials, 403 authenticated but not
allowed (a station writing for another, a supervisor doing an admin's job), 404 unknown,
409 conflict (same record_id with another body, duplicate name), 413 body too large, 422 invalid
body (``detail[].loc`` names the field).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bench_agent import __version__
from bench_agent.errors import BenchError
from bench_agent.i18n import _
from bench_agent.ledger import audit
from bench_agent.ledger.auth import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    AdminPrincipal,
    LoginRefused,
    Principal,
    StationPrincipal,
    SupervisorPrincipal,
    bearer_scheme,
    cookie_scheme,
    create_session,
    end_session,
    get_store,
    hash_token,
    new_station_token,
    optional_user,
)
from bench_agent.ledger.db import Store
from bench_agent.ledger.ingest import (
    IngestResult,
    PreparedRecord,
    RecordRejected,
    find_assets,
    ingest_record,
    judge_certificate,
    prepare_record,
    station_key_info,
    station_keys,
    write_record,
)
from bench_agent.ledger.inputs import InputProblem, check_id, header_safe, load_json
from bench_agent.ledger.models import (
    Asset,
    Certificate,
    Heartbeat,
    LifecycleEvent,
    Lot,
    Record,
    Station,
    StationKey,
    utcnow,
)
from bench_agent.ledger.schemas import (
    MAX_ID,
    AssetHistory,
    AssetOut,
    CertificateSummary,
    CertificateVerification,
    EventIn,
    EventOut,
    Health,
    HeartbeatAck,
    HeartbeatIn,
    HeartbeatOut,
    ImageFile,
    LoginRequest,
    LoginResponse,
    LotIn,
    LotOut,
    LotPatch,
    Me,
    Problem,
    PublicKeyIn,
    RecordOut,
    RecordStored,
    RecordSummary,
    StationCreate,
    StationCreated,
    StationKeyOut,
    StationOut,
    in_range,
)
from bench_agent.models.record import BenchRecord
from bench_agent.signing import key_id, public_key_from_text

DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024
# Why a record got 403, for the agent: "station-mismatch" and "key-mismatch" concern that
# record only (quarantine it); "no-key" means the station must enrol (stop sending).
REFUSAL_HEADER = "X-Bench-Refusal"
ONLINE_WINDOW = timedelta(seconds=120)
HEARTBEAT_WAIT_S = 0.025


class ValidationProblem(BaseModel):
    detail: list[dict[str, Any]]


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: _("no or invalid credentials"),
        403: _("not allowed for this caller"),
        404: _("not found"),
        409: _("conflict with what is stored"),
        413: _("body too large"),
        422: _("invalid body or parameter"),
        429: _("too many attempts: retry later"),
    }
    result: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        model = ValidationProblem if code == 422 else Problem
        result[code] = {"model": model, "description": described[code]}
    return result


router = APIRouter(prefix="/api/v1")


def store_of(request: Request) -> Store:
    return get_store(request)


def _404(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=what)


def invalid(field: tuple[str | int, ...], message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", *field), "msg": message, "type": "value_error", "input": None}]
    )


# --------------------------------------------------------------------------- health & login
@router.get("/health", response_model=Health, tags=["health"])
def health() -> Health:
    """Liveness check (no database access): the benchmark's baseline."""
    return Health(version=__version__)


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def checked_login(request: Request, name: str, password: str) -> tuple[str, Principal] | None:
    """``create_session`` with the app's throttle; 429/403 when refused unchecked."""
    try:
        return create_session(
            store_of(request),
            name,
            password,
            address=client_address(request),
            throttle=request.app.state.login_throttle,
        )
    except LoginRefused as exc:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else None
        raise HTTPException(exc.status_code, detail=exc.message, headers=headers) from exc


@router.post(
    "/login", response_model=LoginResponse, tags=["auth"], responses=responses(401, 403, 429)
)
def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
    """Log a supervisor or admin in: session token in the body and as a cookie.

    Wrong passwords are throttled per account and per client address (429 with
    ``Retry-After``); an account locked after too many is refused (403) until an admin unlocks it.
    """
    result = checked_login(request, body.name, body.password)
    if result is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=_("Unknown user or wrong password."),
            headers={"WWW-Authenticate": "Bearer"},
        )
    token, principal = result
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return LoginResponse(
        token=token,
        name=principal.name,
        role=principal.role,
        expires_at=utcnow() + SESSION_LIFETIME,
    )


@router.post("/logout", status_code=204, tags=["auth"])
def logout(request: Request, response: Response) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    if token:
        end_session(store_of(request), token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/me", response_model=Me, tags=["auth"], responses=responses(401))
def me(request: Request) -> Me:
    """Who the credentials belong to (a station token or a user session)."""
    from bench_agent.ledger.auth import station_from_token

    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    token = token or request.cookies.get(SESSION_COOKIE, "")
    store = store_of(request)
    principal: Principal | None = station_from_token(store, token) if token else None
    if principal is None and token:
        from bench_agent.ledger.auth import user_from_session_token

        principal = user_from_session_token(store, token)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=_("No valid credentials."),
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Me(kind=principal.kind, name=principal.name, role=principal.role)


# --------------------------------------------------------------------------------- records
async def _read_limited(request: Request, limit: int) -> bytes:
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        detail=_("The record is larger than {limit} bytes.", limit=limit),
    )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_record(raw: bytes) -> tuple[dict[str, Any], BenchRecord]:
    try:
        document = load_json(raw)
    except InputProblem as exc:
        raise RequestValidationError([exc.as_error()]) from exc
    if not isinstance(document, dict):
        raise RequestValidationError(
            [{"loc": ("body",), "msg": _("must be a JSON object"), "type": "dict_type"}]
        )
    try:
        record = BenchRecord.model_validate(document)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False, include_input=False):
            errors.append(
                {
                    "loc": ("body", *error["loc"]),
                    "msg": error["msg"],
                    "type": error["type"],
                }
            )
        raise RequestValidationError(errors) from exc
    try:
        check_id(record.record_id)
    except ValueError as exc:
        raise invalid(("record_id",), str(exc)) from exc
    return document, record


@router.post(
    "/records",
    response_model=RecordStored,
    status_code=201,
    tags=["records"],
    responses={
        200: {"model": RecordStored, "description": _("already stored with the same body")},
        **responses(401, 403, 409, 413, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/BenchRecord"}}
            },
        }
    },
)
async def post_record(request: Request, station: StationPrincipal) -> Any:
    """Store a signed bench record. Idempotent by ``record_id``.

    201 stored; 200 the same record was already stored (a retry); 409 the record_id is stored
    with another body; 403 the record names another station, or is signed by another key than
    the station enrolled; 422 invalid (``loc`` names the field; an unsigned record or a broken
    signature is ``["body", "signature"]``); 413 larger than the configured maximum.
    """
    limit: int = request.app.state.max_record_bytes
    raw = await _read_limited(request, limit)
    large = len(raw) > 256 * 1024  # keep the event loop free for heartbeats
    if large:
        document, record = await run_in_threadpool(_parse_record, raw)
    else:
        document, record = _parse_record(raw)
    if record.station != station.name:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=_(
                "Station '{caller}' cannot write a record for station '{station}'.",
                caller=station.name,
                station=record.station,
            ),
            headers={REFUSAL_HEADER: "station-mismatch"},
        )
    assert station.station_id is not None
    store = store_of(request)
    try:
        prepared = await _prepare(store, station, document, record, large)
        result: IngestResult = await asyncio.wrap_future(
            request.app.state.writer.submit(partial(write_record, prepared=prepared))
        )
    except RecordRejected as exc:
        if exc.status == 422:
            raise invalid(exc.loc, exc.message) from exc
        headers = {REFUSAL_HEADER: exc.reason} if exc.reason else None
        raise HTTPException(exc.status, detail=exc.message, headers=headers) from exc
    except IntegrityError:
        # Stored in the meantime by another server process: answer as for a retry.
        result = await run_in_threadpool(
            ingest_record, store, station.station_id, station.actor, document, record
        )
    body = RecordStored(
        id=result.id,
        record_id=result.record_id,
        status="stored" if result.created else "already_stored",
    )
    return Response(
        body.model_dump_json(),
        status_code=201 if result.created else 200,
        media_type="application/json",
    )


async def _prepare(
    store: Store, station: Principal, document: dict[str, Any], record: BenchRecord, large: bool
) -> PreparedRecord:
    """Check the signature against the station's enrolled key (cached a few seconds)."""
    assert station.station_id is not None
    for attempt in (0, 1):
        info = None if attempt else station_keys.get(station.station_id)
        if info is None:
            info = await run_in_threadpool(station_key_info, store, station.station_id)
            if info is None:
                raise RecordRejected(401, _("The station was removed."))
            station_keys.put(station.station_id, info)
        try:
            if large:
                return await run_in_threadpool(
                    prepare_record, info, station.actor, document, record
                )
            return prepare_record(info, station.actor, document, record)
        except RecordRejected as exc:
            # A key published a moment ago through another server process: look again.
            if attempt or exc.status not in (403, 422):
                raise
            station_keys.drop(station.station_id)
    raise AssertionError("unreachable")


def _summary(row: Record) -> RecordSummary:
    return RecordSummary.model_validate(row, from_attributes=True)


@router.get(
    "/records", response_model=list[RecordSummary], tags=["records"], responses=responses(401, 403)
)
def list_records(
    request: Request,
    _user: SupervisorPrincipal,
    station: str = "",
    lot: str = "",
    asset_tag: str = "",
    serial: str = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[RecordSummary]:
    """Newest first; filter by station, lot, asset tag or serial."""
    query = select(Record).order_by(Record.id.desc())
    for column, value in (
        (Record.station, station),
        (Record.lot, lot),
        (Record.asset_tag, asset_tag),
        (Record.serial, serial),
    ):
        if value:
            query = query.where(column == value)
    with store_of(request).session() as session:
        return [_summary(r) for r in session.scalars(query.limit(limit).offset(offset))]


@router.get(
    "/records/{record_id}",
    response_model=RecordOut,
    tags=["records"],
    responses=responses(401, 403, 404),
)
def get_record(request: Request, record_id: str, _user: SupervisorPrincipal) -> RecordOut:
    with store_of(request).session() as session:
        row = session.scalar(select(Record).where(Record.record_id == record_id))
        if row is None:
            raise _404(_("No record {record_id}.", record_id=record_id))
        return RecordOut(
            **_summary(row).model_dump(),
            body_sha256=row.body_sha256,
            key_id=row.key_id,
            document=row.document,
        )


# ------------------------------------------------------------------------------ heartbeats
@router.post(
    "/heartbeats",
    response_model=HeartbeatAck,
    tags=["stations"],
    responses=responses(401, 403),
)
async def post_heartbeat(
    request: Request, body: HeartbeatIn, station: StationPrincipal
) -> HeartbeatAck:
    """A station's live state (replaces the previous one)."""
    if body.station is not None and body.station != station.name:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=_(
                "Station '{caller}' cannot send the heartbeat of station '{station}'.",
                caller=station.name,
                station=body.station,
            ),
        )
    assert station.station_id is not None
    now = utcnow()
    values = {
        "received_at": now,
        "state": body.state,
        "step": body.step,
        "progress": body.progress,
        "rate": body.rate,
        "eta_s": body.eta_s,
        "operator": body.operator,
        "asset_tag": body.asset_tag,
        "queued": body.queued,
        "body": json.dumps(
            body.model_dump(mode="json", exclude={"station"}),
            separators=(",", ":"),
            ensure_ascii=False,
        ),
    }
    stored = request.app.state.heartbeats.put(station.station_id, values)
    # Normally the state is committed within a few milliseconds and the answer follows; when
    # the disk stalls, answer anyway: the state is accepted and stored when the writer resumes.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(stored)), HEARTBEAT_WAIT_S)
    return HeartbeatAck(station=station.name, received_at=now)


# -------------------------------------------------------------------------------- stations
def _heartbeat_out(row: Heartbeat | None) -> HeartbeatOut | None:
    if row is None:
        return None
    return HeartbeatOut(
        received_at=row.received_at,
        state=row.state,
        step=row.step,
        progress=row.progress,
        rate=row.rate,
        eta_s=row.eta_s,
        operator=row.operator,
        asset_tag=row.asset_tag,
        queued=row.queued,
        body=json.loads(row.body or "{}"),
    )


def station_out(row: Station, now: datetime | None = None) -> StationOut:
    now = now or utcnow()
    return StationOut(
        name=row.name,
        location=row.location,
        key_id=row.key_id,
        disabled=row.disabled,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        online=row.last_seen_at is not None and now - row.last_seen_at < ONLINE_WINDOW,
        heartbeat=_heartbeat_out(row.heartbeat),
    )


@router.get(
    "/stations", response_model=list[StationOut], tags=["stations"], responses=responses(401, 403)
)
def list_stations(request: Request, _user: SupervisorPrincipal) -> list[StationOut]:
    """Every station with its latest heartbeat and whether it is online (seen in 2 minutes)."""
    from sqlalchemy.orm import selectinload

    with store_of(request).session() as session:
        rows = session.scalars(
            select(Station).options(selectinload(Station.heartbeat)).order_by(Station.name)
        )
        return [station_out(r) for r in rows]


def create_station(store: Store, name: str, location: str, actor: str) -> str:
    """Create a station and return its token (shown once; only its hash is stored)."""
    token = new_station_token()
    with store.write() as session:
        if session.scalar(select(Station.id).where(Station.name == name)) is not None:
            raise BenchError(
                _("Station '{name}' already exists.", name=name),
                _("Choose another name, or list the stations with 'bench-ledger station list'."),
            )
        session.add(
            Station(name=name, location=location, token_hash=hash_token(token), created_by=actor)
        )
    return token


@router.post(
    "/stations",
    response_model=StationCreated,
    status_code=201,
    tags=["stations"],
    responses=responses(401, 403, 409),
)
def post_station(request: Request, body: StationCreate, admin: AdminPrincipal) -> StationCreated:
    """Create a station (admin); the token is shown in this answer only."""
    try:
        token = create_station(store_of(request), body.name, body.location, admin.actor)
    except (BenchError, IntegrityError) as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=_("Station '{name}' already exists.", name=body.name)
        ) from exc
    return StationCreated(name=body.name, token=token)


def _key_out(station: Station) -> StationKeyOut:
    published = station.keys[-1].published_at if station.keys else station.created_at
    return StationKeyOut(
        station=station.name,
        public_key=station.public_key or "",
        key_id=station.key_id or "",
        published_at=published,
    )


@router.get(
    "/stations/{name}/key",
    response_model=StationKeyOut,
    tags=["stations"],
    responses=responses(404),
)
def get_station_key(request: Request, name: str) -> StationKeyOut:
    """The station's published public key (public: anyone may verify certificates)."""
    with store_of(request).session() as session:
        row = session.scalar(select(Station).where(Station.name == name))
        if row is None or not row.public_key:
            raise _404(_("Station '{name}' has published no key.", name=name))
        return _key_out(row)


@router.post(
    "/stations/{name}/key",
    response_model=StationKeyOut,
    tags=["stations"],
    responses=responses(401, 403, 409, 422),
)
def publish_station_key(
    request: Request, name: str, body: PublicKeyIn, station: StationPrincipal
) -> StationKeyOut:
    """Publish the station's Ed25519 public key (the station's own token).

    The first key is accepted at enrolment; publishing the same key again changes nothing. A
    different key replaces the current one only with ``rotation_signature``, the current key's
    signature of the hand-over, or after an admin ran ``bench-ledger station reset-key NAME``
    (409 otherwise, ``X-Bench-Refusal: key-change``). A public key belongs to one station (409
    when another station published it).
    """
    if name != station.name:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=_(
                "Station '{caller}' cannot publish the key of station '{station}'.",
                caller=station.name,
                station=name,
            ),
        )
    try:
        key = public_key_from_text(body.public_key)
    except BenchError as exc:
        raise invalid(("public_key",), exc.message) from exc
    from bench_agent.signing import public_key_text

    text = public_key_text(key)
    kid = key_id(key)
    now = utcnow()
    with store_of(request).write() as session:
        row = session.get(Station, station.station_id)
        if row is None:
            raise _404(_("Station '{name}' was removed.", name=name))
        owner = session.scalar(
            select(Station.name)
            .join(StationKey, StationKey.station_id == Station.id)
            .where(StationKey.key_id == kid, Station.id != row.id)
            .limit(1)
        )
        if owner is not None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=_("This public key belongs to another station ({station}).", station=owner),
                headers={REFUSAL_HEADER: "key-taken"},
            )
        if row.public_key and row.public_key != text:
            _check_rotation(row.name, row.public_key, text, body.rotation_signature)
        if row.public_key != text:
            for old in row.keys:
                if old.retired_at is None:
                    old.retired_at = now
                    audit.append(session, old, station.actor)
            new_key = StationKey(station_id=row.id, key_id=kid, public_key=text, published_at=now)
            session.add(new_key)
            row.public_key = text
            row.key_id = kid
            audit.append(session, new_key, station.actor)
        station_keys.drop(row.id)
        session.flush()
        session.refresh(row)
        return _key_out(row)


def _check_rotation(station: str, current: str, new: str, signature: str | None) -> None:
    """A key change must be signed by the current key (409 otherwise)."""
    from bench_agent.signing import strict_b64decode
    from bench_agent.sync.enroll import rotation_statement

    refused = HTTPException(
        status.HTTP_409_CONFLICT,
        detail=_(
            "Station '{station}' already has another key: sign the change with the current "
            "key, or ask an admin to run 'bench-ledger station reset-key {station}'.",
            station=station,
        ),
        headers={REFUSAL_HEADER: "key-change"},
    )
    if not signature:
        raise refused
    try:
        public_key_from_text(current).verify(
            strict_b64decode(signature), rotation_statement(station, new)
        )
    except Exception as exc:  # bad base64 or a signature by another key: same answer
        raise refused from exc


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
            raise _404(_("No asset {asset_id}.", asset_id=asset_id))
        certificates = session.scalars(
            select(Certificate).where(Certificate.asset_id == row.id).order_by(Certificate.id)
        )
        return AssetHistory(
            **_asset_out(row).model_dump(),
            records=[_summary(r) for r in row.records],
            events=[event_out(e) for e in row.events],
            certificates=[_certificate_summary(c) for c in certificates],
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
        if session.scalar(select(Lot.id).where(Lot.code == body.code)) is not None:
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
            raise _404(_("No lot '{code}'.", code=code))
        return _lot_out(row)


@router.patch(
    "/lots/{code}", response_model=LotOut, tags=["lots"], responses=responses(401, 403, 404)
)
def patch_lot(request: Request, code: str, body: LotPatch, admin: AdminPrincipal) -> LotOut:
    with store_of(request).write() as session:
        row = session.scalar(select(Lot).where(Lot.code == code))
        if row is None:
            raise _404(_("No lot '{code}'.", code=code))
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
            raise _404(_("No lot '{code}'.", code=code))
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


# ---------------------------------------------------------------------------- certificates
def _certificate_summary(row: Certificate) -> CertificateSummary:
    return CertificateSummary(
        certificate_id=row.certificate_id,
        record_id=row.record.record_id,
        disk_serial=row.disk_serial,
        method=row.method,
        status=row.status,
        key_id=row.key_id,
        issued_at=row.issued_at,
    )


def _certificate(request: Request, certificate_id: str) -> Certificate:
    with store_of(request).session() as session:
        row = session.scalar(
            select(Certificate).where(Certificate.certificate_id == certificate_id)
        )
        if row is None:
            raise _404(_("No certificate {certificate_id}.", certificate_id=certificate_id))
        return row


@router.get(
    "/certificates/{certificate_id}.pdf",
    tags=["certificates"],
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **responses(401, 403, 404)},
)
def certificate_pdf(request: Request, certificate_id: str, _user: SupervisorPrincipal) -> Response:
    """The certificate as a PDF, for the donor."""
    from bench_agent.ledger.certificates import render_pdf

    row = _certificate(request, certificate_id)
    return Response(
        render_pdf(row.document),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{header_safe(row.certificate_id)}.pdf"'
        },
    )


@router.get(
    "/certificates/{certificate_id}",
    response_model=dict[str, Any],
    tags=["certificates"],
    responses=responses(401, 403, 404),
)
def certificate_json(
    request: Request, certificate_id: str, _user: SupervisorPrincipal
) -> dict[str, Any]:
    """The signed certificate document as the station issued it."""
    return _certificate(request, certificate_id).document


@router.post(
    "/certificates/verify",
    response_model=CertificateVerification,
    tags=["certificates"],
    responses=responses(422),
)
def verify_certificate(request: Request, document: dict[str, Any]) -> CertificateVerification:
    """Check a certificate (public): signed by a key a station of this ledger published?"""
    from bench_agent.ledger.ingest import certificate_id_of

    cert_id = certificate_id_of(document)
    with store_of(request).session() as session:
        stored = session.scalar(select(Certificate).where(Certificate.certificate_id == cert_id))
        known = stored is not None and stored.document == document
        judged = judge_certificate(
            session,
            document,
            station_id=stored.record.station_id if known and stored is not None else None,
            received_at=stored.issued_at if known and stored is not None else None,
        )
    reasons = {
        "unsigned": _("The certificate carries no signature."),
        "unknown-key": _(
            "The certificate is not signed by a key any station of this ledger published."
        ),
        "retired-key": _(
            "The certificate is signed by a key retired on {date}, and this ledger did not "
            "receive it before.",
            date=judged.retired_at.date().isoformat() if judged.retired_at else "",
        ),
    }
    return CertificateVerification(
        valid=judged.valid,
        certificate_id=cert_id,
        station=judged.station or None,
        key_id=judged.key_id or None,
        known=known,
        reason=judged.message or reasons.get(judged.reason, ""),
    )


# ---------------------------------------------------------------------------------- images
def _images_dir(request: Request) -> FilePath:
    path: FilePath = request.app.state.images_dir
    return path


@router.get("/images", response_model=list[ImageFile], tags=["images"])
def list_images(request: Request) -> list[ImageFile]:
    """The image files benches may download (public: the education master is free software)."""
    folder = _images_dir(request)
    if not folder.is_dir():
        return []
    result = []
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and not entry.name.startswith("."):
            stat = entry.stat()
            result.append(
                ImageFile(
                    name=entry.name,
                    size=stat.st_size,
                    modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
                )
            )
    return result


@router.get(
    "/images/{name}",
    tags=["images"],
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {
            "description": _("the requested byte range"),
            "content": {"application/octet-stream": {}},
        },
        404: {"model": Problem, "description": _("not found")},
        416: {"description": _("range not satisfiable")},
    },
)
def get_image(request: Request, name: str) -> FileResponse:
    """Download an image file; supports ``Range`` (resumable downloads)."""
    folder = _images_dir(request).resolve()
    path = (folder / name).resolve()
    if (
        "/" in name
        or name.startswith(".")
        or path.parent != folder
        or not path.is_file()
        or not os.access(path, os.R_OK)
    ):
        raise _404(_("No image file '{name}'.", name=name))
    return FileResponse(path, media_type="application/octet-stream", filename=name)


# Re-exported for the OpenAPI security schemes and for other modules of the ledger.
__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "bearer_scheme",
    "cookie_scheme",
    "create_lot",
    "create_station",
    "optional_user",
    "record_event",
    "router",
    "station_out",
]
