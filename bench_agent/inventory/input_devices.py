"""The machine's keyboards and mice as the kernel sees them (evdev), for the guided checks.

A terminal cannot tell one keyboard from another, never reports shift/ctrl/alt pressed alone,
and turns every click into "a click". The live image runs as root on the console, so it reads
``/dev/input/event*`` itself: devices come from ``/proc/bus/input/devices`` and events are the
kernel's ``struct input_event`` (parsed here with ``struct``: no library, same code on i686).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

PROC_DEVICES = Path("/proc/bus/input/devices")
DEV_INPUT = Path("/dev/input")

# struct input_event { struct timeval time; __u16 type; __u16 code; __s32 value; }:
# 16 bytes on i686, 24 on amd64 (native long).
EVENT_FORMAT = "llHHi"
EVENT_SIZE = struct.calcsize(EVENT_FORMAT)

EV_SYN, EV_KEY, EV_REL = 0x00, 0x01, 0x02
REL_WHEEL = 0x08
BTN_LEFT, BTN_RIGHT, BTN_MIDDLE = 0x110, 0x111, 0x112
KEY_PRESS, KEY_RELEASE, KEY_REPEAT = 1, 0, 2

# Linux key codes (input-event-codes.h) of the keys the keyboard test asks for, by position.
KEY_CODES: dict[str, int] = {
    "esc": 1,
    "1": 2,
    "5": 6,
    "0": 11,
    "backspace": 14,
    "tab": 15,
    "q": 16,
    "w": 17,
    "e": 18,
    "p": 25,
    "enter": 28,
    "leftctrl": 29,
    "a": 30,
    "s": 31,
    "semicolon": 39,
    "leftshift": 42,
    "z": 44,
    "x": 45,
    "n": 49,
    "rightshift": 54,
    "leftalt": 56,
    "space": 57,
    "f1": 59,
    "f5": 63,
    "f12": 88,
    "rightctrl": 97,
    "rightalt": 100,
    "up": 103,
    "left": 105,
    "right": 106,
    "down": 108,
    "kpenter": 96,
}
KEY_NAMES = {code: name for name, code in KEY_CODES.items()}
BUTTON_NAMES = {BTN_LEFT: "left", BTN_RIGHT: "right", BTN_MIDDLE: "middle"}


@dataclass(frozen=True)
class InputDevice:
    """One ``/dev/input/eventN`` with what it can do."""

    path: str
    name: str
    phys: str = ""
    keys: frozenset[int] = frozenset()
    relative: frozenset[int] = frozenset()

    @property
    def is_keyboard(self) -> bool:
        # A real keyboard has letters and Enter; power buttons and lid switches have keys too.
        return {KEY_CODES["a"], KEY_CODES["enter"], KEY_CODES["space"]} <= self.keys

    @property
    def is_mouse(self) -> bool:
        return BTN_LEFT in self.keys and bool(self.relative)

    @property
    def is_switch(self) -> bool:
        """Any other device with keys: an adapted switch interface, a numpad, a big-key pad."""
        return bool(self.keys) and not self.is_keyboard and not self.is_mouse


@dataclass(frozen=True)
class InputEvent:
    device: str  # path of the device it came from
    type: int
    code: int
    value: int
    at: float  # monotonic seconds when read


def _bitmap(text: str) -> frozenset[int]:
    """The kernel's capability bitmap: hex words, most significant first, of native longs."""
    bits: set[int] = set()
    words = text.split()
    width = struct.calcsize("l") * 8
    for index, word in enumerate(reversed(words)):
        value = int(word, 16)
        base = index * width
        while value:
            low = value & -value
            bits.add(base + low.bit_length() - 1)
            value ^= low
    return frozenset(bits)


def parse_proc_devices(text: str, dev_dir: Path = DEV_INPUT) -> list[InputDevice]:
    """``/proc/bus/input/devices`` → the devices that have an event node."""
    devices: list[InputDevice] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        fields: dict[str, str] = {}
        bitmaps: dict[str, str] = {}
        for line in block.splitlines():
            if len(line) < 3 or line[1] != ":":
                continue
            kind, rest = line[0], line[3:].strip()
            if kind in ("N", "P", "H"):
                key, _sep, value = rest.partition("=")
                fields[key] = value.strip().strip('"')
            elif kind == "B":
                key, _sep, value = rest.partition("=")
                bitmaps[key] = value.strip()
        handlers = fields.get("Handlers", "").split()
        event = next((h for h in handlers if h.startswith("event")), "")
        if not event:
            continue
        devices.append(
            InputDevice(
                path=str(dev_dir / event),
                name=fields.get("Name", ""),
                phys=fields.get("Phys", ""),
                keys=_bitmap(bitmaps.get("KEY", "0")),
                relative=_bitmap(bitmaps.get("REL", "0")),
            )
        )
    return devices


def list_input_devices(proc: Path = PROC_DEVICES, dev_dir: Path = DEV_INPUT) -> list[InputDevice]:
    """The machine's input devices; empty when the kernel or the permissions hide them."""
    try:
        text = proc.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [d for d in parse_proc_devices(text, dev_dir) if os.path.exists(d.path)]


def decode_events(data: bytes) -> list[tuple[int, int, int]]:
    """Whole ``struct input_event`` records → (type, code, value)."""
    usable = len(data) - len(data) % EVENT_SIZE
    return [
        (etype, code, value)
        for _sec, _usec, etype, code, value in struct.iter_unpack(EVENT_FORMAT, data[:usable])
    ]


def encode_event(etype: int, code: int, value: int, sec: int = 0, usec: int = 0) -> bytes:
    return struct.pack(EVENT_FORMAT, sec, usec, etype, code, value)


@dataclass
class InputWatcher:
    """Reads every given device in a thread and hands each event to ``on_event``.

    The devices are opened read-only, not grabbed: the terminal still gets the keys, so the
    operator's keys keep driving the bench while the donated keyboard is tested.
    """

    devices: Iterable[InputDevice]
    on_event: Callable[[InputEvent], None]
    opened: dict[int, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> bool:
        """Open the devices and start reading; False when none could be opened."""
        for device in self.devices:
            try:
                fd = os.open(device.path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError as exc:
                self.errors[device.path] = exc.strerror or str(exc)
                continue
            self.opened[fd] = device.path
        if not self.opened:
            return False
        self._thread = threading.Thread(target=self._loop, name="input-watcher", daemon=True)
        self._thread.start()
        return True

    def _loop(self) -> None:
        pending: dict[int, bytes] = {fd: b"" for fd in self.opened}
        while not self._stop.is_set() and self.opened:
            ready, _w, _x = select.select(list(self.opened), [], [], 0.1)
            for fd in ready:
                try:
                    chunk = os.read(fd, EVENT_SIZE * 64)
                except BlockingIOError:
                    continue
                except OSError:  # unplugged
                    chunk = b""
                if not chunk:
                    self.errors[self.opened.pop(fd)] = "closed"
                    os.close(fd)
                    continue
                data = pending[fd] + chunk
                cut = len(data) - len(data) % EVENT_SIZE
                pending[fd] = data[cut:]
                stamp = time.monotonic()
                for etype, code, value in decode_events(data[:cut]):
                    if etype != EV_SYN:
                        self.on_event(
                            InputEvent(self.opened.get(fd, ""), etype, code, value, stamp)
                        )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for fd in list(self.opened):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.opened.clear()
