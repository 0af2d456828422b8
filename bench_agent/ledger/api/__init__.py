"""The ledger's JSON API under ``/api/v1`` (OpenAPI at ``/openapi.json``).

Status codes every client can rely on: 401 no or bad credentials, 403 authenticated but not
allowed (a station writing for another, a supervisor doing an admin's job), 404 unknown,
409 conflict (same record_id with another body, duplicate name), 413 body too large, 422 invalid
body (``detail[].loc`` names the field).

One module per resource; this package assembles their routes in the documented order.
"""

from __future__ import annotations

from fastapi import APIRouter

from bench_agent.ledger.api import certificates, machines, records, session, stations
from bench_agent.ledger.api.common import DEFAULT_MAX_RECORD_BYTES
from bench_agent.ledger.api.machines import create_lot, record_event
from bench_agent.ledger.api.stations import create_station, station_out
from bench_agent.ledger.auth import bearer_scheme, cookie_scheme, optional_user

router = APIRouter()
for _module in (session, records, stations, machines, certificates):
    router.include_router(_module.router)

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
