"""Signed bench records: store (idempotent by ``record_id``), list, read."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bench_agent.i18n import _
from bench_agent.ledger.api.common import (
    REFUSAL_HEADER,
    invalid,
    not_found,
    record_summary,
    responses,
    store_of,
)
from bench_agent.ledger.auth import (
    Principal,
    StationPrincipal,
    SupervisorPrincipal,
)
from bench_agent.ledger.db import Store
from bench_agent.ledger.ingest import (
    IngestResult,
    PreparedRecord,
    ingest_record,
    prepare_record,
    station_key_info,
    station_keys,
    write_record,
)
from bench_agent.ledger.inputs import InputProblem, check_id, load_json
from bench_agent.ledger.models import (
    Record,
)
from bench_agent.ledger.record_checks import RecordRejected
from bench_agent.ledger.schemas import (
    MAX_ID,
    RecordOut,
    RecordStored,
    RecordSummary,
)
from bench_agent.models.record import BenchRecord

router = APIRouter(prefix="/api/v1")


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
        return [record_summary(r) for r in session.scalars(query.limit(limit).offset(offset))]


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
            raise not_found(_("No record {record_id}.", record_id=record_id))
        return RecordOut(
            **record_summary(row).model_dump(),
            body_sha256=row.body_sha256,
            key_id=row.key_id,
            document=row.document,
        )
