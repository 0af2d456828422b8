"""Guided checks: what software alone cannot judge, with the operator's eyes, ears and hands.

The bench shows what to try (list the keys to press, the screen fills, the mouse targets; the
tone and the disc through :class:`GuidedActions`, run by an adapter); the operator answers pass /
fail / not applicable, and the workflow records it.
"""

from __future__ import annotations

import math
import struct
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench_agent.i18n import N_, _
from bench_agent.models.inventory import Inventory

CHECK_TITLES = {
    "sound": N_("Sound"),
    "optical": N_("Optical drive"),
    "keyboard": N_("Keyboard"),
    "screen": N_("Screen"),
    "mouse": N_("Mouse"),
}

CHECK_QUESTIONS = {
    "sound": N_("Did you hear the tone on every card?"),
    "optical": N_("Did the tray open and close, and was the disc read?"),
    "keyboard": N_("Did every key shown light up when pressed?"),
    "screen": N_("Was every colour even, without dead pixels or dark areas?"),
    "mouse": N_("Did the pointer reach every target, and did each button and the wheel work?"),
}


@dataclass
class ActionResult:
    ok: bool
    message: str
    detail: str = ""


# What the tools print when they fail (English, technical) → what the operator reads.
TOOL_PROBLEMS = (
    ("no medium found", N_("there is no disc in the drive")),
    ("device or resource busy", N_("the device is busy (used by something else)")),
    ("no such file or directory", N_("the device is not there")),
    ("no such device", N_("the device is not there")),
    ("not found", N_("the device is not there")),
    ("permission denied", N_("the bench lacks the rights (it must run as root)")),
    ("operation not permitted", N_("the bench lacks the rights (it must run as root)")),
    ("audio open error", N_("the sound card could not be opened")),
    ("unable to open", N_("the device could not be opened")),
    ("input/output error", N_("the device reported a read or write error")),
)


def tool_problem(detail: str) -> str:
    """A tool's error line in words; the raw line stays in ``ActionResult.detail``."""
    lowered = detail.lower()
    for needle, words in TOOL_PROBLEMS:
        if needle in lowered:
            return _(words)
    return _("the tool failed without saying why") if not detail else _("the tool failed")


# ----------------------------------------------------------------------------- sound
def tone_wav(
    path: Path, *, frequency: float = 440.0, seconds: float = 1.5, rate: int = 44100
) -> Path:
    """A plain 16-bit stereo sine WAV: aplay plays it on any card, even without speaker-test."""
    frames = int(seconds * rate)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = bytearray()
        for i in range(frames):
            value = int(12000 * math.sin(2 * math.pi * frequency * i / rate))
            samples += struct.pack("<hh", value, value)
        out.writeframes(bytes(samples))
    return path


# ----------------------------------------------------------------------------- optical
def optical_devices(inventory: Inventory) -> list[str]:
    return [f"/dev/{drive.name}" for drive in inventory.optical]


class GuidedActions(Protocol):
    """The machine's part of the sound and optical checks (tools run on this computer): the
    bench app is given one (``bench_agent.adapters.guided_actions``), a test another."""

    def play_tones(self, inventory: Inventory) -> list[ActionResult]: ...

    def eject(self, device: str) -> ActionResult: ...

    def close_tray(self, device: str) -> ActionResult: ...

    def read_test(self, device: str) -> ActionResult: ...


# ----------------------------------------------------------------------------- keyboard
# The keys to press, by position (Linux key names); "shift", "ctrl" and "alt" take either side.
KEYBOARD_ROWS = [
    ["esc", "f1", "f5", "f12"],
    ["1", "5", "0", "backspace"],
    ["tab", "q", "w", "e", "p", "enter"],
    ["a", "s", "semicolon"],
    ["shift", "z", "x", "n"],
    ["ctrl", "alt", "space", "left", "up", "down", "right"],
]
# What is printed on those keys, per keyboard layout (the workshop's are AZERTY).
LAYOUT_LABELS = {
    "azerty": {"q": "a", "w": "z", "a": "q", "semicolon": "m", "z": "w"},
    "qwerty": {"semicolon": ";"},
}
# Named keys, said in the operator's language.
KEY_WORDS = {
    "esc": N_("Esc"),
    "backspace": N_("Backspace"),
    "tab": N_("Tab"),
    "enter": N_("Enter"),
    "shift": N_("Shift"),
    "ctrl": N_("Ctrl"),
    "alt": N_("Alt"),
    "space": N_("Space"),
    "f1": "F1",
    "f5": "F5",
    "f12": "F12",
    "left": "←",
    "up": "↑",
    "down": "↓",
    "right": "→",
}
# Keys a terminal never reports alone: only the kernel's input devices show them.
MODIFIERS = ("shift", "ctrl", "alt")
# Textual's key names for the named keys, and the kernel's side-specific modifier names.
_TERMINAL_NAMES = {"escape": "esc", "ctrl+h": "backspace", "ctrl+i": "tab", "ctrl+m": "enter"}
_SIDES = {
    "leftshift": "shift",
    "rightshift": "shift",
    "leftctrl": "ctrl",
    "rightctrl": "ctrl",
    "leftalt": "alt",
    "rightalt": "alt",
    "kpenter": "enter",
}


def key_label(key: str, layout: str = "azerty") -> str:
    """What the technician reads on the key (its legend, or its name in their language)."""
    if key in KEY_WORDS:
        return _(KEY_WORDS[key])
    return LAYOUT_LABELS.get(layout, {}).get(key, key)


def key_id(name: str, layout: str = "azerty", *, position: bool = False) -> str:
    """A kernel key name (``leftshift``, ``q``: a position, with ``position``) or a terminal
    key (``escape``, ``a``: what the layout prints) → the test's id (a position)."""
    name = name.lower()
    if name in _SIDES:
        return _SIDES[name]
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    if position:
        return name
    for place, legend in LAYOUT_LABELS.get(layout, {}).items():
        if name == legend:
            return place
    if name in LAYOUT_LABELS.get(layout, {}):
        return ""  # this layout prints another letter on that position
    return name


@dataclass
class KeyboardTest:
    """The donated keyboard's keys to press; each counts once, in any order.

    ``excluded``: keys that cannot be tested here (the operator's own keys when they share the
    keyboard; the modifiers when only a terminal is read). They are reported, never counted.
    """

    layout: str = "azerty"
    excluded: dict[str, str] = field(default_factory=dict)  # key -> why
    pressed: set[str] = field(default_factory=set)

    @property
    def expected(self) -> list[str]:
        return [k for row in KEYBOARD_ROWS for k in row if k not in self.excluded]

    def press(self, name: str, *, position: bool = False) -> bool:
        """A key seen on the donated keyboard (a terminal key, or with ``position`` a kernel
        key name); True when it is a new one."""
        key = key_id(name, self.layout, position=position)
        if key in self.expected and key not in self.pressed:
            self.pressed.add(key)
            return True
        return False

    @property
    def remaining(self) -> list[str]:
        return [k for k in self.expected if k not in self.pressed]

    @property
    def complete(self) -> bool:
        return not self.remaining

    def summary(self) -> str:
        lines = []
        if self.complete:
            lines.append(_("✔ All {n} keys answered.", n=len(self.expected)))
        else:
            lines.append(
                _(
                    "✘ Keys not pressed: {keys}",
                    keys=" ".join(key_label(k, self.layout) for k in self.remaining),
                )
            )
        for reason in sorted(set(self.excluded.values())):
            keys = [k for k, why in self.excluded.items() if why == reason]
            lines.append(
                _(
                    "– Not tested ({reason}): {keys}",
                    reason=reason,
                    keys=" ".join(key_label(k, self.layout) for k in keys),
                )
            )
        return "\n".join(lines)


# ----------------------------------------------------------------------------- screen
SCREEN_FILLS = [
    ("white", N_("white")),
    ("black", N_("black")),
    ("red", N_("red")),
    ("green", N_("green")),
    ("blue", N_("blue")),
]


# ----------------------------------------------------------------------------- mouse
MOUSE_BUTTONS = {
    "left": N_("left button"),
    "right": N_("right button"),
    "middle": N_("middle button"),
    "wheel": N_("wheel"),
}


@dataclass
class MouseTest:
    """Targets in the four corners and the middle, each hit by a click inside it; and every
    button (left, right, middle, wheel) pressed at least once, each on its own."""

    width: int
    height: int
    size: int = 6
    hit: set[int] = field(default_factory=set)
    buttons: set[str] = field(default_factory=set)

    def targets(self) -> list[tuple[int, int]]:
        w, h, s = self.width, self.height, self.size
        return [
            (0, 0),
            (w - s, 0),
            (0, h - s // 2),
            (w - s, h - s // 2),
            ((w - s) // 2, (h - s // 2) // 2),
        ]

    def click(self, x: int, y: int) -> bool:
        for index, (tx, ty) in enumerate(self.targets()):
            if tx <= x < tx + self.size and ty <= y < ty + self.size // 2 and index not in self.hit:
                self.hit.add(index)
                return True
        return False

    def button(self, name: str) -> bool:
        if name in MOUSE_BUTTONS and name not in self.buttons:
            self.buttons.add(name)
            return True
        return False

    @property
    def missing_buttons(self) -> list[str]:
        return [b for b in MOUSE_BUTTONS if b not in self.buttons]

    @property
    def complete(self) -> bool:
        return len(self.hit) == len(self.targets()) and not self.missing_buttons

    def summary(self) -> str:
        lines = [_("{n} of {total} targets reached.", n=len(self.hit), total=len(self.targets()))]
        for name, word in MOUSE_BUTTONS.items():
            mark = "✔" if name in self.buttons else "✘"
            lines.append(f"{mark} {_(word)}")
        if self.complete:
            lines.insert(0, _("✔ Every target was reached and every button worked."))
        return "\n".join(lines)
