"""``bench-agent station`` (issue 15 item 3): loop devices attached while it runs are seen through
udev (udevd is started here if none runs), wiped at once and certified; a loop device outside
the named directory is refused; a disk that stops answering and is announced removed mid-wipe
ends aborted, with no certificate."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench_agent.devices.udev import udevd_running
from bench_agent.sanitize import verify_certificate
from tests.conftest import LoopFactory, require_root, require_tool
from tests.test_wipe_faultyfs import IMAGE

pytestmark = pytest.mark.device

MiB = 1 << 20
ROOT = Path(__file__).parent.parent
UDEVD = "/lib/systemd/systemd-udevd"


@pytest.fixture
def udevd() -> Iterator[None]:
    """udevd running for the test (started, and stopped afterwards, when none runs)."""
    require_root()
    if udevd_running():
        yield
        return
    if not Path(UDEVD).exists():
        pytest.fail(f"{UDEVD} is missing: install the 'udev' package (scripts/setup)")
    proc = subprocess.Popen([UDEVD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not udevd_running():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("systemd-udevd did not start")
        time.sleep(0.05)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Station:
    """``bench-agent station --json`` in a subprocess, its events read on a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench_agent.cli.main", "station", "--json", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.events.put(json.loads(line))

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> dict[str, Any]:
        # An event may have come while waiting for another one (two disks finish in any order).
        for event in self.seen:
            if predicate(event):
                return event
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                pytest.fail(f"station event not seen; events: {self.seen}")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(event)
            if predicate(event):
                return event

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stderr.read() if self.proc.stderr else ""


def finished(device: Path) -> Any:
    return lambda e: e["event"] == "finished" and e["device"] == str(device)


def test_disks_plugged_in_while_the_station_runs_are_wiped_and_certified(
    make_loop: LoopFactory, udevd: None, tmp_path: Path, agent_home: Path
) -> None:
    reports = tmp_path / "reports"
    present = make_loop(8 * MiB, fill="random")  # there before the station starts
    before = present.read_bytes()
    station = Station(
        "--profile", "test-bench", "--report-dir", str(reports),
        "--loop-backing-dir", str(tmp_path), "--validation", "always",
    )  # fmt: skip
    try:
        assert station.wait_for(lambda e: e["event"] == "watching")["source"] == "udev"
        # An event about a disk already there (a partition re-read, udev's watch) takes nothing.
        Path(f"/sys/block/{present.name}/uevent").write_text("change")
        # A loop device elsewhere (another test, the system) is never taken.
        outside = tmp_path.parent / f"{tmp_path.name}-outside.img"
        outside.write_bytes(os.urandom(MiB))
        foreign = subprocess.run(
            ["losetup", "--find", "--show", str(outside)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        try:
            refused = station.wait_for(lambda e: e["event"] == "refused" and e["device"] == foreign)
            assert "loop device" in refused["detail"]
        finally:
            subprocess.run(["losetup", "-d", foreign], capture_output=True)
            outside.unlink()
        assert outside.exists() is False
        # Two disks plugged in one after the other: both run at once.
        first = make_loop(24 * MiB, fill="random")
        second = make_loop(24 * MiB, fill="random")
        done = {dev: station.wait_for(finished(dev), timeout=120) for dev in (first, second)}
    finally:
        stderr = station.stop()
    assert "Traceback" not in stderr, stderr
    assert present.read_bytes() == before
    assert not [e for e in station.seen if e.get("device") == str(present)]
    wiping = [e for e in station.seen if e["event"] == "wiping"]
    # Only these two (the refused device's name may be reused by one of them afterwards).
    assert sorted(e["device"] for e in wiping) == sorted([str(first), str(second)])
    for dev, event in done.items():
        assert event["state"] == "erased", event
        assert event["certificate_id"]
        # They arrived full of random data; the loop plan is a zero overwrite.
        assert event["method"] == "zero"
        assert dev.read_bytes() == bytes(24 * MiB)
    certificates = sorted(reports.glob("*.cert.json"))
    assert len(certificates) == 2
    for path in certificates:
        cert = verify_certificate(path)
        assert cert["standard"] == "NIST SP 800-88 Rev. 2"
        assert cert["media"]["device"] in {str(first), str(second)}
    assert len(list(reports.glob("*.validation.json"))) == 2
    # Each disk is a signed record in the outbox, its certificate inside, like a bench's.
    from bench_agent.sync.outbox import Outbox

    with Outbox(agent_home / "outbox.sqlite") as outbox:
        bodies = [outbox.body(entry.record_id) for entry in outbox.entries()]
    assert len(bodies) == 2
    assert sorted(b["certificates"][0]["media"]["device"] for b in bodies if b) == sorted(
        [str(first), str(second)]
    )


def test_a_disk_pulled_mid_wipe_is_aborted_without_certificate(
    udevd: None, tmp_path: Path, agent_home: Path
) -> None:
    """The disk is a loop device over a FUSE file: killing the FUSE server makes every I/O
    fail (as a pulled USB disk does) and the kernel then announces its removal (the uevent a
    real unplug sends; a loop device cannot really vanish while it is open)."""
    require_tool("losetup")
    if not Path("/dev/fuse").exists():
        pytest.fail("this test needs /dev/fuse (FUSE in the kernel)")
    size = 48 * MiB
    backing = tmp_path / "pulled.img"
    backing.write_bytes(os.urandom(size))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.test_wipe_faultyfs", str(mnt), str(backing),
         "--delay-ms", "15"],
        cwd=ROOT, stderr=subprocess.PIPE,
    )  # fmt: skip
    dev = ""
    reports = tmp_path / "reports"
    station = Station(
        "--profile", "test-bench", "--report-dir", str(reports),
        "--loop-backing-dir", str(tmp_path), "--validation", "skip",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not (mnt / IMAGE).exists():
            assert server.poll() is None and time.monotonic() < deadline, "FUSE did not start"
            time.sleep(0.05)
        station.wait_for(lambda e: e["event"] == "watching")
        dev = subprocess.run(
            ["losetup", "--find", "--show", str(mnt / IMAGE)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        Path(f"/sys/block/{Path(dev).name}/queue/max_sectors_kb").write_text("128")
        station.wait_for(lambda e: e["event"] == "wiping" and e["device"] == dev)
        time.sleep(1.5)  # well into the write pass (about 10 s at this speed)
        server.kill()  # the disk stops answering...
        server.wait()
        Path(f"/sys/block/{Path(dev).name}/uevent").write_text("remove")  # ...and is gone
        event = station.wait_for(finished(Path(dev)), timeout=120)
    finally:
        stderr = station.stop()
        if dev:
            subprocess.run(["losetup", "-d", dev], capture_output=True)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        if server.poll() is None:
            server.kill()
    assert "Traceback" not in stderr, stderr
    assert any(e["event"] == "removed-mid-wipe" for e in station.seen), station.seen
    assert event["state"] == "aborted", event
    assert "removed" in event["detail"] and not event["certificate_id"]
    assert not list(reports.glob("*.cert.*"))
    (report_file,) = reports.glob("*.wipe.json")
    report = json.loads(report_file.read_text())
    assert report["status"] == "aborted" and report["certificate_id"] == ""
    from bench_agent.sync.outbox import Outbox

    with Outbox(agent_home / "outbox.sqlite") as outbox:
        (entry,) = outbox.entries()
        body = outbox.body(entry.record_id)
    assert body is not None and body["certificates"] == []
    assert body["wipes"][0]["status"] == "aborted"
    assert shutil.which("losetup")
