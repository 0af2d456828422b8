"""Automatic checks (CPU load, RAM pattern, sensors, MCE/EDAC, devices) and the SMART self-test."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench_agent.errors import BenchError
from bench_agent.inventory import collect_inventory
from bench_agent.inventory.checks import (
    count_mce_lines,
    cpu_load,
    ram_pattern_test,
    read_edac_counts,
    read_throttle_count,
    run_auto_checks,
)
from bench_agent.inventory.selftest import remaining_percent, run_short_self_test
from bench_agent.models.inventory import Inventory, OpticalDrive, SoundCard
from bench_agent.progress import ProgressEvent
from tests.conftest import FIXTURES, LoopFactory, require_tool


def test_cpu_load_checks_every_result() -> None:
    ok, rounds = cpu_load(2, 0.3)
    assert ok and rounds > 0


def test_ram_pattern_test_is_bounded_and_clean() -> None:
    steps: list[tuple[int, int]] = []
    verified, bad, passes = ram_pattern_test(16 << 20, 10.0, lambda d, t: steps.append((d, t)))
    assert (bad, passes) == (0, 5)  # 0x00, 0xff, 0x55, 0xaa, then per-block stamps
    assert verified == 5 * (16 << 20)
    assert steps and steps[-1][1] == 5 * 16
    start = time.monotonic()
    _v, _b, short_passes = ram_pattern_test(256 << 20, 0.05)
    assert time.monotonic() - start < 5  # the budget stops it early
    assert short_passes <= 5


def test_mce_lines_in_a_kernel_log() -> None:
    log = "\n".join(
        [
            "Linux version 6.1.0-27-686",
            "mce: [Hardware Error]: Machine check events logged",
            "EDAC MC0: 1 CE memory read error on CPU_SrcID#0",
            "e1000: eth0 NIC Link is Up 100 Mbps Full Duplex",
        ]
    )
    assert count_mce_lines(log) == 2
    assert count_mce_lines("") == 0


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_sensor_readers_over_a_sysfs_tree(tmp_path: Path) -> None:
    # A sysfs layout as an old board exposes it (throttle counters, EDAC on i82875p); the
    # temperatures come from psutil (tests/test_probes.py).
    write(tmp_path / "devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "3\n")
    write(tmp_path / "devices/system/cpu/cpu1/thermal_throttle/core_throttle_count", "1\n")
    write(tmp_path / "devices/system/edac/mc/mc0/ce_count", "2\n")
    write(tmp_path / "devices/system/edac/mc/mc0/ue_count", "0\n")
    root = str(tmp_path)
    assert read_throttle_count(root) == 4
    assert read_edac_counts(root) == (2, 0)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_throttle_count(str(empty)) is None
    assert read_edac_counts(str(empty)) is None


def test_quick_auto_checks_on_this_machine() -> None:
    inventory = collect_inventory(smart=False)
    events: list[ProgressEvent] = []
    start = time.monotonic()
    checks = run_auto_checks(inventory, quick=True, progress=events.append)
    elapsed = time.monotonic() - start
    assert elapsed < 15
    by_id = {c.id: c for c in checks}
    assert by_id["cpu.load"].status == "pass"
    assert by_id["ram.pattern"].status == "pass"
    assert by_id["ram.size"].status in ("pass", "warn")
    assert "cpu.mce" in by_id and "cpu.temperature" in by_id
    assert events and events[-1].phase == "done"
    assert all(c.duration_s <= 10 for c in checks)


def test_devices_that_do_not_answer() -> None:
    ghost = Inventory(
        source="live",
        optical=[OpticalDrive(name="sr97")],
        sound=[SoundCard(card=29, name="Ghost AC97")],
    )
    checks = {c.id: c for c in run_auto_checks(ghost, quick=True, progress=lambda e: None)}
    assert checks["optical.sr97"].status == "fail"
    assert checks["sound.card29"].status == "fail"
    assert "Ghost AC97" in checks["sound.card29"].message


def test_replayed_inventory_skips_the_checks() -> None:
    replay = collect_inventory(evidence_dir=FIXTURES / "evidence" / "pentium4-desktop")
    checks = run_auto_checks(replay, quick=True, progress=lambda e: None)
    assert [c.status for c in checks] == ["skipped"]


# --- SMART self-test -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,remaining",
    [
        (
            "Self-test execution status:      ( 249)\tSelf-test routine in progress...\n"
            "\t\t\t\t\t90% of test remaining.\n",
            90,
        ),
        (
            "Self-test execution status:      (   0)\tThe previous self-test routine completed\n"
            "\t\t\t\t\twithout error or no self-test has ever \n",
            None,
        ),
        ("Self-test status: Short self-test in progress (40% completed)\n", 60),
        ("Self-test status: No self-test in progress\n", None),
    ],
)
def test_self_test_progress(text: str, remaining: int | None) -> None:
    assert remaining_percent(text) == remaining


def test_previous_self_test_line_of_real_output_is_not_running() -> None:
    text = (FIXTURES / "smartctl" / "seagate-st9160821as-830b9c-failed.txt").read_text()
    assert remaining_percent(text) is None


@pytest.mark.device
def test_self_test_on_a_device_without_smart(make_loop: LoopFactory) -> None:
    require_tool("smartctl")
    loop = make_loop(4 << 20)
    with pytest.raises(BenchError) as err:
        run_short_self_test(str(loop), lambda e: None)
    assert loop.name in err.value.message
    assert "smartctl cannot detect the device type" in err.value.message


def test_check_cli_on_this_machine_under_test_bench() -> None:
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench_agent.cli.main",
            "check",
            "--profile",
            "test-bench",
            "--quick",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr  # kept: a VM meets the test bench
    data = json.loads(result.stdout)
    assert data["verdict"]["outcome"] == "kept"
    ids = {c["id"] for c in data["auto_checks"]}
    assert {"cpu.load", "cpu.mce", "ram.size", "ram.pattern"} <= ids
    assert data["disks"] and data["cpu"]["logical_cpus"] >= 1


def test_a_hung_device_is_reported_not_waited_for() -> None:
    from bench_agent.inventory.checks import call_with_timeout, drive_status

    start = time.monotonic()
    assert call_with_timeout(lambda: (time.sleep(5), 1)[1], 0.2) is None
    assert time.monotonic() - start < 2
    assert call_with_timeout(lambda: 4, 1.0) == 4
    with pytest.raises(OSError):
        call_with_timeout(lambda: drive_status("/nonexistent/sr0"), 1.0)


FAKE_SMARTCTL = """#!/bin/sh
# Stands in for smartctl where no SMART drive exists (this VM): replays a real recorded
# output for -a and the in-progress status for -c, three polls long.
state="$FAKE_STATE"
case "$*" in
  "-a "*) cat "$FAKE_RECORDED" ;;
  "-t short "*) printf '=== START OF OFFLINE IMMEDIATE AND SELF-TEST SECTION ===\\n'
                printf 'Sending command: "Execute SMART Short self-test routine immediately in off-line mode".\\n'
                printf 'Drive command "Execute SMART Short self-test routine immediately in off-line mode" successful.\\n'
                printf 'Testing has begun.\\n'
                echo 0 > "$state" ;;
  "-c "*) n=$(cat "$state"); n=$((n + 1)); echo $n > "$state"
          if [ "$n" -le 3 ]; then
            printf 'Self-test execution status:      ( 24%d)\\tSelf-test routine in progress...\\n' $((10 - n * 3))
            printf '\\t\\t\\t\\t\\t%d0%% of test remaining.\\n' $((10 - n * 3))
          else
            printf 'Self-test execution status:      (   0)\\tThe previous self-test routine completed\\n'
          fi ;;
esac
"""


def test_short_self_test_polls_at_the_drive_pace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "smartctl"
    fake.parent.mkdir()
    fake.write_text(FAKE_SMARTCTL)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_RECORDED", str(FIXTURES / "smartctl" / "samsung-hd160jj-p-7b9ff4.txt"))
    sleeps: list[float] = []
    events: list[ProgressEvent] = []
    verdict = run_short_self_test("sda", events.append, sleep=sleeps.append)
    # The recorded drive asks for 1 minute: polls every 6 s (a tenth), never under 5 s.
    assert sleeps == [6.0] * 4
    assert [e.done for e in events] == [0, 30, 60, 90, 100]
    assert verdict.startswith("Short offline") and "Completed without error" in verdict
