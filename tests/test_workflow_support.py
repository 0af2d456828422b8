"""Shared fixtures of the bench tests: the test master, loop disks, a real local ledger.

Imported by tests/test_run*.py, test_tui_pilot*.py and test_demo*.py. Nothing here is a fake:
the ledger is ``bench-ledger serve`` on 127.0.0.1 with a temporary SQLite database, the
station enrols with ``bench-agent enroll`` and delivers with ``bench-agent sync --once``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench_agent.adapters.demo import LocalLedger, local_ledger
from tests.conftest import FIXTURES, LoopFactory, require_root

ROOT = Path(__file__).parent.parent
EVIDENCE = FIXTURES / "evidence" / "pentium4-desktop"
BIN = Path(sys.executable).parent


def cli(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(BIN / "bench-agent"), "--lang", "en", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"bench-agent {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        )
    return done


# Session fixtures imported into several test modules get one instance per module; these
# caches make it one per session.
_SHARED: dict[str, Any] = {}


@pytest.fixture(scope="session")
def test_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test master built from scratch by scripts/build-test-master (a few seconds)."""
    if "images" in _SHARED:
        cached: Path = _SHARED["images"]
        return cached
    folder = tmp_path_factory.mktemp("images")
    subprocess.run(
        [str(ROOT / "scripts" / "build-test-master"), "--out", str(folder)],
        check=True,
        capture_output=True,
    )
    assert (folder / "test-master.toml").exists()
    _SHARED["images"] = folder
    return folder


@pytest.fixture
def images(test_master: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BENCH_AGENT_IMAGES", str(test_master))
    return test_master


def image_target_bytes(folder: Path) -> int:
    """The smallest loop device the test master fits on (rounded up to a MiB, 16 MiB spare)."""
    import tomllib

    entry = tomllib.loads((folder / "test-master.toml").read_text())
    need = int(entry.get("last_used_byte") or entry["image_size"]) + (16 << 20)
    return (need + (1 << 20) - 1) // (1 << 20) * (1 << 20)


@pytest.fixture
def bench_disks(make_loop: LoopFactory, images: Path) -> list[str]:
    """Two loop devices for the Pentium 4's two disks: the first takes the image."""
    require_root()
    return [str(make_loop(image_target_bytes(images))), str(make_loop(32 << 20))]


@pytest.fixture(scope="session")
def ledger_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLedger]:
    """One real ledger for the session (each test enrols its own station on it)."""
    if "ledger" in _SHARED:
        yield _SHARED["ledger"]
        return
    with local_ledger(tmp_path_factory.mktemp("ledger"), station="bench-0") as server:
        _SHARED["ledger"] = server
        yield server
    del _SHARED["ledger"]


_stations = itertools.count(1)


@pytest.fixture
def ledger(ledger_server: LocalLedger, agent_home: Path) -> LocalLedger:
    """The ledger, with this test's own station enrolled (its key published); the station's
    name is in the agent settings, so ``load_settings()`` gives it."""
    name = f"bench-{next(_stations)}"
    token = ledger_server.add_station(name)
    cli("enroll", "--ledger", ledger_server.url, "--token", token, "--station", name)
    return dataclasses.replace(ledger_server, token=token)


def sync_and_fetch(server: LocalLedger, record_id: str) -> dict[str, Any]:
    cli("sync", "--once")
    stored: dict[str, Any] = server.api("GET", f"/api/v1/records/{record_id}")
    return stored


def journal_state(home: Path) -> dict[str, Any] | None:
    path = home / "journal" / "machine" / "current.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None


def start_run_and_kill_mid_wipe(
    home: Path, disks: list[str], *args: str, step: str = "wipe"
) -> None:
    """Start ``bench-agent run --unattended`` and kill -9 it once the wipe (or the image,
    with ``step="image"``) has begun."""
    proc = subprocess.Popen(
        [str(BIN / "bench-agent"), "--lang", "en", "run", "--unattended", "--profile", "pentium4",
         "--evidence", str(EVIDENCE), "--disks", *disks, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = journal_state(home)
            if state and state.get(f"{step}_state") == "running":
                break
            if proc.poll() is not None:
                raise AssertionError(f"the run ended (exit {proc.returncode}) before the {step}")
            time.sleep(0.005)
        else:
            raise AssertionError(f"the {step} never started")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
