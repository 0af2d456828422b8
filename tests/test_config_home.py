"""A settings object carries its own home: two stations' settings live in one process, each
writing to its own home, with no environment change (issue 12, finding 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_agent.config import AgentSettings, load_settings, save_settings
from bench_agent.sync import submit_record
from bench_agent.sync.outbox import Outbox
from tests.test_ledger_support import make_record


def test_two_homes_in_one_process_keep_their_own_settings_and_outboxes(
    tmp_path: Path, agent_home: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    save_settings({"station": "bench-a", "location": "Lyon"}, first)
    save_settings({"station": "bench-b", "home": "/elsewhere"}, second)
    a, b = AgentSettings(home=first), load_settings(home=second)
    assert (a.home, a.station, a.location) == (first, "bench-a", "Lyon")
    assert (b.home, b.station) == (second, "bench-b")  # the file cannot move its own home
    assert b.outbox_path == second / "outbox.sqlite" and a.key_path == first / "station.key"

    submit_record(make_record(station="bench-a", n=1), a, send_now=False)
    submit_record(make_record(station="bench-b", n=2), b, send_now=False)
    submit_record(make_record(station="bench-b", n=3), b, send_now=False)
    for home, queued in ((first, 1), (second, 2)):
        with Outbox(home / "outbox.sqlite") as outbox:
            assert outbox.queued() == queued
        assert (home / "station.key").exists()
    assert not (agent_home / "outbox.sqlite").exists()  # BENCH_AGENT_HOME's home untouched


def test_bench_agent_home_still_decides_the_default_home(
    agent_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_settings({"station": "from-env-home"})
    assert (agent_home / "agent.toml").exists()
    settings = load_settings()
    assert (settings.home, settings.station) == (agent_home, "from-env-home")
    monkeypatch.setenv("BENCH_AGENT_HOME", "")  # empty: the default home, as before
    assert load_settings().home in (
        Path("/var/lib/bench-agent"),
        Path.home() / ".local" / "share" / "bench-agent",
    )
