"""The live image's wipe-only screen (CPUs without SSE2) lists the disks to wipe: never the
empty floppy drive, a RAM or loop device, a read-only disk, or the stick the bench booted from.

The listing is the device guard's (``bench_agent.sanitize.lite.find_disks``), run here without
pydantic with ``lsblk`` answering what QEMU's ``-M pc`` Pentium III machine shows (fd0 as a 4 KiB
removable disk, the boot stick on sdb mounted at /run/live/medium)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BLOCKER = (
    "import sys\n"
    "class B:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in {'pydantic', 'pydantic_core', 'zstandard'}:\n"
    "            raise ImportError(name + ' is blocked: its build needs SSE2')\n"
    "sys.meta_path.insert(0, B())\n"
)


def node(name: str, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": name,
        "kname": name,
        "path": f"/dev/h13-absent-{name}",  # no such node here: the host's disks stay out of it
        "type": "disk",
        "size": 64 << 20,
        "ro": False,
        "rm": False,
        "tran": "ata",
        "mountpoints": [None],
    }
    base.update(fields)
    return base


PENTIUM3 = {
    "blockdevices": [
        node("fd0", size=4096, rm=True, tran=None),
        node("sda", model="IC35L040AVER07-0", serial="P3OLDDISK01"),
        node(
            "sdb",
            rm=True,
            tran="usb",
            children=[node("sdb1", type="part", mountpoints=["/run/live/medium"])],
        ),
        node("sr0", type="rom", ro=True),
        node("loop0", type="loop"),
        node("zram0"),
        node("sdc", ro=True),
        node("hdb", model="ST380011A"),
    ]
}


def test_wipe_only_lists_no_floppy_nor_the_boot_stick(tmp_path: Path) -> None:
    lsblk = tmp_path / "lsblk"
    lsblk.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(PENTIUM3)}\nEOF\n")
    lsblk.chmod(0o755)
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    listed = subprocess.run(
        [sys.executable, "-m", "bench_agent.sanitize.wipe_lite", "--list"],
        check=True,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PATH": f"{tmp_path}:{os.environ['PATH']}",
            "PYTHONPATH": str(tmp_path),
            "BENCH_AGENT_HOME": str(tmp_path / "home"),
        },
    )
    found = json.loads(listed.stdout)
    assert [Path(t).name for t in found["targets"]] == ["h13-absent-sda", "h13-absent-hdb"]
    refused = {
        Path(r["device"]).name.removeprefix("h13-absent-"): r["reason"] for r in found["refused"]
    }
    # The stick and the read-only disk are named with the reason; the floppy, the CD, RAM and
    # loop devices are not disks to talk about.
    assert set(refused) == {"sdb", "sdc"}, refused
    assert "mounted at /run/live/medium" in refused["sdb"]
    assert "read-only" in refused["sdc"]


def test_a_missing_tool_is_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    done = subprocess.run(
        [sys.executable, "-m", "bench_agent.sanitize.wipe_lite", "--lang", "en"],
        capture_output=True,
        text=True,
        input="",
        env={
            **os.environ,
            "PATH": str(tmp_path),  # no lsblk
            "PYTHONPATH": str(tmp_path),
            "BENCH_AGENT_HOME": str(tmp_path / "home"),
        },
    )
    assert done.returncode == 6, done
    assert "Traceback" not in done.stderr
    assert "The 'lsblk' tool is missing." in done.stdout
