"""Device-mapper scenarios in a QEMU guest (this host's kernel has no device-mapper; the live
bench's Debian kernel has ``dm_mod``, its root has ``dmsetup`` and ``losetup``).

One guest boot of the i686 live root (the session-built one of tests/test_vm.py), no disks,
that runs tests/vm_dm_guest.py instead of the unattended bench (``vm_support.boot_scenario``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.vm_support import boot_scenario, scenario_machine

pytestmark = [pytest.mark.vm, pytest.mark.slow]

GUEST_DRIVER = Path(__file__).with_name("vm_dm_guest.py")
PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "test-bench.toml"

UNATTENDED = """#!/bin/bash
# tests/test_vm_dm.py: the live root runs the dm scenarios instead of the unattended bench.
. /run/bench-live/env
# The test bench's profile (from the io share) allows loop devices, as on the host's tests.
export BENCH_AGENT_HOME=/tmp/dm-home BENCH_AGENT_PROFILE="$BENCH_IO/test-bench.toml" LANG=C.UTF-8
mkdir -p "$BENCH_AGENT_HOME"
echo "bench-dm: device-mapper scenarios" >/dev/console
/opt/bench-agent/bin/python "$BENCH_IO/vm_dm_guest.py" "$BENCH_IO/dm" >/dev/console 2>&1
sync
"""

MACHINE = scenario_machine(
    "dm", "device-mapper scenarios: no disks, the loop and dm devices live in RAM"
)


def _boot(live: Path, workdir: Path) -> tuple[dict[str, Any], str, float]:
    return boot_scenario(live, workdir, MACHINE, UNATTENDED, (GUEST_DRIVER, PROFILE), "dm")


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
