"""Device-mapper scenarios in a QEMU guest (this host's kernel has no device-mapper; the live
bench's Debian kernel has ``dm_mod``, its root has ``dmsetup`` and ``losetup``).

One guest boot of the i686 live root (the session-built one of tests/test_vm.py) over the
read-only 9p share, no disks. The machine is started as the virtual bench starts it
(``vbench.qemu_command``, ``bench.mode=unattended``), with one more archive after
``initrd.img`` (the kernel unpacks concatenated initrds, as for PXE's ``live.cpio``): it holds
a ``switch_root`` wrapper that, at the hand-over to the live root, replaces the unattended bench
run by tests/vm_dm_guest.py (read from the io share). Its results come back as JSON through
the io share; the guest powers off as after an unattended run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.vm_support import vbench

pytestmark = [pytest.mark.vm, pytest.mark.slow]

GUEST_DRIVER = Path(__file__).with_name("vm_dm_guest.py")
PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "test-bench.toml"

# Run by busybox at the initramfs' hand-over (first on its PATH, before busybox's applet).
SWITCH_ROOT = """#!/bin/busybox sh
# tests/test_vm_dm.py: the live root runs the dm scenarios instead of the unattended bench.
cp /dm-unattended /newroot/usr/lib/bench-live/unattended
chmod 755 /newroot/usr/lib/bench-live/unattended
exec /bin/busybox switch_root "$@"
"""
UNATTENDED = """#!/bin/bash
. /run/bench-live/env
# The test bench's profile (from the io share) allows loop devices, as on the host's tests.
export BENCH_AGENT_HOME=/tmp/dm-home BENCH_AGENT_PROFILE="$BENCH_IO/test-bench.toml" LANG=C.UTF-8
mkdir -p "$BENCH_AGENT_HOME"
echo "bench-dm: device-mapper scenarios" >/dev/console
/opt/bench-agent/bin/python "$BENCH_IO/vm_dm_guest.py" "$BENCH_IO/dm" >/dev/console 2>&1
sync
"""

MACHINE = vbench.Machine(
    name="dm",
    description="device-mapper scenarios: no disks, the loop and dm devices live in RAM",
    qemu="qemu-system-i386",
    machine="pc",
    cpu="coreduo",
    cpu_model="Intel(R) Core(TM)2 Duo CPU T7700 @ 2.40GHz",
    memory_mib=512,
    drives=(),
)


def _hook_cpio(workdir: Path) -> Path:
    stage = workdir / "hook"
    (stage / "bin").mkdir(parents=True)
    (stage / "bin" / "switch_root").write_text(SWITCH_ROOT)
    (stage / "dm-unattended").write_text(UNATTENDED)
    for script in (stage / "bin" / "switch_root", stage / "dm-unattended"):
        script.chmod(0o755)
    archive = workdir / "hook.cpio"
    names = "bin\nbin/switch_root\ndm-unattended\n"
    with open(archive, "wb") as out:
        subprocess.run(
            ["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"],
            input=names.encode(),
            cwd=stage,
            stdout=out,
            check=True,
        )
    return archive


def _boot(live: Path, workdir: Path, timeout_s: float = 420) -> tuple[dict[str, Any], str, float]:
    pxe = live / "pxe"
    io_dir = workdir / "io"
    io_dir.mkdir(parents=True)
    shutil.copy2(GUEST_DRIVER, io_dir / GUEST_DRIVER.name)
    shutil.copy2(PROFILE, io_dir / PROFILE.name)
    initrd = workdir / "initrd+hook.img"
    with open(initrd, "wb") as out:
        for part in (pxe / "initrd.img", _hook_cpio(workdir)):  # initrd.img is 512-byte padded
            out.write(part.read_bytes())
    serial_log = workdir / "serial.log"
    append = (
        "console=ttyS0,115200 quiet bench.root=9p:live bench.io=9p:benchio "
        "bench.mode=unattended bench.lang=en bench.net=0"
    )
    cmd = vbench.qemu_command(MACHINE, pxe, io_dir, [], serial_log, append)
    cmd[cmd.index(str(pxe / "initrd.img"))] = str(initrd)
    (workdir / "qemu-command.txt").write_text(" ".join(cmd) + "\n")
    start = time.monotonic()
    with open(workdir / "qemu-stderr.log", "wb") as err:
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    wall = time.monotonic() - start
    serial = serial_log.read_text(errors="replace") if serial_log.exists() else ""
    result = io_dir / "dm" / "results.json"
    assert result.exists(), f"no results from the guest after {wall:.0f}s:\n{serial[-4000:]}"
    return json.loads(result.read_text()), serial, wall


def covered(ranges: list[dict[str, Any]], start: int, length: int) -> bool:
    """Every sector of [start, start+length) is inside a reported bad range."""
    return all(
        any(r["start_byte"] <= s < r["start_byte"] + r["length"] for r in ranges)
        for s in range(start, start + length, 512)
    )


def _show(step: dict[str, Any]) -> str:
    return (
        f"{step.get('cmd')} -> {step.get('rc')}\n{step.get('stdout', '')[-2000:]}"
        f"{step.get('stderr', '')[-2000:]}"
    )


def test_dm_targets_in_a_guest(live_i686: Path, tmp_path: Path) -> None:
    """(a) a loop device under a dm linear target is refused (has-holders) and keeps its data;
    the dm device itself is not a whole disk. (b) over a linear + error + linear table the
    wipe ends erased_with_exceptions or failed with the error range reported, never erased."""
    results, serial, wall = _boot(live_i686, tmp_path / "dm")
    print(
        f"dm guest: {wall:.0f}s wall, linear {results['linear'].get('seconds')}s, "
        f"bad {results['bad'].get('seconds')}s"
    )
    assert results["dm_control"], _show(results["modprobe"]) + serial[-3000:]
    assert results["dmsetup_version"]["rc"] == 0, _show(results["dmsetup_version"])

    # (a) linear target over a loop device.
    lin = results["linear"]
    assert "error" not in lin, lin["error"]
    assert lin["create"]["rc"] == 0 and lin["create"]["node"], _show(lin["create"])
    lower = lin["lower"]
    rows = {row["device"]: row for row in lin["disks"]["json"]["disks"]}
    assert lin["disks"]["rc"] == 0, _show(lin["disks"])
    assert rows[lower]["wipeable"] is False
    # Listed without being named, a loop device is refused as such (one guard policy: loop
    # devices only when named); named, the guard sees its holder (rule_loop below).
    assert rows[lower]["rule"] == "loop", rows[lower]
    assert "/dev/mapper/benchlin" not in rows or not rows["/dev/mapper/benchlin"]["wipeable"]
    assert lin["rule_loop"] == "has-holders"
    assert lin["rule_dm"] == "not-whole-disk"
    # The CLI refuses both with the guard's exit code (5) and never writes.
    assert lin["wipe_loop"]["rc"] == 5, _show(lin["wipe_loop"])
    assert "error:" in lin["wipe_loop"]["stderr"] and "Traceback" not in lin["wipe_loop"]["stderr"]
    assert lin["wipe_dm"]["rc"] == 5, _show(lin["wipe_dm"])
    assert lin["remove"]["rc"] == 0, _show(lin["remove"])
    assert lin["after"] == lin["before"], "the loop device under the dm target was written"

    # (b) linear + error + linear: bad sectors in the middle of the device.
    bad = results["bad"]
    assert "error" not in bad, bad["error"]
    assert bad["create"]["rc"] == 0 and bad["create"]["node"], _show(bad["create"])
    start, length = bad["bad_byte"], bad["bad_len"]
    # The dm device itself: refused by the guard (not a whole disk), or wiped - never erased.
    on_dm = bad["wipe_dm"]
    if on_dm["rc"] == 5:
        assert "error:" in on_dm["stderr"], _show(on_dm)
    else:
        (entry,) = on_dm["json"]
        assert entry["report"]["status"] in ("erased_with_exceptions", "failed"), _show(on_dm)
        assert covered(entry["report"]["bad_ranges"], start, length), entry["report"]
    # Through a loop device over it: the whole CLI path, the error target's EIO reported.
    over = bad["wipe_loop_over_dm"]
    assert over["json"], _show(over)
    (entry,) = over["json"]
    report = entry["report"]
    assert report["status"] in ("erased_with_exceptions", "failed"), report["status_detail"]
    assert report["status"] != "erased"
    assert covered(report["bad_ranges"], start, length), report["bad_ranges"]
    assert report["verification"] == "full"
    # The engine on the dm device directly (as where the host had dm).
    direct = bad["engine_direct"]
    assert covered(direct["bad_ranges"], start, length), direct
    assert all(
        r["start_byte"] + r["length"] > start and r["start_byte"] < start + length
        for r in direct["bad_ranges"]
    ), direct  # nothing reported outside it
    assert bad["remove"]["rc"] == 0, _show(bad["remove"])
