"""Closing or killing the terminal of a training session leaves no loop device or folder.

A real ``bench-agent tui --training`` runs in a pseudo-terminal as root (real throwaway loop
devices); it is sent SIGHUP (the terminal closed) or SIGTERM (killed) while the app is on
screen, and ``losetup`` must then list none of its disks and its folder must be gone.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import require_root, require_tool

pytestmark = [pytest.mark.device]

BENCH_AGENT = Path(sys.executable).with_name("bench-agent")


def training_loops(folder: Path) -> list[str]:
    listing = subprocess.run(["losetup", "-J"], capture_output=True, text=True, check=True)
    if not listing.stdout.strip():
        return []
    devices = json.loads(listing.stdout).get("loopdevices", [])
    return [d["name"] for d in devices if str(folder) in (d.get("back-file") or "")]


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["hup", "term"])
def test_a_killed_training_session_removes_its_disks(tmp_path: Path, signum: int) -> None:
    require_root()
    require_tool("losetup")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "TERM": "linux", "BENCH_LANG": "en"}
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [str(BENCH_AGENT), "tui", "--training"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    screen = bytearray()

    def drain() -> None:  # a full pty would block the app
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            screen.extend(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while b"TRAINING" not in screen and b"FORMATION" not in screen:
            assert child.poll() is None, f"the app ended early:\n{bytes(screen)[-2000:]!r}"
            assert time.monotonic() < deadline, f"no app on screen:\n{bytes(screen)[-2000:]!r}"
            time.sleep(0.1)
        loops = training_loops(scratch)
        assert len(loops) == 2, loops
        folders = list(scratch.iterdir())
        assert len(folders) == 1 and folders[0].name.startswith("bench-training-")
        child.send_signal(signum)
        code = child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
        left = training_loops(scratch)
        for loop in left:  # the test's own leftovers never outlive it, whatever happened
            subprocess.run(["losetup", "-d", loop], check=False)
    assert code != 0  # killed, not a normal end
    assert left == []
    assert list(scratch.iterdir()) == []
