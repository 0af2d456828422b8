"""The imaging writer on real loop devices: grow and verify, refusals, corruption, kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.devices.guard import GuardPolicy
from bench_agent.errors import DeviceRefused
from bench_agent.imaging import find_image, write_image
from bench_agent.imaging import writer as writer_module
from bench_agent.imaging.partitions import read_partition_table
from bench_agent.models.image import ImageEntry
from bench_agent.progress import ProgressEvent
from tests.conftest import LoopFactory, require_root, require_tool
from tests.test_image_support import ROOT, detach_loops_on, file_sha256, run, shared_master

pytestmark = pytest.mark.device
MIB = 1 << 20
POLICY = GuardPolicy(allow_removable=False, allow_loop=True)


@pytest.fixture(scope="session")
def master_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("sgdisk", "mkfs.ext4", "mkfs.fat", "mcopy", "dumpe2fs", "resize2fs", "e2fsck"):
        require_tool(tool)
    return shared_master(tmp_path_factory.getbasetemp())


@pytest.fixture
def master(master_dir: Path) -> ImageEntry:
    return find_image("test-master", master_dir)


@pytest.fixture
def hook() -> Iterator[None]:
    yield
    writer_module.AFTER_WRITE_HOOK = None


def _manifest_intact(device: Path, tmp_path: Path) -> int:
    """Mount the root partition read-only through an offset loop; check every file's digest."""
    fd = os.open(device, os.O_RDONLY)
    try:
        table = read_partition_table(fd)
    finally:
        os.close(fd)
    last = table.last_partition
    assert last is not None
    loop = run(
        [
            "losetup",
            "--find",
            "--show",
            "--read-only",
            "--offset",
            str(last.start_byte(512)),
            "--sizelimit",
            str(last.end_byte(512) - last.start_byte(512)),
            str(device),
        ]
    ).stdout.strip()
    assert loop.startswith("/dev/loop")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        assert run(["mount", "-o", "ro,noload", loop, str(mnt)]).returncode == 0
        try:
            lines = (mnt / "MANIFEST.sha256").read_text().splitlines()
            assert len(lines) > 40
            for line in lines:
                digest, name = line.split("  ", 1)
                assert file_sha256(mnt / name) == digest, name
            df = os.statvfs(mnt)
            return df.f_blocks * df.f_frsize
        finally:
            run(["umount", str(mnt)])
    finally:
        run(["losetup", "-d", loop])


def test_write_grow_and_verify_on_a_larger_disk(
    master: ImageEntry, make_loop: LoopFactory, tmp_path: Path
) -> None:
    device = make_loop(640 * MIB, fill="random")
    phases: set[str] = set()
    report = write_image(
        master,
        str(device),
        settings=load_settings(),
        progress=lambda e: phases.add(e.phase),
        policy=POLICY,
        journal_dir=tmp_path / "journal",
    )
    assert report.status == "success", report.status_detail
    assert report.readback_verified and report.ranges_verified == len(master.ranges)
    assert report.bytes_written == master.mapped_bytes
    assert {"write", "verify", "grow"} <= phases
    assert report.grown
    assert report.checks["sgdisk -v"] == "ok" and report.checks["e2fsck -n"] == "ok"
    # Independent checks with the real tools.
    verify = run(["sgdisk", "-v", str(device)])
    assert "No problems found" in verify.stdout, verify.stdout
    fd = os.open(device, os.O_RDONLY)
    try:
        table = read_partition_table(fd)
    finally:
        os.close(fd)
    last = table.last_partition
    assert last is not None
    disk_sectors = 640 * MIB // 512
    assert last.last_lba >= disk_sectors - 34 - 2048  # reaches the end (alignment aside)
    assert report.final_partition_bytes is not None
    assert report.final_partition_bytes > 500 * MIB
    fs_bytes = _manifest_intact(device, tmp_path)
    assert fs_bytes > 450 * MIB  # the 254 MiB filesystem grew with its partition
    assert not list((tmp_path / "journal").glob("image-*.json"))


def test_smaller_disk_is_refused_and_untouched(master: ImageEntry, make_loop: LoopFactory) -> None:
    device = make_loop(128 * MIB, fill="random")
    before = file_sha256(device)
    with pytest.raises(DeviceRefused) as refused:
        write_image(master, str(device), settings=load_settings(), policy=POLICY)
    assert refused.value.rule == "too-small"
    assert str(device) in refused.value.message
    assert file_sha256(device) == before


def test_disk_of_exactly_the_image_size_works(
    master: ImageEntry, make_loop: LoopFactory, tmp_path: Path
) -> None:
    assert master.last_used_byte == master.image_size  # the root partition ends the disk
    with pytest.raises(DeviceRefused):
        write_image(
            master, str(make_loop(master.image_size - MIB)), settings=load_settings(), policy=POLICY
        )
    device = make_loop(master.image_size)
    report = write_image(
        master, str(device), settings=load_settings(), policy=POLICY, journal_dir=tmp_path / "j"
    )
    assert report.status == "success", report.status_detail
    assert report.checks["sgdisk -v"] == "ok" and report.checks["e2fsck -n"] == "ok"


def test_other_sector_size_is_refused(master: ImageEntry, make_loop: LoopFactory) -> None:
    device = make_loop(512 * MIB, sector_size=4096)
    with pytest.raises(DeviceRefused) as refused:
        write_image(master, str(device), settings=load_settings(), policy=POLICY)
    assert refused.value.rule == "sector-size"


def test_corrupt_compressed_file_fails_naming_the_range(
    master_dir: Path, make_loop: LoopFactory, tmp_path: Path
) -> None:
    bad_dir = tmp_path / "bad"
    shutil.copytree(master_dir, bad_dir)
    entry = find_image("test-master", bad_dir)
    image = bad_dir / entry.source
    with open(image, "r+b") as handle:
        handle.seek(entry.compressed_size // 2)
        byte = handle.read(1)
        handle.seek(entry.compressed_size // 2)
        handle.write(bytes([byte[0] ^ 0x01]))
    device = make_loop(400 * MIB)
    report = write_image(
        entry, str(device), settings=load_settings(), policy=POLICY, journal_dir=tmp_path / "j"
    )
    assert report.status == "failed"
    assert "range" in report.status_detail.lower()
    assert report.failed_range, report.status_detail
    assert not report.readback_verified


def test_byte_changed_on_disk_before_verify_is_caught(
    master: ImageEntry, make_loop: LoopFactory, tmp_path: Path, hook: None
) -> None:
    index, target = max(enumerate(master.ranges), key=lambda item: item[1].length)
    offset = target.start + target.length // 2 // 4096 * 4096

    def flip(path: str) -> None:
        fd = os.open(path, os.O_RDWR)
        try:
            data = bytearray(os.pread(fd, 4096, offset))
            data[17] ^= 0xFF
            os.pwrite(fd, bytes(data), offset)
            os.fsync(fd)
        finally:
            os.close(fd)

    writer_module.AFTER_WRITE_HOOK = flip
    device = make_loop(400 * MIB)
    report = write_image(
        master, str(device), settings=load_settings(), policy=POLICY, journal_dir=tmp_path / "j"
    )
    assert report.status == "failed"
    assert report.failed_range.startswith(f"{index} ")
    assert "Read-back" in report.status_detail
    assert report.ranges_verified == 0


def test_cancel_aborts(master: ImageEntry, make_loop: LoopFactory, tmp_path: Path) -> None:
    device = make_loop(400 * MIB)
    cancel = threading.Event()

    def progress(event: ProgressEvent) -> None:
        if event.phase == "write":
            cancel.set()

    report = write_image(
        master,
        str(device),
        settings=load_settings(),
        progress=progress,
        cancel=cancel,
        policy=POLICY,
        journal_dir=tmp_path / "j",
    )
    assert report.status == "aborted"


def _cli_env(master_dir: Path, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BENCH_AGENT_IMAGES": str(master_dir),
        "BENCH_AGENT_HOME": str(home),
        "BENCH_AGENT_PROFILE": "test-bench",
        "BENCH_LANG": "en",
        "PYTHONPATH": str(ROOT),
    }


def test_kill_9_mid_write_is_detected_and_redone(
    master_dir: Path, make_loop: LoopFactory, agent_home: Path
) -> None:
    device = make_loop(400 * MIB, direct_io=True)
    env = _cli_env(master_dir, agent_home)
    journal = agent_home / "journal" / f"image-{device.name}.json"
    cmd = [
        sys.executable,
        "-m",
        "bench_agent.cli.main",
        "image",
        str(device),
        "--image",
        "test-master",
        "--yes",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not journal.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        detach_loops_on(device)
    assert proc.returncode == -signal.SIGKILL
    state = json.loads(journal.read_text())
    # Killed within a millisecond of the journal appearing: mid-write (a very loaded machine
    # might let it reach the read-back; that is an interrupted job all the same).
    assert state["image"] == "test-master" and state["phase"] in ("write", "verify")

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr + again.stdout
    assert f"was interrupted during '{state['phase']}'" in again.stderr
    assert "writing it again from the start" in again.stdout
    assert "redone" in again.stdout
    assert "success" in again.stdout
    assert not journal.exists()
    assert "No problems found" in run(["sgdisk", "-v", str(device)]).stdout


def test_cli_confirmation_must_match(
    master_dir: Path, make_loop: LoopFactory, agent_home: Path
) -> None:
    device = make_loop(400 * MIB, fill="random")
    before = file_sha256(device)
    env = _cli_env(master_dir, agent_home)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench_agent.cli.main",
            "image",
            str(device),
            "--image",
            "test-master",
        ],
        env=env,
        capture_output=True,
        text=True,
        input="sdz\n",
        timeout=60,
    )
    assert result.returncode == 2
    assert "did not match: nothing was written" in result.stderr
    assert "Traceback" not in result.stderr
    assert file_sha256(device) == before


def test_cli_json_report_on_success(
    master_dir: Path, make_loop: LoopFactory, agent_home: Path
) -> None:
    device = make_loop(400 * MIB)
    env = _cli_env(master_dir, agent_home)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench_agent.cli.main",
            "image",
            str(device),
            "--image",
            str(master_dir / "test-master-i686.toml"),
            "--yes",
            "--json",
            "--no-grow",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "success" and report["architecture"] == "i686"
    assert report["grown"] is False and report["checks"]["sgdisk -v"] == "ok"


def test_write_error_fails_naming_the_range(master: ImageEntry, tmp_path: Path) -> None:
    """A disk that stops taking writes (a loop over a full 40 MiB tmpfs): failed, never success."""
    require_root()
    small = tmp_path / "small"
    small.mkdir()
    assert run(["mount", "-t", "tmpfs", "-o", "size=40M", "tmpfs", str(small)]).returncode == 0
    loop = ""
    try:
        backing = small / "disk.img"
        with open(backing, "wb") as handle:
            handle.truncate(400 * MIB)
        loop = run(["losetup", "--find", "--show", str(backing)]).stdout.strip()
        assert loop.startswith("/dev/loop")
        report = write_image(
            master, loop, settings=load_settings(), policy=POLICY, journal_dir=tmp_path / "j"
        )
        assert report.status == "failed"
        assert "Write error at byte" in report.status_detail
        assert report.failed_range and not report.readback_verified
    finally:
        if loop:
            run(["losetup", "-d", loop])
        run(["umount", str(small)])
