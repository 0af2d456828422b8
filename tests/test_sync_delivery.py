"""Never lose a record: outage, kill -9 while sending, conflicts, refused tokens (real server)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench_agent.config import load_settings
from bench_agent.errors import EXIT_UNAVAILABLE
from bench_agent.sync import ledger_status, post_heartbeat, submit_record, sync_once
from bench_agent.sync.enroll import enroll
from bench_agent.sync.outbox import Outbox
from bench_agent.sync.sender import AccessRefused
from tests.test_ledger_support import (
    Ledger,
    make_record,
    sqlite_ledger,  # noqa: F401 (the ledger fixture)
    start_ledger,
    wait_for,
)

BENCH_AGENT = [sys.executable, "-m", "bench_agent.cli.main"]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    running = start_ledger(request.param, tmp_path)
    try:
        yield running
    finally:
        running.server.stop()
        running.store.dispose()


def queue_records(count: int, start: int = 0) -> list[str]:
    settings = load_settings()
    return [
        submit_record(make_record(station=settings.station, n=start + i), settings, send_now=False)
        for i in range(count)
    ]


def stored_ids(ledger: Ledger) -> list[str]:
    from sqlalchemy import text

    with ledger.store.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT record_id FROM records"))]


def test_enroll_cli_publishes_the_key_and_checks_the_station(ledger: Ledger) -> None:
    wrong = subprocess.run(
        [
            *BENCH_AGENT,
            "enroll",
            "--ledger",
            ledger.url,
            "--token",
            ledger.tokens["bench-1"],
            "--station",
            "bench-2",
        ],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "bench-1" in wrong.stderr.splitlines()[0]
    bad = subprocess.run(
        [*BENCH_AGENT, "enroll", "--ledger", ledger.url, "--token", "bst_wrong"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == EXIT_UNAVAILABLE and bad.stderr.startswith("error: ")
    result = subprocess.run(
        [*BENCH_AGENT, "enroll", "--ledger", ledger.url, "--token", ledger.tokens["bench-1"]],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    settings = load_settings()
    assert settings.station == "bench-1" and settings.ledger_url == ledger.url
    assert oct(os.stat(settings.home / "agent.toml").st_mode & 0o777) == "0o600"
    from bench_agent.signing import load_private_key, public_key_text

    published = httpx.get(ledger.api("/stations/bench-1/key")).json()["public_key"]
    assert published == public_key_text(load_private_key(settings.key_path).public_key())


def test_outage_1000_records_are_all_stored_exactly_once(any_ledger: Ledger) -> None:
    ledger = any_ledger
    enroll(ledger.url, ledger.tokens["bench-1"], settings=load_settings())
    ledger.server.stop()
    ids = queue_records(1000)
    report = sync_once(load_settings())  # ledger down: nothing lost, nothing sent
    assert (
        report.delivered == 0 and report.remaining == 1000 and "cannot be reached" in report.error
    )
    assert ledger_status(load_settings()) == (False, 1000)
    assert post_heartbeat({"step": "wipe", "progress": 0.5}, load_settings()) is False
    ledger.server.start()
    report = sync_once(load_settings())
    assert report.sent == 1000 and report.remaining == 0 and not report.error
    assert sorted(stored_ids(ledger)) == sorted(ids)
    assert ledger.count("SELECT COUNT(DISTINCT record_id) FROM records") == 1000
    with Outbox(load_settings().outbox_path) as outbox:
        assert outbox.counts() == {"pending": 0, "sent": 1000, "quarantined": 0}
    # Running again sends nothing more.
    assert sync_once(load_settings()).delivered == 0
    assert ledger.count("SELECT COUNT(*) FROM records") == 1000


def test_agent_killed_while_sending_loses_and_duplicates_nothing(ledger: Ledger) -> None:
    enroll(ledger.url, ledger.tokens["bench-1"], settings=load_settings())
    ids = queue_records(1000)
    sender = subprocess.Popen(
        [*BENCH_AGENT, "sync", "--poll", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: ledger.count("SELECT COUNT(*) FROM records") >= 150, timeout=60)
    finally:
        sender.send_signal(signal.SIGKILL)
        sender.wait()
    stored_before = ledger.count("SELECT COUNT(*) FROM records")
    assert 150 <= stored_before < 1000, "the kill came too late to test anything"
    with Outbox(load_settings().outbox_path) as outbox:
        sent_marked = outbox.counts()["sent"]
    # The outbox may lag the ledger by the request in flight, never lead it.
    assert sent_marked <= stored_before
    result = subprocess.run([*BENCH_AGENT, "sync", "--once"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(stored_ids(ledger)) == sorted(ids)
    assert ledger.count("SELECT COUNT(*) FROM records") == 1000
    with Outbox(load_settings().outbox_path) as outbox:
        assert outbox.counts() == {"pending": 0, "sent": 1000, "quarantined": 0}


def test_conflict_is_quarantined_with_a_clear_message(ledger: Ledger) -> None:
    enroll(ledger.url, ledger.tokens["bench-1"], settings=load_settings())
    settings = load_settings()
    record = make_record(station="bench-1", n=1)
    # Another body under the same record_id reached the ledger first.
    from bench_agent.sync import sign_record

    other = sign_record(record.model_copy(update={"operator": "Max"}), settings)
    assert (
        httpx.post(ledger.api("/records"), json=other, headers=ledger.station_headers()).status_code
        == 201
    )
    submit_record(record, settings, send_now=False)
    good = queue_records(2, start=10)
    report = sync_once(load_settings())
    assert report.quarantined == 1 and report.sent == 2 and report.remaining == 0
    result = subprocess.run([*BENCH_AGENT, "outbox", "--json"], capture_output=True, text=True)
    listing = json.loads(result.stdout)
    assert listing["counts"] == {"pending": 0, "sent": 2, "quarantined": 1}
    entry = listing["records"][0]
    assert entry["record_id"] == record.record_id and entry["state"] == "quarantined"
    assert "409" in entry["last_error"] and "different content" in entry["last_error"]
    text = subprocess.run([*BENCH_AGENT, "outbox"], capture_output=True, text=True).stdout
    assert "1 quarantined" in text and record.record_id in text
    assert set(good) <= set(stored_ids(ledger))


def test_refused_token_stops_the_sender_and_keeps_the_records(ledger: Ledger) -> None:
    enroll(ledger.url, ledger.tokens["bench-1"], settings=load_settings())
    queue_records(3)
    from bench_agent.config import save_settings

    save_settings({"token": "bst_revoked"})
    with pytest.raises(AccessRefused):
        sync_once(load_settings())
    result = subprocess.run([*BENCH_AGENT, "sync", "--once"], capture_output=True, text=True)
    assert result.returncode == EXIT_UNAVAILABLE
    assert result.stderr.startswith("error: The ledger refused this station (401)")
    assert "Traceback" not in result.stderr
    with Outbox(load_settings().outbox_path) as outbox:
        assert outbox.queued() == 3


def test_submit_record_delivers_in_the_background_and_heartbeats_arrive(ledger: Ledger) -> None:
    enroll(ledger.url, ledger.tokens["bench-1"], settings=load_settings())
    record_id = submit_record(make_record(station="bench-1", n=42), load_settings())
    wait_for(lambda: record_id in stored_ids(ledger), timeout=20)
    wait_for(lambda: ledger_status(load_settings()) == (True, 0), timeout=20)
    started = time.monotonic()
    assert post_heartbeat(
        {
            "station": "bench-1",
            "step": "wipe",
            "progress": 0.25,
            "asset_tag": "AT-1",
            "training": False,
            "custom": 1,
        },
        load_settings(),
    )
    assert time.monotonic() - started < 2

    # The ledger answers within 25 ms even if its disk stalls; the state is stored right after.
    def listed() -> dict[str, Any]:
        rows = httpx.get(ledger.api("/stations"), headers=ledger.supervisor).json()
        return {s["name"]: s for s in rows}

    wait_for(lambda: listed()["bench-1"]["heartbeat"] is not None, timeout=10)
    stations = listed()
    beat = stations["bench-1"]["heartbeat"]
    assert beat["step"] == "wipe" and beat["progress"] == 0.25 and beat["queued"] == 0
    assert beat["body"]["extra"] == {"custom": 1}


def test_a_record_for_another_station_is_quarantined_not_blocking(ledger: Ledger) -> None:
    enroll(ledger.url, ledger.tokens["bench-1"], settings=load_settings())
    settings = load_settings()
    stray = make_record(station="bench-2", n=77)  # a misconfigured workflow
    submit_record(stray, settings, send_now=False)
    good = queue_records(2, start=80)
    report = sync_once(load_settings())
    assert report.quarantined == 1 and report.sent == 2 and report.remaining == 0
    with Outbox(settings.outbox_path) as outbox:
        [entry] = outbox.entries(("quarantined",))
    assert entry.record_id == stray.record_id and "(403)" in entry.last_error
    assert "bench-2" in entry.last_error
    assert set(good) <= set(stored_ids(ledger))
