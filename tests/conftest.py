"""Shared fixtures: a private agent home, and loop devices created and removed by the test."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

# The QEMU tests' session fixtures (live roots built once for every vm module).
pytest_plugins = ["tests.vm_support"]


@pytest.fixture(autouse=True)
def agent_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own station home and English output unless it asks otherwise."""
    home = tmp_path / "agent-home"
    home.mkdir()
    monkeypatch.setenv("BENCH_AGENT_HOME", str(home))
    monkeypatch.setenv("BENCH_LANG", "en")
    from bench_agent import i18n

    monkeypatch.setattr(i18n, "_language", None)
    return home


def require_root() -> None:
    """Device tests need root; fail loudly (never skip) when it is missing."""
    if os.geteuid() != 0:
        pytest.fail("this test creates loop/dm devices and must run as root (see README)")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"required tool '{name}' is not installed; run scripts/setup")
    return path


LoopFactory = Callable[..., Path]


@pytest.fixture
def make_loop(tmp_path: Path) -> Iterator[LoopFactory]:
    """Create loop devices backed by files in ``tmp_path``; all are detached at teardown.

    ``make_loop(size_bytes, direct_io=False, sector_size=512, fill=None)`` returns the device
    path. ``fill`` is ``"random"`` or ``"zero"`` (default: sparse, reads as zeros).
    """
    require_root()
    require_tool("losetup")
    created: list[str] = []

    def factory(
        size_bytes: int,
        *,
        direct_io: bool = False,
        sector_size: int = 512,
        fill: str | None = None,
        read_only: bool = False,
    ) -> Path:
        backing = tmp_path / f"loop-backing-{len(created)}.img"
        with open(backing, "wb") as handle:
            if fill == "random":
                remaining = size_bytes
                while remaining:
                    chunk = min(remaining, 4 << 20)
                    handle.write(os.urandom(chunk))
                    remaining -= chunk
            else:
                handle.truncate(size_bytes)
        cmd = ["losetup", "--find", "--show", f"--sector-size={sector_size}"]
        if direct_io:
            cmd.append("--direct-io=on")
        if read_only:
            cmd.append("--read-only")
        dev = subprocess.run(
            [*cmd, str(backing)], check=True, capture_output=True, text=True
        ).stdout.strip()
        created.append(dev)
        return Path(dev)

    yield factory
    for dev in reversed(created):
        subprocess.run(["umount", "-q", "-R", dev], capture_output=True)
        subprocess.run(["losetup", "-d", dev], capture_output=True)
    # A wipe fills its sparse backing file for real (a stopped 8 GiB wipe leaves gigabytes):
    # pytest keeps every tmp_path of the session, so the data goes now, not at the end.
    for backing in tmp_path.glob("loop-backing-*.img"):
        backing.unlink(missing_ok=True)


# Writes per second a "paced" loop device takes from this test process: a wipe of a few GiB
# then lasts minutes, so a test can stop it at leisure on a busy machine while writing little.
PACED_WRITE_BPS = 40_000_000


@pytest.fixture
def paced_loop(make_loop: LoopFactory) -> Iterator[LoopFactory]:
    """Like ``make_loop``, but this process's writes to the device are held to
    ``PACED_WRITE_BPS`` by the kernel's block throttling (cgroup v1 blkio or v2 io.max), so a
    running wipe stays running as long as the test needs, whatever the machine's speed."""
    v1 = Path("/sys/fs/cgroup/blkio")
    base = v1 if (v1 / "cgroup.procs").exists() else Path("/sys/fs/cgroup")
    if not (base / "cgroup.procs").exists():
        pytest.fail(f"no cgroup hierarchy with block throttling at {base}: mount cgroups")
    group = base / f"bench-test-paced-{os.getpid()}"
    group.mkdir(exist_ok=True)
    devices: list[str] = []

    def factory(size_bytes: int, **kwargs: Any) -> Path:
        dev = make_loop(size_bytes, **kwargs)
        rdev = os.stat(dev).st_rdev
        majmin = f"{os.major(rdev)}:{os.minor(rdev)}"
        if base == v1:
            (group / "blkio.throttle.write_bps_device").write_text(f"{majmin} {PACED_WRITE_BPS}\n")
        else:
            (group / "io.max").write_text(f"{majmin} wbps={PACED_WRITE_BPS}\n")
        devices.append(majmin)
        return dev

    (group / "cgroup.procs").write_text(str(os.getpid()))
    try:
        yield factory
    finally:
        (base / "cgroup.procs").write_text(str(os.getpid()))
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)
