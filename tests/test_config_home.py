"""A settings object carries its own home: two stations' settings live in one process, each
writing to its own home, with no environment change (issue 12, finding 6)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench_agent.config import AgentSettings, load_settings, save_settings
from bench_agent.errors import InputError
from bench_agent.imaging import load_catalogue, station_images_dir
from bench_agent.imaging.catalogue import write_entry
from bench_agent.sync import submit_record
from bench_agent.sync.outbox import Outbox
from bench_agent.tui.operators import default_operator, list_operators, load_operator
from bench_agent.workflow.engines import station_catalogue
from tests.test_catalogue import _entry
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


def test_two_homes_in_one_process_keep_their_own_images_and_operators(
    tmp_path: Path, agent_home: Path
) -> None:
    first, second = AgentSettings(home=tmp_path / "first"), AgentSettings(home=tmp_path / "second")
    write_entry(_entry("edu-first"), first.home / "images" / "edu-first.toml")
    write_entry(_entry("edu-second", "i686"), second.home / "images" / "edu-second.toml")
    (first.home / "operators").mkdir()
    (first.home / "operators" / "marie.toml").write_text(
        'display_name = "Marie"\nbounce_ms = 300\n'
    )
    before = dict(os.environ)

    assert station_images_dir(first) == first.home / "images"
    assert [e.name for e in load_catalogue(station_images_dir(first))] == ["edu-first"]
    assert [e.name for e in station_catalogue(second)] == ["edu-second"]  # the workflow's engine
    elsewhere = tmp_path / "elsewhere"
    write_entry(_entry("edu-named"), elsewhere / "edu-named.toml")
    named = AgentSettings(home=second.home, images=elsewhere)  # the images setting wins
    assert [e.name for e in station_catalogue(named)] == ["edu-named"]

    assert load_operator("marie", first.home).bounce_ms == 300
    assert default_operator("marie", "en", first.home).display_name == "Marie"
    with pytest.raises(InputError, match="marie"):
        load_operator("marie", second.home)
    assert default_operator("marie", "en", second.home).bounce_ms == 0  # workshop defaults
    assert "marie" in {p.name for p in list_operators(first.home)}
    assert "marie" not in {p.name for p in list_operators(second.home)}
    # Nothing was looked up in, or written to, BENCH_AGENT_HOME's home; no variable changed.
    assert not (agent_home / "images").exists() and not (agent_home / "operators").exists()
    assert dict(os.environ) == before
