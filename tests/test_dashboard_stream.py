"""The board's live stream (``/dashboard/events``) as the page's EventSource reads it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bench_agent.ledger.app import create_app
from bench_agent.ledger.dashboard.seed import Seeded, seed_demo
from bench_agent.ledger.db import Store
from tests.test_ledger_support import dashboard_login


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, Seeded]]:
    monkeypatch.setenv("BENCH_DASHBOARD_STREAM_MAX_S", "0.5")  # the stream ends by itself
    store = Store(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    store.upgrade()
    yield store, seed_demo(store, stations=3, assets=10, lots=1, seed=7)
    store.dispose()


def events_of(text: str) -> list[dict[str, str]]:
    """The stream cut into events (blank-line separated), each a field -> value mapping."""
    events = []
    for block in text.split("\n\n"):
        if not block:
            continue
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _sep, value = line.partition(": ")
            fields[name] = value
        events.append(fields)
    return events


def test_the_stream_sends_every_row_then_the_summary_then_says_bye(
    seeded: tuple[Store, Seeded],
) -> None:
    store, data = seeded
    with TestClient(create_app(store)) as http:
        assert http.get("/dashboard/events").status_code == 401
        assert dashboard_login(http, *data.supervisor).status_code == 303
        with http.stream("GET", "/dashboard/events?lang=en") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            text = "".join(response.iter_text())
    assert "\r" not in text  # LF-framed, as before
    events = events_of(text)
    assert events[0] == {"retry": "2000"}
    rows = [e for e in events if e.get("event") == "station"]
    # every station's row first (the snapshot), then changes as they come
    snapshot = [json.loads(e["data"])["id"] for e in events[1 : 1 + len(data.tokens)]]
    assert sorted(snapshot) == sorted(f"station-{name}" for name in data.tokens)
    assert all(re.search(r"<tr[ >]", json.loads(e["data"])["html"]) for e in rows)
    summary = [e for e in events if e.get("event") == "summary"]
    assert summary and json.loads(summary[0]["data"])["id"] == "summary"
    assert events[-1] == {"event": "bye", "data": "{}"}
