"""Console output helpers: JSON on stdout, readable tables, the typed confirmation before
anything is destroyed, and the one console progress display of the long commands."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from bench_agent.i18n import _, format_size

if TYPE_CHECKING:
    from bench_agent.progress import ProgressEvent


def print_json(data: Any) -> None:
    if isinstance(data, BaseModel):
        text = data.model_dump_json(indent=2)
    elif isinstance(data, list) and data and isinstance(data[0], BaseModel):
        text = "[" + ",".join(item.model_dump_json(indent=2) for item in data) + "]"
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(text + "\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """A plain aligned table (no colour needed to read it)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if title:
        print(title)
    for n, row in enumerate(cells):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def human_bytes(n: int | float | None) -> str:
    """A size in the chosen language's units and decimal mark (one formatter with the app)."""
    return format_size(n)


def terminal_columns(stream: Any) -> int:
    """How wide the terminal ``stream`` writes to is; 80 (the Linux text console) when it cannot
    be asked. A progress bar cut to it never wraps, so it can be redrawn in place."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 80


def confirm_typed(prompt: str, expected: str, device: str, what: str) -> None:
    """Ask the operator to type ``expected`` (a serial number or a device name) back before
    anything is destroyed; anything else writes nothing and raises ``InputError``."""
    from bench_agent.errors import InputError

    sys.stderr.write(prompt)
    sys.stderr.flush()
    answer = sys.stdin.readline().strip()
    if not sys.stdin.isatty():
        sys.stderr.write("\n")
    if answer != expected:
        raise InputError(
            _("Confirmation for {device} did not match: nothing was written.", device=device),
            _("Type the {what} exactly as shown, or pass --yes.", what=what),
        )


class ConsoleProgress:
    """The console progress of every long command (wipe, image, check, station).

    On a terminal, one bar per job, all redrawn in place; each is cut to the terminal's width,
    since a bar that wraps is not redrawn in place (the redraw moves up one row per job, and
    stale rows would scroll). Elsewhere (a log, a pipe) plain lines: one per job every
    ``interval_s``, at each phase change and at the end of a phase, once. An event with a
    message and nothing to count (``total`` 0) is a line of its own, printed above the bars.
    """

    BAR = 30

    def __init__(
        self,
        jobs: Sequence[str] = (),
        stream: Any = None,
        *,
        interval_s: float = 2.0,
        plain: bool = False,
    ) -> None:
        self.stream = stream or sys.stdout
        # plain: lines even on a terminal (output interleaved with other lines, e.g. the station)
        self.tty = not plain and bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = terminal_columns(self.stream)
        self.interval_s = interval_s
        self.rows: dict[str, str] = {job: _("{job}: waiting", job=job) for job in jobs}
        self._drawn = 0  # rows of bars on the screen below the cursor's line
        self._last_plain: dict[str, tuple[float, str]] = {}
        self._finished: dict[str, str] = {}  # job -> phase whose 100 % line is out

    @classmethod
    def line(cls, event: ProgressEvent, width: int | None = None) -> str:
        """One job's line; within ``width`` columns the bar shrinks (down to 5 cells) to leave
        room for the rate, the time left and the message before anything is cut."""
        eta = (
            ""
            if event.eta_s is None
            else _(
                " ETA {minutes}:{seconds:02d}",
                minutes=int(event.eta_s // 60),
                seconds=int(event.eta_s % 60),
            )
        )
        rate = f" {human_bytes(event.rate)}/s" if event.rate else ""
        head = f"{event.job:<10} {event.phase:<9} ["
        tail = f"] {event.fraction:6.1%}{rate}{eta}" + (
            f" {event.message}" if event.message else ""
        )
        size = cls.BAR
        if width is not None:
            size = max(cls.BAR // 6, min(cls.BAR, width - 1 - len(head) - len(tail)))
        filled = int(event.fraction * size)
        return head + "#" * filled + "." * (size - filled) + tail

    def __call__(self, event: ProgressEvent) -> None:
        if event.message and event.total == 0:
            self._say(event.message)
        elif self.tty:
            self.rows[event.job] = self.line(event, self.width)[: self.width - 1]
            self._redraw()
        else:
            self._plain(event)
        self.stream.flush()

    def _say(self, message: str) -> None:
        if self.tty and self._drawn:
            # Up to the bars, clear them (and whatever a wrapped line left), say, redraw.
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J{message}\n")
            self._drawn = 0
            self._redraw()
        else:
            self.stream.write(message + "\n")

    def _redraw(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F")
        for row in self.rows.values():
            self.stream.write("\x1b[2K" + row + "\n")
        self._drawn = len(self.rows)

    def _plain(self, event: ProgressEvent) -> None:
        done = event.fraction >= 1.0
        if done and self._finished.get(event.job) == event.phase:
            return  # this phase's 100 % line is already out
        now = time.monotonic()
        last_t, last_phase = self._last_plain.get(event.job, (0.0, ""))
        if event.phase != last_phase or now - last_t >= self.interval_s or done:
            self._last_plain[event.job] = (now, event.phase)
            if done:
                self._finished[event.job] = event.phase
            self.stream.write(self.line(event) + "\n")
