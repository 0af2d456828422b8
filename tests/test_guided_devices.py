"""Keyboard and mouse tests read the machine's input devices as the kernel reports them.

The devices are real kernel-format streams: ``struct input_event`` records written into FIFOs
that the bench opens and reads exactly as it opens ``/dev/input/eventN`` (non-blocking, select).
The operator drives the bench from another device (a switch box), and only the Pilot's
terminal keys act as the operator's commands, as on the live console.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench_agent.config import load_settings
from bench_agent.inventory.input_devices import (
    BTN_LEFT,
    BTN_MIDDLE,
    BTN_RIGHT,
    EV_KEY,
    EV_REL,
    EV_SYN,
    KEY_CODES,
    REL_WHEEL,
    InputDevice,
    InputEvent,
    InputWatcher,
    encode_event,
    parse_proc_devices,
)
from bench_agent.tui.operators import OperatorProfile
from bench_agent.workflow.guided import KEYBOARD_ROWS, KeyboardTest, MouseTest

FIXTURES = Path(__file__).parent / "fixtures" / "input"
SIZE = (80, 25)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_proc_devices_of_a_real_laptop_tell_keyboard_mouse_and_hot_keys() -> None:
    text = (FIXTURES / "ideapad3-17itl6.devices").read_text()
    devices = {d.name.strip(): d for d in parse_proc_devices(text, Path("/dev/input"))}
    keyboard = devices["AT Translated Set 2 keyboard"]
    mouse = devices["USB OPTICAL MOUSE"]
    hot_keys = devices["Ideapad extra buttons"]
    assert keyboard.path == "/dev/input/event2" and keyboard.phys == "isa0060/serio0/input0"
    assert keyboard.is_keyboard and not keyboard.is_mouse
    assert {KEY_CODES["leftshift"], KEY_CODES["leftctrl"], KEY_CODES["leftalt"]} <= keyboard.keys
    assert mouse.is_mouse and not mouse.is_keyboard
    assert {BTN_LEFT, BTN_RIGHT, BTN_MIDDLE} <= mouse.keys and REL_WHEEL in mouse.relative
    # Hot keys (Wi-Fi, brightness) are neither the donated keyboard nor a mouse.
    assert not hot_keys.is_keyboard and not hot_keys.is_mouse and hot_keys.is_switch


# ------------------------------------------------------------------ kernel-format devices
KEYBOARD_BITS = "402000000 3803078f800d001 feffffdfffefffff fffffffffffffffe"
PROC_TEMPLATE = """I: Bus=0011 Vendor=0001 Product=0001 Version=ab41
N: Name="{name}"
P: Phys={phys}
H: Handlers={handlers}
B: EV={ev}
B: KEY={keys}
{rel}
"""


class FakeBus:
    """FIFOs standing in for /dev/input/eventN, described as /proc/bus/input/devices does."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writers: dict[str, int] = {}
        self.blocks: list[str] = []

    def add(self, name: str, event: str, keys: str, rel: str = "") -> str:
        path = self.folder / event
        os.mkfifo(path)
        # Held open read-write so the bench's reader never sees end-of-file between writes.
        self.writers[str(path)] = os.open(path, os.O_RDWR)
        self.blocks.append(
            PROC_TEMPLATE.format(
                name=name,
                phys=f"test/{event}",
                handlers=f"kbd {event}",
                ev="17" if rel else "120013",
                keys=keys,
                rel=f"B: REL={rel}" if rel else "",
            )
        )
        return str(path)

    def devices(self) -> list[InputDevice]:
        return parse_proc_devices("\n\n".join(self.blocks), self.folder)

    def key(self, path: str, name: str) -> None:
        code = KEY_CODES[name]
        self.raw(path, (EV_KEY, code, 1), (EV_SYN, 0, 0), (EV_KEY, code, 0), (EV_SYN, 0, 0))

    def raw(self, path: str, *events: tuple[int, int, int]) -> None:
        os.write(self.writers[path], b"".join(encode_event(*e) for e in events))

    def close(self) -> None:
        for fd in self.writers.values():
            os.close(fd)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[FakeBus]:
    fake = FakeBus(tmp_path)
    yield fake
    fake.close()


def test_watcher_decodes_kernel_events(bus: FakeBus) -> None:
    path = bus.add("kbd", "event7", KEYBOARD_BITS)
    seen: list[InputEvent] = []
    watcher = InputWatcher(bus.devices(), seen.append)
    assert watcher.start()
    try:
        bus.key(path, "leftshift")
        # Half an event, then the rest: records are reassembled, never misread.
        data = encode_event(EV_KEY, KEY_CODES["a"], 1)
        os.write(bus.writers[path], data[:5])
        time.sleep(0.2)
        os.write(bus.writers[path], data[5:])
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        watcher.stop()
    assert [(e.device, e.type, e.code, e.value) for e in seen] == [
        (path, EV_KEY, KEY_CODES["leftshift"], 1),
        (path, EV_KEY, KEY_CODES["leftshift"], 0),
        (path, EV_KEY, KEY_CODES["a"], 1),
    ]


def test_keyboard_test_counts_positions_and_says_what_was_not_tested() -> None:
    test = KeyboardTest(layout="azerty", excluded={"enter": "your keys"})
    assert test.press("a")  # AZERTY prints "a" on the Q position
    assert "q" in test.pressed
    assert test.press("leftshift", position=True) and "shift" in test.pressed
    assert not test.press("enter")  # excluded: the operator's key
    assert "enter" not in test.expected
    assert "Enter" in test.summary() and "your keys" in test.summary()


def test_mouse_test_needs_every_button_not_just_clicks() -> None:
    test = MouseTest(80, 25)
    for x, y in test.targets():
        test.click(x, y)
    assert not test.complete  # every target, but no button pressed yet
    for name in ("left", "right", "middle"):
        test.button(name)
    assert not test.complete and test.missing_buttons == ["wheel"]
    test.button("wheel")
    assert test.complete


# ------------------------------------------------------------------ the screens (Pilot)
def make_app(**operator: Any) -> Any:
    from bench_agent.tui.app import BenchApp

    return BenchApp(
        load_settings(station="bench-1"),
        operator=OperatorProfile(name="t", **{"language": "en", **operator}),
        poll_ledger=False,
    )


async def wait_for(pilot: Any, condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


ALL_KEYS = {
    "shift": "leftshift",
    "ctrl": "rightctrl",
    "alt": "leftalt",
}


@pytest.mark.anyio
async def test_keyboard_test_passes_with_modifiers_from_the_donated_keyboard(
    bus: FakeBus,
) -> None:
    from bench_agent.tui.guided_tests import KeyboardTestScreen

    donated = bus.add("AT Translated Set 2 keyboard", "event2", KEYBOARD_BITS)
    # The operator's two-switch box: it sends Space and Enter only.
    switch = bus.add("Switch box", "event9", "200000010000000")
    app = make_app(scan_mode="two-switch", scan_keys=["space", "enter"])
    results: list[str | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = KeyboardTestScreen(bus.devices(), operator_device=switch)
        await app.push_screen(screen, results.append)
        await pilot.pause()
        assert screen.watcher is not None and not screen.test.excluded
        # The operator's switches never count as test keys.
        bus.key(switch, "enter")
        bus.key(switch, "space")
        await pilot.pause(0.3)
        assert screen.test.pressed == set()
        # Enter on the donated keyboard counts, and its echo on the console ends nothing.
        bus.key(donated, "enter")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "enter" in screen.test.pressed)
        await pilot.pause(0.4)
        assert app.screen is screen and not results
        for row in KEYBOARD_ROWS:
            for key in row:
                if key != "enter":
                    bus.key(donated, ALL_KEYS.get(key, key))
        await wait_for(pilot, lambda: bool(results))
    assert results[0] is not None and results[0].startswith("✔ All 28 keys answered.")


@pytest.mark.anyio
async def test_the_operators_choose_key_ends_the_keyboard_test(bus: FakeBus) -> None:
    from bench_agent.tui.guided_tests import KeyboardTestScreen

    donated = bus.add("AT Translated Set 2 keyboard", "event2", KEYBOARD_BITS)
    switch = bus.add("Switch box", "event9", "200000010000000")
    app = make_app()
    results: list[str | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.push_screen(KeyboardTestScreen(bus.devices(), switch), results.append)
        await pilot.pause()
        bus.key(donated, "leftshift")
        await pilot.pause(0.3)
        await pilot.press("enter")  # the operator's own Enter: no donated Enter just before
        await wait_for(pilot, lambda: bool(results))
    summary = results[0] or ""
    assert summary.startswith("✘ Keys not pressed:") and "Shift" not in summary


@pytest.mark.anyio
async def test_keyboard_test_in_a_plain_terminal_reports_what_it_cannot_see() -> None:
    from bench_agent.tui.guided_tests import KeyboardTestScreen

    app = make_app(language="fr")
    results: list[str | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = KeyboardTestScreen([], "")
        await app.push_screen(screen, results.append)
        await pilot.pause()
        await pilot.press("a", "z", "space")
        assert {"q", "w", "space"} <= screen.test.pressed
        await pilot.press("right")  # the operator's "next": neither a test key nor an end
        assert "right" not in screen.test.pressed and app.screen is screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(results))
    summary = results[0] or ""
    assert "Maj Ctrl Alt" in summary  # not seen by a terminal, said in French
    assert "vos touches" in summary


@pytest.mark.anyio
async def test_mouse_test_reads_each_button_of_the_donated_mouse(bus: FakeBus) -> None:
    from bench_agent.tui.guided_tests import MouseTestScreen

    mouse = bus.add("USB OPTICAL MOUSE", "event5", "70000 0 0 0 0", rel="903")
    app = make_app()
    results: list[str | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = MouseTestScreen(bus.devices(), "")
        await app.push_screen(screen, results.append)
        await pilot.pause()
        assert screen.watcher is not None and screen.test is not None
        for x, y in screen.test.targets():
            await pilot.click(offset=(x + 1, y))
        bus.raw(mouse, (EV_KEY, BTN_LEFT, 1), (EV_KEY, BTN_LEFT, 0), (EV_SYN, 0, 0))
        bus.raw(mouse, (EV_KEY, BTN_RIGHT, 1), (EV_KEY, BTN_RIGHT, 0), (EV_SYN, 0, 0))
        await wait_for(pilot, lambda: screen.test is not None and len(screen.test.buttons) == 2)
        assert not results  # the middle button and the wheel are still to try
        bus.raw(mouse, (EV_KEY, BTN_MIDDLE, 1), (EV_KEY, BTN_MIDDLE, 0), (EV_REL, REL_WHEEL, -1))
        await wait_for(pilot, lambda: bool(results))
    assert (results[0] or "").startswith("✔ Every target was reached and every button worked.")


@pytest.mark.anyio
async def test_mouse_test_in_a_terminal_tells_buttons_apart() -> None:
    from bench_agent.tui.guided_tests import MouseTestScreen

    app = make_app()
    results: list[str | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = MouseTestScreen([], "")
        await app.push_screen(screen, results.append)
        await pilot.pause()
        assert screen.test is not None
        for x, y in screen.test.targets():
            await pilot.click(offset=(x + 1, y))  # all with the left button
        assert screen.test.buttons == {"left"} and not results
        await pilot.press("enter")  # the operator ends it
        await wait_for(pilot, lambda: bool(results))
    summary = results[0] or ""
    assert "5 of 5 targets reached." in summary
    assert "✘ right button" in summary and "✘ wheel" in summary


def test_tool_errors_are_said_in_words_with_the_real_tools() -> None:
    """eject and aplay really run against devices that are not there; the operator reads
    words in their language, the raw line stays in the detail for the record."""
    from bench_agent.adapters import guided_actions as guided
    from bench_agent.i18n import set_language
    from tests.conftest import require_tool

    require_tool("eject")
    require_tool("aplay")
    set_language("fr")
    try:
        ejected = guided.eject("/dev/bench-no-such-drive")
        played = guided.play_tone(31, seconds=0.1)  # ALSA has no card 31
        read = guided.read_test("/dev/bench-no-such-drive")
    finally:
        set_language("en")
    for result in (ejected, played, read):
        assert not result.ok
        assert "le périphérique est absent" in result.message, result
        assert "No such" not in result.message and "not found" not in result.message
    assert ejected.detail.startswith("eject:") and "aplay" in played.detail


def test_read_test_reports_a_read_error_in_one_line(tmp_path: Path) -> None:
    """A drive that opens but will not read (here a directory: EISDIR) fails the same way."""
    from bench_agent.adapters import guided_actions as guided

    result = guided.read_test(str(tmp_path))
    assert not result.ok
    assert result.message.startswith(f"Cannot read {tmp_path}: ")
