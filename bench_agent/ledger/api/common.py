"""What the API's route modules share: status answers, refusal header, row → schema."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from bench_agent.i18n import _
from bench_agent.ledger.auth import (
    get_store,
)
from bench_agent.ledger.db import Store
from bench_agent.ledger.models import (
    Certificate,
    Record,
)
from bench_agent.ledger.schemas import (
    CertificateSummary,
    Problem,
    RecordSummary,
)

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
        410: _("revoked: its validation failed"),
        413: _("body too large"),
        422: _("invalid body or parameter"),
        429: _("too many attempts: retry later"),
    }
    result: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        model = ValidationProblem if code == 422 else Problem
        result[code] = {"model": model, "description": described[code]}
    return result


def store_of(request: Request) -> Store:
    return get_store(request)


def not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=what)


def invalid(field: tuple[str | int, ...], message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", *field), "msg": message, "type": "value_error", "input": None}]
    )


def record_summary(row: Record) -> RecordSummary:
    return RecordSummary.model_validate(row, from_attributes=True)


def certificate_summary(row: Certificate) -> CertificateSummary:
    return CertificateSummary(
        certificate_id=row.certificate_id,
        record_id=row.record.record_id,
        disk_serial=row.disk_serial,
        method=row.method,
        status=row.status,
        key_id=row.key_id,
        issued_at=row.issued_at,
    )
