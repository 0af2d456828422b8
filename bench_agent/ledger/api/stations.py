"""Stations: heartbeats, listing, creation, published keys and their rotation."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bench_agent.errors import BenchError
from bench_agent.i18n import _
from bench_agent.ledger import audit
from bench_agent.ledger.api.common import (
    HEARTBEAT_WAIT_S,
    ONLINE_WINDOW,
    REFUSAL_HEADER,
    invalid,
    not_found,
    responses,
    store_of,
)
from bench_agent.ledger.auth import (
    AdminPrincipal,
    StationPrincipal,
    SupervisorPrincipal,
    hash_token,
    new_station_token,
)
from bench_agent.ledger.db import Store
from bench_agent.ledger.ingest import (
    station_keys,
)
from bench_agent.ledger.models import (
    HEARTBEAT_FIELD_COLUMNS,
    Heartbeat,
    Station,
    StationKey,
    utcnow,
)
from bench_agent.ledger.schemas import (
    HeartbeatAck,
    HeartbeatIn,
    HeartbeatOut,
    PublicKeyIn,
    StationCreate,
    StationCreated,
    StationKeyOut,
    StationOut,
)
from bench_agent.ledger.sites import programme_wide
from bench_agent.signing import key_id, public_key_from_text

router = APIRouter(prefix="/api/v1")


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
        **{name: getattr(body, name) for name in HEARTBEAT_FIELD_COLUMNS},
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
        **{name: getattr(row, name) for name in HEARTBEAT_FIELD_COLUMNS},
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
        if programme_wide(session, select(Station.id).where(Station.name == name)) is not None:
            raise BenchError(
                _("Station '{name}' already exists.", name=name),
                _("Choose another name, or list the stations with 'bench-ledger station list'."),
            )
        row = Station(name=name, location=location, token_hash=hash_token(token), created_by=actor)
        session.add(row)
        audit.append(session, row, actor)
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
            raise not_found(_("Station '{name}' has published no key.", name=name))
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
            raise not_found(_("Station '{name}' was removed.", name=name))
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
            audit.append(session, row, station.actor)
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
