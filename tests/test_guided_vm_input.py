"""The keyboard and mouse tests on real kernel input devices: uinput in a QEMU guest.

This host's kernel has no uinput; the live image's Debian i686 kernel has. One guest boot of
the i686 live root (the session-built one, as tests/test_vm_dm.py does) runs
tests/vm_input_guest.py instead of the unattended bench: it creates a donated keyboard, the
operator's switch box and a mouse with /dev/uinput, and drives the bench's real test screens
(Textual Pilot) while those devices send real events (16-byte ``input_event`` on i686).
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

GUEST_DRIVER = Path(__file__).with_name("vm_input_guest.py")

# Run by busybox at the initramfs' hand-over (first on its PATH, before busybox's applet).
SWITCH_ROOT = """#!/bin/busybox sh
# tests/test_guided_vm_input.py: the live root runs the input scenario instead of the bench.
cp /input-unattended /newroot/usr/lib/bench-live/unattended
chmod 755 /newroot/usr/lib/bench-live/unattended
exec /bin/busybox switch_root "$@"
"""
UNATTENDED = """#!/bin/bash
. /run/bench-live/env
export BENCH_AGENT_HOME=/tmp/input-home LANG=C.UTF-8 TEXTUAL_ANIMATIONS=none
mkdir -p "$BENCH_AGENT_HOME"
echo "bench-input: uinput scenario" >/dev/console
/opt/bench-agent/bin/python "$BENCH_IO/vm_input_guest.py" "$BENCH_IO/input" >/dev/console 2>&1
sync
"""

MACHINE = vbench.Machine(
    name="input",
    description="input devices: no disks; a keyboard, a switch box and a mouse made by uinput",
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
    (stage / "input-unattended").write_text(UNATTENDED)
    for script in (stage / "bin" / "switch_root", stage / "input-unattended"):
        script.chmod(0o755)
    archive = workdir / "hook.cpio"
    with open(archive, "wb") as out:
        subprocess.run(
            ["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"],
            input=b"bin\nbin/switch_root\ninput-unattended\n",
            cwd=stage,
            stdout=out,
            check=True,
        )
    return archive


def boot(live: Path, workdir: Path, timeout_s: float = 420) -> tuple[dict[str, Any], str, float]:
    pxe = live / "pxe"
    io_dir = workdir / "io"
    io_dir.mkdir(parents=True)
    shutil.copy2(GUEST_DRIVER, io_dir / GUEST_DRIVER.name)
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
    result = io_dir / "input" / "results.json"
    assert result.exists(), f"no results from the guest after {wall:.0f}s:\n{serial[-4000:]}"
    return json.loads(result.read_text()), serial, wall


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
