"""Turning a raw master into a catalogue entry (``--from``): a used-looking MBR disk for i686."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.devices.guard import GuardPolicy
from bench_agent.imaging import find_image, write_image
from bench_agent.imaging.partitions import read_partition_table
from tests.conftest import LoopFactory, require_tool
from tests.test_image_support import BUILD, ROOT, run

MIB = 1 << 20


def _raw_mbr_master(tmp_path: Path) -> tuple[Path, bytes]:
    """A 128 MiB MBR disk like a dd of a used machine: random bytes everywhere except what
    sfdisk, mkfs.fat and mkfs.ext4 wrote."""
    for tool in ("sfdisk", "mkfs.fat", "mkfs.ext4", "dumpe2fs"):
        require_tool(tool)
    raw = tmp_path / "mbr-master.img"
    with open(raw, "wb") as handle:
        for _n in range(128):
            handle.write(os.urandom(MIB))
    subprocess.run(
        ["sfdisk", "-q", str(raw)], input="label: dos\n2048,32768,c\n,,83\n", text=True, check=True
    )
    subprocess.run(
        ["mkfs.fat", "-F", "16", "--offset", "2048", str(raw), "16384"],
        check=True,
        capture_output=True,
    )
    tree = tmp_path / "tree"
    (tree / "home" / "eleve").mkdir(parents=True)
    payload = os.urandom(3 * MIB)
    (tree / "home" / "eleve" / "jeu.dat").write_bytes(payload)
    start = 34816 * 512
    blocks = (128 * MIB - start) // 4096
    subprocess.run(
        [
            "mkfs.ext4",
            "-q",
            "-F",
            "-b",
            "4096",
            "-T",
            "default",
            "-E",
            f"offset={start},nodiscard,lazy_itable_init=1",
            "-d",
            str(tree),
            str(raw),
            str(blocks),
        ],
        check=True,
        capture_output=True,
    )
    return raw, payload


@pytest.mark.device
def test_from_raw_mbr_master_maps_only_used_blocks_and_grows(
    tmp_path: Path, make_loop: LoopFactory
) -> None:
    raw, payload = _raw_mbr_master(tmp_path)
    out = tmp_path / "catalogue"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            str(BUILD),
            "--from",
            str(raw),
            "--name",
            "old-pc",
            "--arch",
            "i686",
            "--min-ram-mib",
            "192",
            "--description-fr",
            "Pour les vieux PC",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    entry = find_image("old-pc", out)
    assert entry.architecture == "i686" and entry.partition_table == "mbr"
    assert entry.description["fr"] == "Pour les vieux PC"
    # The random bytes in the ext4 free space are not part of the map: only the MBR gap, the
    # FAT partition and the blocks ext4 uses (metadata + the 3 MiB file).
    assert entry.mapped_bytes < 40 * MIB
    assert entry.last_used_byte == 128 * MIB

    device = make_loop(256 * MIB, fill="random")
    report = write_image(
        entry,
        str(device),
        settings=load_settings(),
        policy=GuardPolicy(allow_loop=True),
        journal_dir=tmp_path / "journal",
    )
    assert report.status == "success", report.status_detail
    assert report.grown
    assert report.checks["sfdisk --verify"] == "ok" and report.checks["e2fsck -n"] == "ok"
    fd = os.open(device, os.O_RDONLY)
    try:
        table = read_partition_table(fd)
    finally:
        os.close(fd)
    last = table.last_partition
    assert table.kind == "mbr" and last is not None and last.type_guid == "0x83"
    assert last.end_byte(512) == 256 * MIB
    loop = run(
        [
            "losetup",
            "--find",
            "--show",
            "--read-only",
            "--offset",
            str(last.start_byte(512)),
            str(device),
        ]
    ).stdout.strip()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        assert run(["mount", "-o", "ro,noload", loop, str(mnt)]).returncode == 0
        try:
            data = (mnt / "home" / "eleve" / "jeu.dat").read_bytes()
            assert hashlib.sha256(data).digest() == hashlib.sha256(payload).digest()
        finally:
            run(["umount", str(mnt)])
    finally:
        run(["losetup", "-d", loop])
