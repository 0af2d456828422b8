"""The validation programme, ledger side (NIST SP 800-88 Rev. 2; R2v3 asks for >= 5 %): the
share of wiped disks the stations re-check, published to them, and the coverage over a period
(disks certified, drawn, validated, passed, failed — failures listed by certificate).

The rate is the ledger's setting ``BENCH_LEDGER_VALIDATION_RATE`` (a share, default 0.05).
Stations fetch it (``GET /api/v1/validation/policy``), keep it, and draw at it when offline;
each record says where its rate came from. The signed validation results travel in the
records (each wipe report's ``extra.validation.document``), tied to their certificate.

This module computes and serves (the API router the app factory includes); the command line
over it (``bench-ledger validation report``) is validation_cmd, above it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from bench_agent.ledger.auth import SupervisorPrincipal
from bench_agent.ledger.settings import ledger_settings
from bench_agent.models.record import BenchRecord

_STARTED = datetime.now(UTC)


def published_rate() -> float:
    """The share of wiped disks drawn for validation (``BENCH_LEDGER_VALIDATION_RATE``)."""
    return ledger_settings().validation_rate


class ValidationPolicyOut(BaseModel):
    rate: float = Field(description="share of wiped disks to validate (0..1)")
    published_at: str = Field(description="since when this ledger publishes this rate")


class ValidationFailure(BaseModel):
    certificate_id: str
    serial: str
    device: str
    station: str
    record_id: str
    wiped_by: str
    validator: str
    detail: str


class ValidationCoverage(BaseModel):
    period_from: date
    period_to: date
    rate: float
    disks_certified: int = 0  # certificates issued (including those a validation revoked)
    drawn: int = 0
    validated: int = 0
    passed: int = 0
    failed: int = 0
    not_checked: int = 0  # drawn, but the check could not run (says why in the record)
    independent: int = 0  # validated by another operator than the one who wiped
    unverifiable: int = 0  # a validation result whose signature does not verify
    drawn_offline: int = 0  # drawn at a cached or default rate (the ledger unreachable)
    coverage_percent: float = 0.0
    failures: list[ValidationFailure] = Field(default_factory=list)


def _record_day(record: BenchRecord) -> date | None:
    from bench_agent.ledger.reports import record_time

    when = record_time(record)
    return when.date() if when else None


def validation_coverage(
    records: Iterable[BenchRecord], *, start: date, end: date, rate: float | None = None
) -> ValidationCoverage:
    """Coverage for ``start``..``end`` (both included), each certificate counted once."""
    from bench_agent.signing import verify_document

    out = ValidationCoverage(
        period_from=start, period_to=end, rate=published_rate() if rate is None else rate
    )
    seen: set[str] = set()
    for record in records:
        day = _record_day(record)
        if record.training or day is None or not start <= day <= end:
            continue
        for wipe in record.wipes:
            validation = wipe.extra.get("validation") or {}
            document = validation.get("document") or {}
            certificate_id = wipe.certificate_id or str(document.get("certificate_id") or "")
            if not certificate_id or certificate_id in seen:
                continue
            seen.add(certificate_id)
            certified = wipe.status in ("erased", "erased_with_exceptions") or bool(document)
            if not certified:
                continue
            out.disks_certified += 1
            draw = wipe.extra.get("validation_draw") or {}
            if not draw.get("selected"):
                continue
            out.drawn += 1
            if draw.get("source") in ("cached", "default"):
                out.drawn_offline += 1
            if not document:
                out.not_checked += 1
                continue
            try:
                verify_document(document)
            except Exception:
                out.unverifiable += 1
                continue
            out.validated += 1
            if document.get("independent_operator"):
                out.independent += 1
            if document.get("certificate_status") == "valid":
                out.passed += 1
                continue
            out.failed += 1
            out.failures.append(
                ValidationFailure(
                    certificate_id=certificate_id,
                    serial=wipe.serial,
                    device=wipe.device,
                    station=record.station,
                    record_id=record.record_id,
                    wiped_by=str(document.get("wiped_by", "")),
                    validator=str(document.get("validator", "")),
                    detail=str(document.get("check", {}).get("detail", "")),
                )
            )
    if out.disks_certified:
        out.coverage_percent = round(100.0 * out.validated / out.disks_certified, 2)
    return out


def load_coverage(
    store: Any, *, start: date, end: date, lot: str | None = None
) -> ValidationCoverage:
    from sqlalchemy import select

    from bench_agent.ledger.models import Record

    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
    until = datetime.combine(end, datetime.min.time(), tzinfo=UTC) + timedelta(days=2)
    records: list[BenchRecord] = []
    with store.session() as session:
        query = select(Record.body).where(Record.created_at >= since, Record.created_at < until)
        for body in session.scalars(query):
            try:
                record = BenchRecord.model_validate_json(body)
            except ValueError:
                continue
            if lot is None or record.lot == lot:
                records.append(record)
    return validation_coverage(records, start=start, end=end)


# -- API ------------------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1/validation", tags=["validation"])


@router.get("/policy", response_model=ValidationPolicyOut)
def get_policy() -> ValidationPolicyOut:
    """The share of wiped disks the stations validate (public: it is no secret, and a station
    fetches it before it is enrolled)."""
    return ValidationPolicyOut(rate=published_rate(), published_at=_STARTED.isoformat())


@router.get("/coverage", response_model=ValidationCoverage)
def get_coverage(
    request: Request,
    _user: SupervisorPrincipal,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
) -> ValidationCoverage:
    """Validation coverage over a period, with every failure (supervisor)."""
    return load_coverage(request.app.state.store, start=start, end=end)
