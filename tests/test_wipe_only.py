"""The live image's wipe-only screen (CPUs without SSE2) lists the disks to wipe: never the
empty floppy drive, a RAM or loop device, a read-only disk, or the stick the bench booted from.

The script's own ``targets`` function runs here with ``lsblk``/``findmnt`` answering what QEMU's
``-M pc`` Pentium III machine shows (fd0 as a 4 KiB removable disk, the boot stick on sdb)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "scripts/live/rootfs/usr/lib/bench-live/wipe-only"

LSBLK = """#!/bin/sh
case "$*" in
  *PKNAME*) echo sdb ;;
  *) printf '%s\\n' "fd0 disk 0" "sda disk 0" "sdb disk 0" "sr0 rom 1" "loop0 loop 1" \\
       "zram0 disk 0" "sdc disk 1" "hdb disk 0" ;;
esac
"""
FINDMNT = """#!/bin/sh
case "$*" in *"/run/live/medium"*) echo /dev/sdb1 ;; *) exit 1 ;; esac
"""


def test_wipe_only_lists_no_floppy_nor_the_boot_stick(tmp_path: Path) -> None:
    for name, text in (("lsblk", LSBLK), ("findmnt", FINDMNT)):
        tool = tmp_path / name
        tool.write_text(text)
        tool.chmod(0o755)
    functions = subprocess.run(
        ["sed", "-n", "/^boot_disks()/,/^}/p;/^targets()/,/^}/p", str(SCRIPT)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "targets()" in functions and "boot_disks()" in functions
    listed = subprocess.run(
        ["bash", "-c", functions + "\ntargets"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
    ).stdout.split()
    assert listed == ["sda", "hdb"]
