"""The keyboard and mouse tests of the guided checks, finishable with the operator's own keys.

The donated keyboard and mouse are read from the kernel's input devices when the bench can
(the live image runs as root on the console): that tells the operator's keyboard or switches
from the donated keyboard, and shows shift/ctrl/alt and each mouse button. Without them (a
terminal over ssh, a test) the terminal's keys are used and what it cannot show is reported as
not tested. The operator's keys never count as test keys: "choose" or "back" ends the test.
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from bench_agent.i18n import _
from bench_agent.inventory.input_devices import (
    BUTTON_NAMES,
    EV_KEY,
    EV_REL,
    KEY_NAMES,
    KEY_PRESS,
    REL_WHEEL,
    InputDevice,
    InputEvent,
    InputWatcher,
    list_input_devices,
)
from bench_agent.tui.contracts import Bench, bench_of
from bench_agent.workflow.guided import (
    KEYBOARD_ROWS,
    MODIFIERS,
    MOUSE_BUTTONS,
    KeyboardTest,
    MouseTest,
    key_id,
    key_label,
)

# A terminal key this close to the same key on the donated keyboard is that key's echo.
ECHO_S = 0.3
COMMANDS = ("bench.select", "bench.back")


def operator_keys(app: Bench) -> dict[str, str]:
    """The operator's keys (terminal names) → the binding they drive."""
    keys: dict[str, str] = {}
    for binding in ("bench.next", "bench.prev", "bench.select", "bench.back"):
        for key in app.binding_keys(binding):
            keys.setdefault(key.strip(), binding)
    for key in app.operator.scan_keys if app.operator.scan_mode != "off" else []:
        keys.setdefault(key, "bench.next")
    return keys


class RecentKeys:
    """Which input device pressed a key last: the one that started a test is the operator's."""

    def __init__(self, devices: list[InputDevice] | None = None) -> None:
        self.devices = devices if devices is not None else list_input_devices()
        self.last: tuple[str, float] = ("", 0.0)
        self.watcher = InputWatcher([d for d in self.devices if d.keys], self._seen)

    def _seen(self, event: InputEvent) -> None:
        if event.type == EV_KEY and event.value == KEY_PRESS:
            self.last = (event.device, event.at)

    def start(self) -> bool:
        return self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()

    def operator_device(self, within_s: float = 10.0) -> str:
        device, at = self.last
        return device if device and time.monotonic() - at <= within_s else ""


class _DeviceTest(ModalScreen[str]):
    """Shared by both tests: the watcher on the donated devices and the operator's commands."""

    def __init__(self, devices: list[InputDevice] | None = None, operator_device: str = "") -> None:
        super().__init__()
        self.devices = devices if devices is not None else list_input_devices()
        self.operator_device = operator_device
        self.watcher: InputWatcher | None = None
        self._donated_keys: dict[str, float] = {}  # key id -> when seen on a donated device

    @property
    def bench(self) -> Bench:
        return bench_of(self)

    def watched(self) -> list[InputDevice]:
        return []

    def start_watching(self) -> bool:
        wanted = self.watched()
        if not wanted:
            return False
        self.watcher = InputWatcher(wanted, self._from_thread)
        if not self.watcher.start():
            self.watcher = None
        return self.watcher is not None

    def _from_thread(self, event: InputEvent) -> None:
        self.app.call_from_thread(self.device_event, event)

    def device_event(self, event: InputEvent) -> None:
        """An event of a watched input device (UI thread)."""

    def on_unmount(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    def command_of(self, key: str) -> str:
        return operator_keys(self.bench).get(key, "")

    def terminal_command(self, key: str) -> None:
        """An operator key in the terminal: ends the test unless it is a donated key's echo."""
        if self.command_of(key) not in COMMANDS:
            return
        pressed = time.monotonic()

        def decide() -> None:
            seen = self._donated_keys.get(key_id(key))  # named keys: any layout
            if seen is not None and abs(seen - pressed) < ECHO_S:
                return  # the donated keyboard's key, echoed by the console
            self.finish()

        if self.watcher is None:
            decide()
        else:
            self.set_timer(ECHO_S / 2, decide)

    def finish(self) -> None:
        """End the test with its summary."""


class KeyboardTestScreen(_DeviceTest):
    """Press the keys shown on the donated keyboard; each lights up once pressed."""

    BINDINGS: ClassVar = []

    def __init__(
        self,
        devices: list[InputDevice] | None = None,
        operator_device: str = "",
        layout: str = "azerty",
    ) -> None:
        super().__init__(devices, operator_device)
        self.test = KeyboardTest(layout=layout)
        self.shared = False

    def watched(self) -> list[InputDevice]:
        return [d for d in self.devices if d.is_keyboard or d.path == self.operator_device]

    def on_mount(self) -> None:
        reading = self.start_watching()
        donated = [d for d in self.watched() if d.path != self.operator_device]
        # The operator drives the bench from another device than the donated keyboard.
        self.shared = not donated
        own = _("your keys")
        if not reading:
            # Only the terminal: it never shows modifiers alone, and the operator's keys are
            # commands here.
            for key in MODIFIERS:
                self.test.excluded[key] = _("not seen by a terminal")
            for name in operator_keys(self.bench):
                self.test.excluded.setdefault(key_id(name), own)
        elif not donated:
            # One keyboard for both: its keys that drive the bench cannot be tested.
            for name in operator_keys(self.bench):
                self.test.excluded.setdefault(key_id(name), own)
        self._paint()

    def compose(self) -> ComposeResult:
        with Vertical(id="keyboard"):
            yield Label(self.instructions(), id="keyboard-how")
            yield Static("", id="keys-grid")

    def instructions(self) -> str:
        return _(
            "Press each key shown on the donated keyboard. {choose} on your own keys ends the test.",
            choose=self.bench.key_for("bench.select"),
        )

    def render_keys(self) -> str:
        rows = []
        for row in KEYBOARD_ROWS:
            cells = []
            for key in row:
                label = key_label(key, self.test.layout)
                if key in self.test.pressed:
                    cells.append(f"[reverse] ✔{label} [/reverse]")
                elif key in self.test.excluded:
                    cells.append(f" –{label} ")
                else:
                    cells.append(f" {label} ")
            rows.append("  ".join(cells))
        rows.append(
            _(
                "{n} of {total} keys pressed",
                n=len(self.test.pressed),
                total=len(self.test.expected),
            )
        )
        return "\n".join(rows)

    def _paint(self) -> None:
        self.query_one("#keys-grid", Static).update(self.render_keys())
        if self.test.complete:
            self.finish()

    def device_event(self, event: InputEvent) -> None:
        if event.type != EV_KEY or event.value != KEY_PRESS or event.code not in KEY_NAMES:
            return
        name = KEY_NAMES[event.code]
        key = key_id(name, self.test.layout, position=True)
        if event.device == self.operator_device:
            if not self.shared or key in self.test.excluded:
                return  # the operator's own keys are commands, never test keys
        else:
            self._donated_keys[key] = event.at
        if self.test.press(name, position=True):
            self._paint()

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if self.command_of(event.key):
            self.terminal_command(event.key)
            return
        if self.watcher is None and self.test.press(event.key):
            self._paint()

    def summary(self) -> str:
        return self.test.summary()

    def finish(self) -> None:
        if self.app.screen is self:
            self.dismiss(self.summary())


class MouseTestScreen(_DeviceTest):
    """Click the targets in the corners and the middle, and press each button and the wheel."""

    BINDINGS: ClassVar = []

    def __init__(self, devices: list[InputDevice] | None = None, operator_device: str = "") -> None:
        super().__init__(devices, operator_device)
        self.test: MouseTest | None = None

    def watched(self) -> list[InputDevice]:
        return [d for d in self.devices if d.is_mouse and d.path != self.operator_device]

    def compose(self) -> ComposeResult:
        yield Static("", id="mouse-area")

    def on_mount(self) -> None:
        size = self.app.size
        self.test = MouseTest(size.width, size.height)
        self.start_watching()
        self._paint()

    def _paint(self) -> None:
        assert self.test is not None
        width, height = self.test.width, self.test.height
        grid = [[" "] * width for _row in range(height)]
        for index, (x, y) in enumerate(self.test.targets()):
            mark = "✔" if index in self.test.hit else "◎"
            for dy in range(self.test.size // 2):
                for dx in range(self.test.size):
                    if 0 <= y + dy < height and 0 <= x + dx < width:
                        grid[y + dy][x + dx] = mark
        lines = [
            _(
                "Click each ◎ target, then each button and the wheel. {choose} ends the test.",
                choose=self.bench.key_for("bench.select"),
            ),
            "  ".join(
                ("✔ " if b in self.test.buttons else "○ ") + _(word)
                for b, word in MOUSE_BUTTONS.items()
            ),
        ]
        for line_no, line in enumerate(lines):
            row = min(height - 1, height // 2 + 3 + line_no)
            start = max(0, (width - len(line)) // 2)
            for offset, char in enumerate(line[: width - start]):
                grid[row][start + offset] = char
        text = "\n".join("".join(row) for row in grid)
        self.query_one("#mouse-area", Static).update(text)
        if self.test.complete:
            self.finish()

    def device_event(self, event: InputEvent) -> None:
        assert self.test is not None
        if event.type == EV_KEY and event.value == KEY_PRESS and event.code in BUTTON_NAMES:
            if self.test.button(BUTTON_NAMES[event.code]):
                self._paint()
        elif event.type == EV_REL and event.code == REL_WHEEL and self.test.button("wheel"):
            self._paint()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        assert self.test is not None
        name = {1: "left", 2: "middle", 3: "right"}.get(event.button, "")
        changed = self.test.click(event.screen_x, event.screen_y)
        if self.watcher is None and name:
            changed = self.test.button(name) or changed
        if changed:
            self._paint()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel()

    def _wheel(self) -> None:
        assert self.test is not None
        if self.watcher is None and self.test.button("wheel"):
            self._paint()

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        self.terminal_command(event.key)

    def finish(self) -> None:
        assert self.test is not None
        if self.app.screen is self:
            self.dismiss(self.test.summary())
