"""The keyboard and mouse tests on real kernel input devices: uinput in a QEMU guest.

This host's kernel has no uinput; the live image's Debian i686 kernel has. One guest boot of
the i686 live root (the session-built one, as tests/test_vm_dm.py does) runs
tests/vm_input_guest.py instead of the unattended bench: it creates a donated keyboard, the
operator's switch box and a mouse with /dev/uinput, and drives the bench's real test screens
(Textual Pilot) while those devices send real events (16-byte ``input_event`` on i686).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.vm_support import boot_scenario, scenario_machine

pytestmark = [pytest.mark.vm, pytest.mark.slow]

GUEST_DRIVER = Path(__file__).with_name("vm_input_guest.py")

UNATTENDED = """#!/bin/bash
# tests/test_guided_vm_input.py: the live root runs the input scenario instead of the bench.
. /run/bench-live/env
export BENCH_AGENT_HOME=/tmp/input-home LANG=C.UTF-8 TEXTUAL_ANIMATIONS=none
mkdir -p "$BENCH_AGENT_HOME"
echo "bench-input: uinput scenario" >/dev/console
/opt/bench-agent/bin/python "$BENCH_IO/vm_input_guest.py" "$BENCH_IO/input" >/dev/console 2>&1
sync
"""

MACHINE = scenario_machine(
    "input", "input devices: no disks; a keyboard, a switch box and a mouse made by uinput"
)


def boot(live: Path, workdir: Path) -> tuple[dict[str, Any], str, float]:
    return boot_scenario(live, workdir, MACHINE, UNATTENDED, (GUEST_DRIVER,), "input")


def test_keyboard_and_mouse_tests_on_uinput_devices(live_i686: Path, tmp_path: Path) -> None:
    results, serial, wall = boot(live_i686, tmp_path / "input")
    print(f"input guest: {wall:.0f}s wall, screens {results.get('screens_s')}s")
    assert "error" not in results, results["error"] + serial[-3000:]
    assert results["modprobe"]["rc"] == 0, results["modprobe"]
    assert results["event_size"] == 16  # i686: struct input_event with 32-bit longs
    kinds = {d["name"]: d for d in results["devices"]}
    assert kinds["Bench donated keyboard"]["keyboard"]
    assert kinds["Bench switch box"]["switch"] and not kinds["Bench switch box"]["keyboard"]
    assert kinds["Bench mouse"]["mouse"]
    # The device pressed last before a test is the operator's.
    assert results["recent_started"] and results["operator_device"] == results["switch_path"]
    # Keyboard: read from the devices, nothing excluded, the switches never count.
    assert results["keyboard_reading"] and results["keyboard_excluded"] == []
    assert results["pressed_after_switch"] == []
    assert results["keyboard_done"], results
    assert results["keyboard_summary"].startswith("✔ All 28 keys answered."), results
    assert {"shift", "ctrl", "alt"} <= set(results["keyboard_pressed"])
    # Mouse: each button on its own, the wheel too.
    assert results["mouse_reading"]
    assert results["mouse_buttons_two"] == ["left", "right"] and not results["mouse_done_early"]
    assert results["mouse_done"], results
    assert results["mouse_summary"].startswith("✔ Every target was reached and every button")
