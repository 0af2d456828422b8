"""The one durable atomic write (bench_agent.durable) and the TOML files written through it."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from bench_agent.durable import atomic_write


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "journal.json"
    atomic_write(target, "first")
    atomic_write(target, b"second \xc3\xa9")
    assert target.read_text(encoding="utf-8") == "second é"
    assert sorted(p.name for p in target.parent.iterdir()) == ["journal.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_atomic_write_keeps_the_old_file_and_removes_its_temporary_on_failure(
    tmp_path: Path,
) -> None:
    target = tmp_path / "here" / "busy"
    target.mkdir(parents=True)  # os.replace of a file over a directory fails
    (target / "inside").write_text("kept")
    with pytest.raises(OSError):
        atomic_write(target, "new")
    assert (target / "inside").read_text() == "kept"
    assert sorted(p.name for p in target.parent.iterdir()) == ["busy"]


def test_atomic_write_mode_is_exact_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        path = atomic_write(tmp_path / "entry.toml", "a = 1\n", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_saved_settings_round_trip_through_tomli_w(agent_home: Path) -> None:
    from bench_agent.config import save_settings, settings_file

    tricky = 'C:\\bench "east" — atelier\nsecond line'
    save_settings({"station": tricky, "location": "Besançon", "port": 8080, "flag": True})
    save_settings({"ratio": 0.25, "where": agent_home / "x"})
    data = tomllib.loads(settings_file().read_text(encoding="utf-8"))
    assert data == {
        "station": tricky,
        "location": "Besançon",
        "port": 8080,
        "flag": True,
        "ratio": 0.25,
        "where": str(agent_home / "x"),
    }
    assert [p.name for p in agent_home.iterdir()] == ["agent.toml"]
