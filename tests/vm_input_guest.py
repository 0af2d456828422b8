"""Run INSIDE a QEMU guest of the live bench by tests/test_guided_vm_input.py (not a test module).

The host's kernel has no uinput; the live image's Debian i686 kernel has. Three virtual input
devices are made with /dev/uinput (ioctls by hand, as python-evdev's UInput does): a donated
keyboard, the operator's two-switch box (Enter, Space) and a mouse. The bench's own code then
finds them (``list_input_devices``), and its keyboard and mouse test screens run under Textual's
Pilot while the devices send real kernel events (16-byte ``struct input_event`` on i686).
Results go as JSON to the directory given as the only argument (the 9p io share).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import struct
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

UI_SET_EVBIT, UI_SET_KEYBIT, UI_SET_RELBIT = 0x40045564, 0x40045565, 0x40045566
UI_DEV_CREATE, UI_DEV_DESTROY = 0x5501, 0x5502
EV_SYN, EV_KEY, EV_REL = 0x00, 0x01, 0x02
REL_X, REL_Y, REL_WHEEL = 0x00, 0x01, 0x08
BTN_LEFT, BTN_RIGHT, BTN_MIDDLE = 0x110, 0x111, 0x112


class Virtual:
    """One uinput device (the legacy uinput_user_dev set-up: every kernel since 2.6)."""

    def __init__(self, name: str, keys: list[int], rels: list[int] | None = None) -> None:
        self.name = name
        self.fd = os.open("/dev/uinput", os.O_WRONLY | os.O_NONBLOCK)
        fcntl.ioctl(self.fd, UI_SET_EVBIT, EV_KEY)
        for code in keys:
            fcntl.ioctl(self.fd, UI_SET_KEYBIT, code)
        if rels:
            fcntl.ioctl(self.fd, UI_SET_EVBIT, EV_REL)
            for code in rels:
                fcntl.ioctl(self.fd, UI_SET_RELBIT, code)
        # struct uinput_user_dev: name[80], input_id (4 × u16), ff_effects_max, abs[4][64].
        setup = struct.pack("80sHHHHI", name.encode(), 0x03, 0x1209, 0x0001, 1, 0)
        os.write(self.fd, setup + bytes(4 * 64 * 4))
        fcntl.ioctl(self.fd, UI_DEV_CREATE)

    def emit(self, *events: tuple[int, int, int]) -> None:
        os.write(self.fd, b"".join(struct.pack("llHHi", 0, 0, t, c, v) for t, c, v in events))

    def key(self, code: int) -> None:
        self.emit((EV_KEY, code, 1), (EV_SYN, 0, 0), (EV_KEY, code, 0), (EV_SYN, 0, 0))

    def close(self) -> None:
        fcntl.ioctl(self.fd, UI_DEV_DESTROY)
        os.close(self.fd)


async def wait_for(pilot: Any, condition: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await pilot.pause(0.1)
    return True


async def screens(
    devices: list[Any], keyboard: Virtual, switch: Virtual, mouse: Virtual, switch_path: str
) -> dict[str, Any]:
    from bench_agent.config import load_settings
    from bench_agent.inventory.input_devices import KEY_CODES
    from bench_agent.tui.app import BenchApp
    from bench_agent.tui.guided_tests import KeyboardTestScreen, MouseTestScreen, RecentKeys
    from bench_agent.tui.operators import OperatorProfile
    from bench_agent.workflow.guided import KEYBOARD_ROWS

    out: dict[str, Any] = {}
    recent = RecentKeys(devices)
    out["recent_started"] = recent.start()
    switch.key(KEY_CODES["enter"])  # the operator starts the test from the switch box
    time.sleep(0.5)
    out["operator_device"] = recent.operator_device()
    recent.stop()

    app = BenchApp(
        load_settings(station="vm-input"),
        operator=OperatorProfile(
            name="t", language="en", scan_mode="two-switch", scan_keys=["space", "enter"]
        ),
        poll_ledger=False,
    )
    results: list[str | None] = []
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.pause()
        screen = KeyboardTestScreen(devices, operator_device=out["operator_device"])
        await app.push_screen(screen, results.append)
        await pilot.pause()
        out["keyboard_reading"] = screen.watcher is not None
        out["keyboard_excluded"] = sorted(screen.test.excluded)
        switch.key(KEY_CODES["enter"])
        switch.key(KEY_CODES["space"])
        await pilot.pause(1.0)
        out["pressed_after_switch"] = sorted(screen.test.pressed)
        sides = {"shift": "rightshift", "ctrl": "leftctrl", "alt": "leftalt"}
        # One key at a time, as hands type: a burst of 100 events would overflow the evdev
        # client's buffer (the kernel then drops them), which no technician can cause.
        for row in KEYBOARD_ROWS:
            for key in row:
                keyboard.key(KEY_CODES[sides.get(key, key)])
                await wait_for(pilot, lambda key=key: key in screen.test.pressed, 10.0)
        out["keyboard_done"] = await wait_for(pilot, lambda: bool(results))
        out["keyboard_summary"] = results[0] if results else None
        out["keyboard_pressed"] = sorted(screen.test.pressed)

        mouse_results: list[str | None] = []
        mouse_screen = MouseTestScreen(devices, out["operator_device"])
        await app.push_screen(mouse_screen, mouse_results.append)
        await pilot.pause()
        out["mouse_reading"] = mouse_screen.watcher is not None
        assert mouse_screen.test is not None
        for x, y in mouse_screen.test.targets():
            await pilot.click(offset=(x + 1, y))
        for button in (BTN_LEFT, BTN_RIGHT):
            mouse.emit((EV_KEY, button, 1), (EV_SYN, 0, 0), (EV_KEY, button, 0), (EV_SYN, 0, 0))
        await pilot.pause(1.0)
        out["mouse_buttons_two"] = sorted(mouse_screen.test.buttons)
        out["mouse_done_early"] = bool(mouse_results)
        mouse.emit((EV_KEY, BTN_MIDDLE, 1), (EV_KEY, BTN_MIDDLE, 0), (EV_SYN, 0, 0))
        mouse.emit((EV_REL, REL_WHEEL, -1), (EV_SYN, 0, 0))
        out["mouse_done"] = await wait_for(pilot, lambda: bool(mouse_results))
        out["mouse_summary"] = mouse_results[0] if mouse_results else None
    return out


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    made: list[Virtual] = []
    try:
        step = subprocess.run(["modprobe", "uinput"], capture_output=True, text=True, check=False)
        results["modprobe"] = {"rc": step.returncode, "stderr": step.stderr}
        from bench_agent.inventory.input_devices import EVENT_SIZE, KEY_CODES, list_input_devices

        results["event_size"] = EVENT_SIZE
        keyboard = Virtual("Bench donated keyboard", sorted(set(KEY_CODES.values())))
        made.append(keyboard)
        switch = Virtual("Bench switch box", [KEY_CODES["enter"], KEY_CODES["space"]])
        made.append(switch)
        mouse = Virtual("Bench mouse", [BTN_LEFT, BTN_RIGHT, BTN_MIDDLE], [REL_X, REL_Y, REL_WHEEL])
        made.append(mouse)
        deadline = time.monotonic() + 20
        devices: list[Any] = []
        while time.monotonic() < deadline:
            devices = list_input_devices()
            if sum(d.name.startswith("Bench ") for d in devices) == 3:
                break
            time.sleep(0.2)
        results["devices"] = [
            {
                "name": d.name,
                "path": d.path,
                "keyboard": d.is_keyboard,
                "mouse": d.is_mouse,
                "switch": d.is_switch,
            }
            for d in devices
        ]
        ours = [d for d in devices if d.name.startswith("Bench ")]
        switch_path = next(d.path for d in ours if d.name == "Bench switch box")
        results["switch_path"] = switch_path
        started = time.monotonic()
        results.update(asyncio.run(screens(ours, keyboard, switch, mouse, switch_path)))
        results["screens_s"] = round(time.monotonic() - started, 1)
    except Exception:
        results["error"] = traceback.format_exc()
    finally:
        for device in made:
            with contextlib.suppress(OSError):
                device.close()
        (folder / "results.json").write_text(json.dumps(results, indent=2))
        print("bench-input: results written", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
