"""The device guard refuses every target that is not a free whole disk, on real loop devices."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench_agent.devices.directio import AlignedBuffer, block_geometry
from bench_agent.devices.guard import (
    GuardPolicy,
    assess_all,
    check_target,
    open_exclusive,
)
from bench_agent.errors import DeviceRefused
from tests.conftest import LoopFactory, require_tool

pytestmark = pytest.mark.device

MiB = 1 << 20


def digest(dev: Path) -> str:
    with open(dev, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture
def mountpoint(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    yield mnt
    subprocess.run(["umount", "-q", str(mnt)], capture_output=True)


def refused(device: Path | str, policy: GuardPolicy | None = None) -> DeviceRefused:
    with pytest.raises(DeviceRefused) as info:
        check_target(device, policy)
    assert info.value.message and info.value.hint
    return info.value


def test_free_loop_device_is_accepted(make_loop: LoopFactory) -> None:
    dev = make_loop(16 * MiB)
    facts = check_target(dev)
    assert facts.type == "loop"
    assert facts.size == 16 * MiB
    fd, direct = open_exclusive(dev, write=True)
    try:
        assert direct
        assert block_geometry(fd).size_bytes == 16 * MiB
        with AlignedBuffer(4096) as buf:
            assert os.preadv(fd, [buf.view], 0) == 4096
    finally:
        os.close(fd)


def test_loop_refused_when_policy_forbids_loops(make_loop: LoopFactory) -> None:
    dev = make_loop(16 * MiB)
    assert refused(dev, GuardPolicy(allow_loop=False)).rule == "loop"


def test_mounted_loop_is_refused_and_intact(make_loop: LoopFactory, mountpoint: Path) -> None:
    require_tool("mkfs.ext4")
    dev = make_loop(32 * MiB)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(dev)], check=True, capture_output=True)
    subprocess.run(["mount", str(dev), str(mountpoint)], check=True)
    (mountpoint / "keep.txt").write_text("donor data")
    subprocess.run(["sync"], check=True)
    subprocess.run(["umount", str(mountpoint)], check=True)
    before = digest(dev)
    # Read-only mount so that the mount itself does not change the superblock.
    subprocess.run(["mount", "-o", "ro,noload", str(dev), str(mountpoint)], check=True)
    error = refused(dev)
    assert error.rule == "mounted"
    assert str(mountpoint) in error.message
    # O_EXCL itself also refuses, independently of the guard's analysis.
    with pytest.raises(DeviceRefused) as busy:
        open_exclusive(dev, write=True)
    assert busy.value.rule == "busy"
    subprocess.run(["umount", str(mountpoint)], check=True)
    assert digest(dev) == before


def test_disk_with_a_mounted_partition_is_refused(make_loop: LoopFactory, mountpoint: Path) -> None:
    require_tool("sgdisk")
    dev = make_loop(32 * MiB)
    subprocess.run(["sgdisk", "-n", "1:0:0", str(dev)], check=True, capture_output=True)
    # Tell the kernel about the partition (sgdisk may already have, when partscan is on).
    subprocess.run(["partx", "-u", str(dev)], check=True)
    part = Path(f"{dev}p1")
    assert part.exists()
    assert refused(part).rule == "not-whole-disk"
    subprocess.run(["mkfs.ext4", "-q", "-F", str(part)], check=True, capture_output=True)
    subprocess.run(["mount", str(part), str(mountpoint)], check=True)
    error = refused(dev)
    assert error.rule == "mounted"


def test_swap_on_a_loop_device_is_refused(make_loop: LoopFactory) -> None:
    require_tool("mkswap")
    dev = make_loop(16 * MiB)
    subprocess.run(["mkswap", str(dev)], check=True, capture_output=True)
    subprocess.run(["swapon", str(dev)], check=True)
    try:
        error = refused(dev)
        assert error.rule == "mounted"
        assert "swap" in error.message
    finally:
        subprocess.run(["swapoff", str(dev)], check=True)


def test_read_only_loop_is_refused(make_loop: LoopFactory) -> None:
    dev = make_loop(16 * MiB, fill="random", read_only=True)
    before = digest(dev)
    assert refused(dev).rule == "read-only"
    assert digest(dev) == before


def test_loop_over_a_mounted_disk_is_refused(make_loop: LoopFactory, mountpoint: Path) -> None:
    """A loop whose backing *device* is in use would write onto it: refused."""
    lower = make_loop(32 * MiB)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(lower)], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "ro", str(lower), str(mountpoint)], check=True)
    upper = subprocess.run(
        ["losetup", "--find", "--show", str(lower)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        assert refused(upper).rule == "mounted"
    finally:
        subprocess.run(["losetup", "-d", upper], check=True)


def test_disk_holding_a_mounted_loop_image_is_refused(
    make_loop: LoopFactory, mountpoint: Path, tmp_path: Path
) -> None:
    """Disk X with a filesystem holding the backing file of a mounted loop: refused."""
    outer = make_loop(64 * MiB)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(outer)], check=True, capture_output=True)
    subprocess.run(["mount", str(outer), str(mountpoint)], check=True)
    image = mountpoint / "inner.img"
    with open(image, "wb") as handle:
        handle.truncate(16 * MiB)
    inner = subprocess.run(
        ["losetup", "--find", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        assert refused(outer).rule == "mounted"
        # The inner loop itself is free: wiping it only rewrites its backing file.
        check_target(inner)
    finally:
        subprocess.run(["losetup", "-d", inner], check=True)


def test_root_device_is_refused_as_system_disk() -> None:
    root = os.stat("/").st_dev
    link = Path(f"/sys/dev/block/{os.major(root)}:{os.minor(root)}").resolve()
    disk = link.parent.name if (link / "partition").exists() else link.name
    error = refused(f"/dev/{disk}")
    assert error.rule == "system-disk"
    assert "/" in error.message


def test_partition_name_and_missing_device_are_refused() -> None:
    assert refused("/dev/does-not-exist").rule == "not-found"
    assert refused("/dev/null").rule == "not-found"


def test_assess_all_lists_the_system_disk_as_not_wipeable(make_loop: LoopFactory) -> None:
    dev = make_loop(16 * MiB)
    verdicts = {d.path: reason for d, reason in assess_all()}
    assert verdicts[str(dev)] is None
    root = os.stat("/").st_dev
    link = Path(f"/sys/dev/block/{os.major(root)}:{os.minor(root)}").resolve()
    disk = link.parent.name if (link / "partition").exists() else link.name
    assert verdicts[f"/dev/{disk}"] is not None


# A loop device under a dm linear target (has-holders): tests/test_vm_dm.py, in a QEMU guest.


def test_holders_rule_reads_sysfs(
    make_loop: LoopFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without device-mapper in this kernel no real holder can exist; the rule's sysfs reading
    is checked against a copy of /sys/block where the loop device has a dm holder (on its
    partition, as LVM on /dev/sdb1 would look)."""
    from bench_agent.devices import guard

    dev = make_loop(16 * MiB)
    fake = tmp_path / "sys-block" / dev.name
    (fake / "holders").mkdir(parents=True)
    (fake / f"{dev.name}p1" / "holders" / "dm-3").mkdir(parents=True)
    (fake / f"{dev.name}p1" / "partition").write_text("1\n")
    (fake / "ro").write_text("0\n")
    monkeypatch.setattr(guard, "SYS_BLOCK", tmp_path / "sys-block")
    error = refused(dev)
    assert error.rule == "has-holders" and "dm-3" in error.message


def test_one_policy_builder_takes_loop_devices_only_when_named() -> None:
    """Issue 12 finding 3: wipe, image, the workflow and the station build the policy alike."""
    from types import SimpleNamespace

    strict = SimpleNamespace(wipe=SimpleNamespace(allow_removable=False, allow_loop=False))
    loose = SimpleNamespace(wipe=SimpleNamespace(allow_removable=True, allow_loop=True))
    assert GuardPolicy.for_profile(strict, named=True) == GuardPolicy(False, True)
    assert GuardPolicy.for_profile(loose, named=False) == GuardPolicy(True, False)
    assert GuardPolicy.for_profile(None, station_allows_removable=True, named=False) == (
        GuardPolicy(allow_removable=True, allow_loop=False)
    )
