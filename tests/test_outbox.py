"""The outbox and sender on their own: durability, states, back-off bounds, best-effort calls."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bench_agent.config import load_settings, save_settings
from bench_agent.errors import BenchError
from bench_agent.retry import OUTBOX_MAX_S, outbox_delay
from bench_agent.signing import load_private_key, verify_document
from bench_agent.sync import ledger_status, post_heartbeat, submit_record, sync_once
from bench_agent.sync.outbox import Outbox
from tests.test_ledger_support import free_port, make_record


def test_outbox_keeps_records_across_reopen_and_tracks_states(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as outbox:
        assert outbox.put("r1", {"record_id": "r1", "n": 1})
        assert outbox.put("r2", {"record_id": "r2", "n": 2})
        assert not outbox.put("r1", {"record_id": "r1", "n": 99})  # already queued: kept as is
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    with Outbox(path) as outbox:
        assert [rid for rid, _ in outbox.pending()] == ["r1", "r2"]
        assert outbox.body("r1") == {"record_id": "r1", "n": 1}
        outbox.mark_sent("r1", 7)
        outbox.quarantine("r2", "409: different content")
        assert outbox.counts() == {"pending": 0, "sent": 1, "quarantined": 1}
        [entry] = outbox.entries()
        assert entry.record_id == "r2" and entry.last_error == "409: different content"
        assert outbox.requeue("r2") and not outbox.requeue("r2")
        assert outbox.queued() == 1


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    delays = [[outbox_delay(n) for _ in range(200)] for n in (1, 2, 3, 6, 30)]
    assert all(0.5 <= d <= 1.0 for d in delays[0])
    assert all(1.0 <= d <= 2.0 for d in delays[1])
    assert all(2.0 <= d <= 4.0 for d in delays[2])
    assert all(16.0 <= d <= 32.0 for d in delays[3])
    assert all(OUTBOX_MAX_S / 2 <= d <= OUTBOX_MAX_S for d in delays[4])
    assert len({round(d, 6) for d in delays[2]}) > 100  # jittered, not synchronised
    assert 0.5 <= outbox_delay(0) <= 1.0  # a first pass counts as the first failure
    assert OUTBOX_MAX_S / 2 <= outbox_delay(100_000) <= OUTBOX_MAX_S  # no overflow


def test_submit_record_signs_with_the_station_key_and_queues_without_a_ledger() -> None:
    settings = load_settings(station="bench-1")
    record = make_record(station="bench-1", n=3)
    assert submit_record(record, settings) == record.record_id
    with Outbox(settings.outbox_path) as outbox:
        document = outbox.body(record.record_id)
    assert document is not None
    verify_document(document, load_private_key(settings.key_path).public_key())
    assert document["signature"]["key_id"]
    assert ledger_status(settings) == (False, 1)


def test_best_effort_calls_never_raise_and_sync_needs_enrolment() -> None:
    assert post_heartbeat({"step": "wipe"}, load_settings()) is False  # not enrolled
    save_settings({"ledger_url": f"http://127.0.0.1:{free_port()}", "token": "bst_x"})
    assert (
        post_heartbeat({"step": "wipe", "progress": 3}, load_settings()) is False
    )  # nobody listening
    assert ledger_status(load_settings())[0] is False
    save_settings({"ledger_url": "", "token": ""})
    with pytest.raises(BenchError, match="not enrolled"):
        sync_once(load_settings())
