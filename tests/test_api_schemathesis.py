"""schemathesis against the ledger's published OpenAPI spec: no 5xx, responses match the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.test_ledger_support import Ledger, start_ledger

STATION_OPERATIONS = {
    ("POST", "/api/v1/records"),
    ("POST", "/api/v1/heartbeats"),
    ("POST", "/api/v1/stations/{name}/key"),
    ("POST", "/api/v1/help"),
    ("GET", "/api/v1/help"),
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def running_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    ledger = start_ledger("sqlite", tmp_path_factory.mktemp("schemathesis"))
    (ledger.server.app.state.images_dir).mkdir(parents=True, exist_ok=True)
    (ledger.server.app.state.images_dir / "edu.img").write_bytes(b"x" * 4096)
    try:
        yield ledger
    finally:
        ledger.server.stop()
        ledger.store.dispose()


@pytest.fixture(scope="module")
def ledger_schema(running_ledger: Ledger) -> Any:
    return schemathesis.openapi.from_url(f"{running_ledger.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("ledger_schema")


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_spec(case: Any, running_ledger: Ledger) -> None:
    key = (case.method.upper(), case.path)
    if key == ("POST", "/api/v1/logout"):
        headers: dict[str, str] = {}  # do not end the admin session the other cases use
    elif key in STATION_OPERATIONS:
        headers = running_ledger.station_headers()
    else:
        headers = running_ledger.admin
    case.call_and_validate(base_url=running_ledger.url, headers=headers, checks=CHECKS)
