"""The wipe-only screen of CPUs without SSE2: ``python3 -m bench_agent.sanitize.wipe_lite``.

Driven with the operator's profile keys, like the app: the profile the station settings name
(``operator`` in ``agent.toml``; ``<home>/operators/NAME.toml`` or the shipped samples), read
with ``tomllib`` (the profile model needs pydantic). ``bench.next``/``bench.prev`` move,
``bench.select`` chooses, ``bench.back`` goes back; with ``scan_mode = "two-switch"`` the
first scan key moves and the second chooses; with ``"auto-scan"`` the highlight moves by
itself. Wiping needs two inputs: choosing "Wipe" and then, on the confirmation where the
highlight starts on "Back", moving to "Wipe now" and choosing it (auto-scan: two choices on two
screens). A press on a confirmation counts only after a silence (a held key repeats every
25-40 ms), and the bounce filter drops the same key again before ``bounce_ms``: a held key
never confirms. Standard library only (see ``bench_agent.sanitize.lite``).

Exit status: 0 when the input ends, 10 when the operator chose to switch the machine off.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import termios
import time
import tomllib
import tty
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_agent.errors import BenchError
from bench_agent.i18n import SUPPORTED, _, get_language, set_language
from bench_agent.progress import ProgressEvent
from bench_agent.resources import bundled_operators
from bench_agent.sanitize import lite
from bench_agent.signing import load_or_create_key

EXIT_POWEROFF = 10
FONT_DIR = Path("/usr/share/consolefonts")  # bench_agent.tui.console's fonts
FONTS = {"normal": "bench-8x16.psf", "large": "bench-16x32.psf"}
MIN_CONFIRM_SILENCE_MS = 150  # bench_agent.tui.app.MIN_CONFIRM_SILENCE_MS
DEFAULT_KEYS = {
    "bench.next": "right,down",
    "bench.prev": "left,up",
    "bench.select": "enter",
    "bench.back": "escape",
}
ESCAPES = {
    b"[A": "up",
    b"[B": "down",
    b"[C": "right",
    b"[D": "left",
    b"OA": "up",
    b"OB": "down",
    b"OC": "right",
    b"OD": "left",
    b"OM": "kp_enter",
    b"[[A": "f1",
    b"OP": "f1",
    b"[11~": "f1",
}
SINGLE = {b"\r": "enter", b"\n": "enter", b" ": "space", b"\t": "tab", b"\x7f": "backspace"}
ARROWS = {"right": "→", "left": "←", "up": "↑", "down": "↓"}


@dataclass
class OperatorKeys:
    """The parts of an operator profile this screen uses."""

    name: str = "operator"
    language: str = ""
    bindings: dict[str, str] = field(default_factory=dict)  # key name -> binding id
    scan_mode: str = "off"
    scan_rate_ms: int = 1500
    bounce_ms: int = 0
    scan_keys: list[str] = field(default_factory=list)
    text_size: str = "normal"

    def first(self, binding: str) -> str:
        """The key shown for a binding: a scan key first (the operator's switches)."""
        for key in self.scan_keys:
            if self.bindings.get(key) == binding:
                return key
        for key, bound in self.bindings.items():
            if bound == binding:
                return key
        return "?"


def read_operator(name: str, home: Path) -> OperatorKeys:
    """The operator profile ``name`` (station's own first, then the samples); defaults when
    there is none or it cannot be read (the wipe must stay possible)."""
    data: dict[str, Any] = {}
    for folder in (home / "operators", bundled_operators()):
        path = folder / f"{name}.toml"
        if name and path.is_file():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                data = {}
            break
    keymap = {**DEFAULT_KEYS, **{k: str(v) for k, v in (data.get("keymap") or {}).items()}}
    bindings: dict[str, str] = {}
    for binding in ("bench.next", "bench.prev", "bench.select", "bench.back"):
        for key in keymap[binding].split(","):
            bindings.setdefault(key.strip(), binding)
    scan_mode = str(data.get("scan_mode", "off"))
    scan_keys = [str(k) for k in data.get("scan_keys") or ["space", "enter"]]
    if scan_mode != "off":
        # As the app: the scan keys move unless they are already bound (Enter chooses).
        for key in scan_keys:
            bindings.setdefault(key, "bench.next")
    return OperatorKeys(
        name=str(data.get("name", name or "operator")),
        language=str(data.get("language", "")),
        bindings=bindings,
        scan_mode=scan_mode,
        scan_rate_ms=int(data.get("scan_rate_ms", 1500)),
        bounce_ms=int(data.get("bounce_ms", 0)),
        scan_keys=scan_keys if scan_mode != "off" else [],
        text_size=str(data.get("text_size", "normal")),
    )


def key_label(key: str) -> str:
    """A key as the screen names it (the app's labels)."""
    labels = {"enter": _("Enter"), "escape": _("Esc"), "space": _("Space")}
    if key in ARROWS:
        return ARROWS[key]
    if key in labels:
        return labels[key]
    return key.upper() if key[:1] == "f" and key[1:].isdigit() else key


def console_font(text_size: str) -> None:
    """The operator's text size on the live console (as ``tui.console``: 8x16 or 16x32 cells);
    nothing anywhere else."""
    if os.environ.get("BENCH_LIVE_CONSOLE") != "1" or os.environ.get("TERM") != "linux":
        return
    font = FONT_DIR / FONTS.get(text_size, FONTS["normal"])
    setfont = shutil.which("setfont")
    if setfont and font.is_file():
        subprocess.run([setfont, str(font)], capture_output=True, timeout=10, check=False)


class KeyReader:
    """Key names from the console (raw mode when it is a terminal; a pipe in tests), with the
    silence before each key (from the last byte received, filtered or not)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[Any] | None = None
        if os.isatty(fd):
            self.saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
            # Ctrl+C is a key like any other here: a wipe is never cut by a signal.
            attrs = termios.tcgetattr(fd)
            attrs[3] &= ~termios.ISIG
            termios.tcsetattr(fd, termios.TCSADRAIN, attrs)
        self.last_at = 0.0
        self.ended = False

    def close(self) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

    def _byte(self, timeout: float | None) -> bytes:
        ready, _w, _x = select.select([self.fd], [], [], timeout)
        if not ready:
            return b""
        data = os.read(self.fd, 1)
        if not data:
            self.ended = True
        return data

    def read(self, timeout: float | None = None) -> tuple[str, float] | None:
        """(key, silence in ms before it), or None on timeout or end of input."""
        first = self._byte(timeout)
        if not first:
            return None
        now = time.monotonic()
        silence = (now - self.last_at) * 1000 if self.last_at else float("inf")
        self.last_at = now
        if first == b"\x1b":
            rest = b""
            while len(rest) < 4:
                more = self._byte(0.05)
                if not more:
                    break
                rest += more
                if rest in ESCAPES or (rest[-1:].isalpha() and len(rest) > 1) or rest[-1:] == b"~":
                    break
            self.last_at = time.monotonic()
            return (ESCAPES.get(rest, "escape" if not rest else "unknown"), silence)
        if first in SINGLE:
            return SINGLE[first], silence
        return first.decode("latin-1"), silence


class Screen:
    """One menu at a time on the console: text, then buttons; the highlight is ``> <``."""

    def __init__(self, keys: OperatorKeys, reader: KeyReader, out: Callable[[str], None]) -> None:
        self.keys = keys
        self.reader = reader
        self.out = out
        self._last_key = ""

    def show(self, lines: list[str], items: list[str], focus: int) -> None:
        text = ["\x1b[H\x1b[J", *lines, ""]
        for index, item in enumerate(items):
            text.append(f"  > [ {item} ] <" if index == focus else f"    [ {item} ]")
        text.append("")
        text.append(self.hint())
        self.out("\n".join(text))

    def hint(self) -> str:
        if self.keys.scan_mode == "auto-scan":
            return _(
                "The highlight moves by itself; {select} chooses.", select=self.label("select")
            )
        return _(
            "Keys: {next} moves, {select} chooses, {back} goes back.",
            next=self.label("next"),
            select=self.label("select"),
            back=self.label("back"),
        )

    def label(self, what: str) -> str:
        return key_label(self.keys.first(f"bench.{what}"))

    def choose(
        self, lines: list[str], items: list[str], *, focus: int = 0, confirm: bool = False
    ) -> int | None:
        """The index chosen; None at the end of input; -1 for "back". On a confirmation a
        press counts only after a silence, so a held key never chooses."""
        need_ms = max(self.keys.bounce_ms, MIN_CONFIRM_SILENCE_MS) if confirm else 0
        scan = self.keys.scan_mode == "auto-scan"
        while True:
            self.show(lines, items, focus)
            got = self.reader.read(self.keys.scan_rate_ms / 1000 if scan else None)
            if got is None:
                if self.reader.ended:
                    return None
                focus = (focus + 1) % len(items)  # auto-scan step
                continue
            key, silence = got
            if key == self._last_key and self.keys.bounce_ms and silence < self.keys.bounce_ms:
                continue  # key bounce / a held key counts once
            self._last_key = key
            binding = self.keys.bindings.get(key)
            if silence < need_ms:
                continue
            if binding == "bench.next":
                focus = (focus + 1) % len(items)
            elif binding == "bench.prev":
                focus = (focus - 1) % len(items)
            elif binding == "bench.select":
                return focus
            elif binding == "bench.back":
                return -1


def _size(size: int) -> str:
    value, units = float(size), ["B", "kB", "MB", "GB", "TB"]
    if get_language() == "fr":
        units = ["o", "ko", "Mo", "Go", "To"]
    unit = 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    text = f"{value:.1f}" if unit else f"{int(value)}"
    return (text.replace(".", ",") if get_language() == "fr" else text) + " " + units[unit]


def _status(status: str) -> str:
    return {
        "erased": _("ERASED"),
        "erased_with_exceptions": _("ERASED WITH EXCEPTIONS"),
        "failed": _("FAILED"),
        "aborted": _("STOPPED"),
    }.get(status, status)


class WipeOnly:
    def __init__(self, args: argparse.Namespace, out: Callable[[str], None]) -> None:
        self.args = args
        self.out = out
        self.settings = lite.load_lite_settings()
        self.keys = read_operator(args.operator or self.settings.operator, self.settings.home)
        # The operator's language, else the station's (BENCH_LANG, then agent.toml).
        if args.lang or self.keys.language:
            set_language(args.lang or self.keys.language)
        elif not os.environ.get("BENCH_LANG"):
            set_language(self.settings.language)
        self.reader = KeyReader(sys.stdin.fileno())
        console_font(self.keys.text_size)
        self.screen = Screen(self.keys, self.reader, out)

    def header(self) -> list[str]:
        lines = [
            _("=== Bench Agent: this processor cannot run the bench app ==="),
            "",
            _("Processor: {model} (no {missing}).", model=self.args.cpu, missing=self.args.missing),
            _(
                "This machine is REJECTED for the education image, but its disks must be wiped: "
                "the bench's engine wipes them here, with a signed certificate and a record for "
                "the ledger."
            ),
            "",
        ]
        return lines

    def run(self) -> int:
        try:
            while True:
                targets, refused = lite.find_disks(self.settings, self.args.device or None)
                lines = self.header()
                if targets:
                    lines.append(_("Disks to wipe:"))
                    for dev in targets:
                        lines.append(
                            f"    {dev.path or dev.kernel_name}  {_size(dev.size)}  "
                            f"{dev.model or '-'}  {_('serial')} {dev.serial or '-'}"
                        )
                else:
                    lines.append(_("No disk to wipe was found."))
                for device, reason in refused:
                    lines.append(_("Not offered: {reason}", reason=reason) if device else reason)
                items = ([_("Wipe these disks")] if targets else []) + [_("Switch off")]
                chosen = self.screen.choose(lines, items)
                if chosen is None:
                    return 0
                if chosen < 0:
                    continue
                if items[chosen] == _("Switch off"):
                    self.out(_("Switching off..."))
                    return EXIT_POWEROFF
                if self.confirmed(lines, len(targets)) and self.wipe(targets) is None:
                    return 0
        finally:
            self.reader.close()

    def confirmed(self, lines: list[str], count: int) -> bool:
        steps = 2 if self.keys.scan_mode == "auto-scan" else 1
        for step in range(steps):
            question = _(
                "Wipe {count} disk(s)? Everything on them is erased for good.", count=count
            )
            if self.keys.scan_mode == "auto-scan":
                how = _('Choose "Wipe now" ({step} of 2).', step=step + 1)
            else:
                how = _(
                    "To confirm: {next} then {select}; any other key goes back.",
                    next=self.screen.label("next"),
                    select=self.screen.label("select"),
                )
            chosen = self.screen.choose(
                [*lines, "", question, how], [_("Back"), _("Wipe now")], confirm=True
            )
            if chosen != 1:
                return False
        return True

    def progress(self, event: ProgressEvent) -> None:
        if event.phase == "done":
            return
        self.out(
            _(
                "{device}: {phase} {percent} %, {rate} MB/s",
                device=event.job,
                phase=_("writing") if event.phase == "write" else _("checking"),
                percent=int(event.fraction * 100),
                rate=f"{event.rate / 1e6:.1f}",
            )
        )

    def wipe(self, targets: list[Any]) -> bool | None:
        self.out(
            "\x1b[H\x1b[J" + _("Wiping {count} disk(s); do not switch off.", count=len(targets))
        )
        context = lite.context_for(
            self.settings, operator=self.args.operator, asset=self.args.asset, lot=self.args.lot
        )
        # One thread per disk, as the engine (run_wipes); the key exists before they start.
        load_or_create_key(self.settings.key_path)
        watch = lite.RateWatch(self.progress)
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            results = list(
                pool.map(
                    lambda dev: lite.wipe_disk(
                        dev,
                        self.settings,
                        context,
                        verify=self.args.verify,
                        named=bool(self.args.device),
                        progress=watch,
                    ),
                    targets,
                )
            )
        record = lite.build_record(results, self.settings, context, missing=self.args.missing)
        record_id = lite.queue_record(record, self.settings)
        if self.args.export_to:
            lite.export_home(self.settings.home, Path(self.args.export_to))
        lines = [_("Wipe finished.")]
        for result in results:
            report = result.report
            if result.certificate:
                lines.append(
                    _(
                        "{device}: {status}, certificate {certificate}",
                        device=result.device,
                        status=_status(report["status"]),
                        certificate=str(result.certificate["certificate_id"])[:8],
                    )
                )
            else:
                lines.append(
                    _(
                        "{device}: {status}: {detail}",
                        device=result.device,
                        status=_status(report["status"]),
                        detail=report["status_detail"],
                    )
                )
        lines.append(_("Certificates: {folder}", folder=self.settings.reports_dir))
        lines.append(
            _(
                "Record {record} is in the outbox: it reaches the ledger at the next sync.",
                record=record_id[:8],
            )
        )
        print(
            "bench-lite: "
            + json.dumps(
                {
                    "record_id": record_id,
                    "results": [
                        {
                            "device": r.device,
                            "status": r.report["status"],
                            "certificate": str(r.certificate_file or ""),
                        }
                        for r in results
                    ],
                }
            ),
            file=sys.stderr,
            flush=True,
        )
        chosen = self.screen.choose(lines, [_("Back to the disk list")])
        return None if chosen is None else True


def list_disks(args: argparse.Namespace) -> int:
    settings = lite.load_lite_settings()
    targets, refused = lite.find_disks(settings, args.device or None)
    print(
        json.dumps(
            {
                "targets": [d.path or d.kernel_name for d in targets],
                "refused": [{"device": d, "reason": r} for d, r in refused],
            }
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench_agent.sanitize.wipe_lite")
    parser.add_argument("--device", action="append", default=[], help="a disk to offer (tests)")
    parser.add_argument("--cpu", default="unknown processor", help="the processor's name")
    parser.add_argument("--missing", default="sse2", help="the CPU flags it lacks")
    parser.add_argument("--operator", default="", help="operator profile (default: the station's)")
    parser.add_argument("--lang", choices=SUPPORTED, default=None)
    parser.add_argument("--verify", choices=("sample", "full"), default="sample")
    parser.add_argument("--asset", default="")
    parser.add_argument("--lot", default="")
    parser.add_argument("--list", action="store_true", help="print the disks as JSON and exit")
    parser.add_argument(
        "--export-to", default="", help="copy the station home there after each wipe (io share)"
    )
    args = parser.parse_args(argv)

    def out(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    try:
        return list_disks(args) if args.list else WipeOnly(args, out).run()
    except BenchError as exc:  # lsblk missing, a home that cannot be written: one clear line
        out(exc.message)
        if exc.hint:
            out(exc.hint)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
