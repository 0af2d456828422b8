"""Calls for help: a technician asks for the supervisor from the bench; the board shows it at
once and the supervisor acknowledges there; the bench then says help is coming.

A call lives in the ledger process (``desk_of(store)``) for as long as it matters (minutes):
it is not a record. ``POST /api/v1/help`` (station token) opens or repeats the station's call,
``GET /api/v1/help`` tells the bench whether it was acknowledged, and the supervisor answers
from ``/dashboard/help/{station}``. The board's rows carry the call (symbol, word, sound).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from bench_agent.ledger.auth import StationPrincipal
from bench_agent.ledger.db import Store

HelpState = Literal["none", "called", "acknowledged"]
# A call nobody answered stays on the board; an answered one goes after this long.
ANSWERED_SHOWN_S = 15 * 60


@dataclass
class HelpCall:
    station: str
    called_at: datetime
    operator: str = ""
    asset_tag: str = ""
    step: str = ""
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""
    nonce: str = ""  # proves an acknowledgement came from the page shown to a supervisor

    @property
    def state(self) -> HelpState:
        return "acknowledged" if self.acknowledged_at else "called"


class HelpDesk:
    """The open calls of one ledger, by station name (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, HelpCall] = {}

    def call(self, station: str, operator: str, asset_tag: str, step: str) -> HelpCall:
        with self._lock:
            current = self._calls.get(station)
            if current is not None and current.state == "called":
                return current  # pressed again while waiting: the same call
            new = HelpCall(
                station,
                datetime.now(UTC),
                operator=operator,
                asset_tag=asset_tag,
                step=step,
                nonce=secrets.token_urlsafe(24),
            )
            self._calls[station] = new
            return new

    def get(self, station: str) -> HelpCall | None:
        with self._lock:
            call = self._calls.get(station)
            if (
                call is not None
                and call.acknowledged_at is not None
                and (datetime.now(UTC) - call.acknowledged_at).total_seconds() > ANSWERED_SHOWN_S
            ):
                del self._calls[station]
                return None
            return call

    def acknowledge(self, station: str, nonce: str, who: str) -> HelpCall | None:
        with self._lock:
            call = self._calls.get(station)
            if call is None or not secrets.compare_digest(call.nonce, nonce):
                return None
            if call.acknowledged_at is None:
                call.acknowledged_at = datetime.now(UTC)
                call.acknowledged_by = who
            return call

    def states(self) -> dict[str, HelpState]:
        with self._lock:
            names = list(self._calls)
        return {name: call.state for name in names if (call := self.get(name)) is not None}


_desks_lock = threading.Lock()


def desk_of(store: Store) -> HelpDesk:
    """The help desk of the ledger that owns ``store`` (the board reads it beside the store)."""
    with _desks_lock:
        desk = getattr(store, "_help_desk", None)
        if not isinstance(desk, HelpDesk):
            desk = HelpDesk()
            setattr(store, "_help_desk", desk)  # noqa: B010 - Store knows nothing of help
        return desk


# ------------------------------------------------------------------------------ station API
class HelpIn(BaseModel):
    operator: str = Field(default="", max_length=100)
    asset_tag: str = Field(default="", max_length=100)
    step: str = Field(default="", max_length=200)


class HelpOut(BaseModel):
    station: str
    state: HelpState
    called_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""


def _out(station: str, call: HelpCall | None) -> HelpOut:
    if call is None:
        return HelpOut(station=station, state="none")
    return HelpOut(
        station=station,
        state=call.state,
        called_at=call.called_at,
        acknowledged_at=call.acknowledged_at,
        acknowledged_by=call.acknowledged_by,
    )


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


router = APIRouter(prefix="/api/v1", tags=["help"])


@router.post("/help", response_model=HelpOut)
def call_for_help(request: Request, body: HelpIn, station: StationPrincipal) -> HelpOut:
    """The technician at this station asks for the supervisor (repeating it keeps one call)."""
    call = desk_of(_store(request)).call(station.name, body.operator, body.asset_tag, body.step)
    return _out(station.name, call)


@router.get("/help", response_model=HelpOut)
def help_state(request: Request, station: StationPrincipal) -> HelpOut:
    """Whether this station's call was acknowledged, and by whom."""
    return _out(station.name, desk_of(_store(request)).get(station.name))
