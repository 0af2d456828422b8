"""The live bench's own devices are never the donated machine's disks (issue 11, item 7).

On the live image the inventory listed "Disque loop0 138.9 MB" (the loop device under the
squashfs root) and "Disque fd0 4.1 kB" (an empty floppy drive) as the machine's disks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench_agent.devices.guard import GuardPolicy, check_target
from bench_agent.inventory.collect import collect_inventory
from tests.conftest import FIXTURES, LoopFactory, require_root, require_tool

VM_BUNDLE = FIXTURES / "evidence" / "debian12-vm"


@pytest.fixture
def mounted_squashfs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A squashfs image mounted read-only through a loop device, as the live initramfs does
    (``mount -t squashfs -o ro,loop``); unmounted (and the loop freed) at teardown."""
    require_root()
    require_tool("mksquashfs")
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "hostname").write_text("bench\n")
    image = tmp_path / "filesystem.squashfs"
    subprocess.run(
        ["mksquashfs", str(tree), str(image), "-quiet", "-no-progress", "-noappend"],
        check=True,
        capture_output=True,
    )
    target = tmp_path / "rootfs"
    target.mkdir()
    subprocess.run(
        ["mount", "-t", "squashfs", "-o", "ro,loop", str(image), str(target)], check=True
    )
    try:
        found = subprocess.run(
            ["findmnt", "-n", "-o", "SOURCE", str(target)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert found.startswith("/dev/loop"), found
        yield Path(found), target
    finally:
        subprocess.run(["umount", str(target)], check=False, capture_output=True)


@pytest.mark.device
def test_the_loop_device_under_a_mounted_squashfs_is_not_a_disk(
    mounted_squashfs: tuple[Path, Path], make_loop: LoopFactory
) -> None:
    squash_loop, _ = mounted_squashfs
    plain = make_loop(8 << 20)
    names = {d.name for d in collect_inventory(smart=False).disks}
    assert squash_loop.name not in names
    # A loop device that carries no system image is still listed (tests, demo).
    assert plain.name in names


@pytest.mark.device
def test_a_loop_device_named_explicitly_stays_usable(make_loop: LoopFactory) -> None:
    """``--disks /dev/loopN`` goes around the inventory: the guard still accepts it."""
    plain = make_loop(8 << 20)
    check_target(str(plain), GuardPolicy())


def _live_bundle(tmp_path: Path) -> Path:
    """The recorded VM bundle as the live image would record it: its marker file, the squashfs
    root on loop0 under /run/live/rootfs, the boot stick with the ISO and BENCHCFG partitions,
    an empty floppy drive, a floppy with a disk in it, and an unused zram device."""
    bundle = tmp_path / "bundle"
    shutil.copytree(VM_BUNDLE, bundle)
    (bundle / "etc").mkdir()
    (bundle / "etc" / "bench-live-id").write_text("20261206T160000Z-abc1234-i686\n")
    lsblk = json.loads((bundle / "lsblk.json").read_text())
    devices = lsblk["blockdevices"]
    for dev in devices:
        if dev["name"] == "loop0":
            dev["fstype"] = "squashfs"
            dev["mountpoints"] = ["/run/live/rootfs"]
    devices += [
        {"name": "fd0", "type": "disk", "size": 4096, "rm": True, "mountpoints": [None]},
        {"name": "fd1", "type": "disk", "size": 1474560, "rm": True, "mountpoints": [None]},
        {
            "name": "sdb",
            "type": "disk",
            "size": 8_000_000_000,
            "rm": True,
            "tran": "usb",
            "mountpoints": [None],
            "children": [
                {
                    "name": "sdb1",
                    "type": "part",
                    "fstype": "iso9660",
                    "mountpoints": ["/run/live/medium"],
                },
                {
                    "name": "sdb3",
                    "type": "part",
                    "fstype": "vfat",
                    "mountpoints": ["/run/bench-live/config"],
                },
            ],
        },
    ]
    (bundle / "lsblk.json").write_text(json.dumps(lsblk))
    return bundle


def test_live_image_bundle_lists_only_the_machines_disks(tmp_path: Path) -> None:
    inventory = collect_inventory(evidence_dir=_live_bundle(tmp_path))
    assert {d.name for d in inventory.disks} == {"vda", "fd1"}
    assert {d.name: d.kind for d in inventory.disks}["fd1"] == "floppy"


def test_recorded_bundles_replay_unchanged() -> None:
    """A bundle recorded off the live image keeps every device it listed before."""
    inventory = collect_inventory(evidence_dir=VM_BUNDLE)
    assert {d.name for d in inventory.disks} == {"loop0", "loop1", "loop2", "zram0", "vda"}
