"""Automatic health checks beyond SMART, each bounded by a time budget and reporting progress.

CPU: a short load on every core (hash loops checked against a known digest; psutil says how
busy each core was), temperature (psutil's sensors) and throttling where sensors exist,
machine-check / EDAC errors. RAM: installed vs usable vs DMI, and a user-space pattern test
over part of the free memory. Optical and sound: the device answers. ``quick`` shortens the load and the pattern test to a few seconds in total.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import mmap
import os
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Literal

from bench_agent.i18n import _
from bench_agent.inventory import probes
from bench_agent.models.inventory import Inventory
from bench_agent.models.record import AutoCheck
from bench_agent.progress import ProgressCallback, ProgressEvent

MB = 1 << 20
CDROM_DRIVE_STATUS = 0x5326
CDS_NAMES = {0: "no info", 1: "no disc", 2: "tray open", 3: "not ready", 4: "disc ok"}

# Budgets (seconds): quick keeps the whole run to a few seconds.
CPU_LOAD_S = {True: 1.0, False: 5.0}
RAM_TEST_S = {True: 2.0, False: 20.0}
RAM_TEST_MAX = {True: 64 * MB, False: 1024 * MB}
DEVICE_ANSWER_S = 10.0  # a drive spinning up answers within seconds; a hung one never
TEMP_WARN_C = 85.0
TEMP_FAIL_C = 100.0


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(65536)
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def read_throttle_count(root: str = "/sys") -> int | None:
    counts = [
        _read_int(p)
        for p in glob.glob(f"{root}/devices/system/cpu/cpu*/thermal_throttle/*_throttle_count")
    ]
    known = [c for c in counts if c is not None]
    return sum(known) if known else None


def read_edac_counts(root: str = "/sys") -> tuple[int, int] | None:
    """(corrected, uncorrected) memory errors from EDAC, or None without an EDAC driver."""
    controllers = glob.glob(f"{root}/devices/system/edac/mc/mc*")
    if not controllers:
        return None
    ce = sum(_read_int(f"{mc}/ce_count") or 0 for mc in controllers)
    ue = sum(_read_int(f"{mc}/ue_count") or 0 for mc in controllers)
    return ce, ue


_MCE_PATTERNS = re.compile(
    r"(Machine check|mce: \[Hardware Error\]|\[Hardware Error\]|EDAC .*(CE|UE)|"
    r"Machine Check Exception|MCE: )",
    re.IGNORECASE,
)


def count_mce_lines(log_text: str) -> int:
    """Kernel-log lines reporting machine checks or hardware errors."""
    return sum(1 for line in log_text.splitlines() if _MCE_PATTERNS.search(line))


def read_kernel_log(max_bytes: int = 4 << 20) -> str | None:
    """The kernel ring buffer through /dev/kmsg, without blocking (None if not readable)."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    lines: list[str] = []
    total = 0
    try:
        while total < max_bytes:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError:  # EPIPE: a record was overwritten while reading; keep going
                continue
            if not record:
                break
            total += len(record)
            text = record.decode("utf-8", errors="replace")
            lines.append(text.split(";", 1)[-1].rstrip("\n"))
    finally:
        os.close(fd)
    return "\n".join(lines)


# --- CPU ---------------------------------------------------------------------------------


def cpu_load(threads: int, seconds: float) -> tuple[bool, int]:
    """Hash a fixed buffer on ``threads`` threads for ``seconds``; every digest must match.

    hashlib releases the GIL for large buffers, so threads really load every core. Returns
    (all digests right, rounds done).
    """
    block = bytes(range(256)) * 4096  # 1 MiB
    expected = hashlib.sha256(block).digest()
    deadline = time.monotonic() + seconds
    errors = [0]
    rounds = [0]
    lock = threading.Lock()

    def worker() -> None:
        done = bad = 0
        while time.monotonic() < deadline:
            if hashlib.sha256(block).digest() != expected:
                bad += 1
            done += 1
        with lock:
            errors[0] += bad
            rounds[0] += done

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, threads))]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(seconds + 30)
    return errors[0] == 0, rounds[0]


def _check_cpu_load(inventory: Inventory, quick: bool) -> list[AutoCheck]:
    # psutil: the temperature sensors (hwmon, ACPI zones) and each core's load during the test.
    threads = max(1, inventory.cpu.logical_cpus or os.cpu_count() or 1)
    before_t = probes.temperatures()
    before_throttle = read_throttle_count()
    busy = probes.cpu_busy_sampler()
    start = time.monotonic()
    ok, rounds = cpu_load(threads, CPU_LOAD_S[quick])
    elapsed = time.monotonic() - start
    per_core = busy()
    after_t = probes.temperatures()
    after_throttle = read_throttle_count()
    rate = rounds / elapsed if elapsed > 0 else 0.0
    # The least busy core shows whether the load reached every core the kernel runs.
    least = f"{min(per_core):.0f}" if per_core else "?"
    checks = [
        AutoCheck(
            id="cpu.load",
            status="pass" if ok else "fail",
            measured=_(
                "{threads} threads, {rate} MB/s hashed, least busy core {least} %",
                threads=threads,
                rate=f"{rate:.0f}",
                least=least,
            ),
            message=_("every core computed correctly under load")
            if ok
            else _("wrong results under load: the CPU or RAM is unstable"),
            duration_s=round(elapsed, 2),
        )
    ]
    if after_t:
        hottest = max(after_t.values())
        peak_before = max(before_t.values()) if before_t else hottest
        status = "pass"
        message = _("temperature {temp} °C under load", temp=f"{hottest:.0f}")
        if hottest >= TEMP_FAIL_C:
            status = "fail"
            message = _(
                "CPU at {temp} °C under load: check the fan and heatsink", temp=f"{hottest:.0f}"
            )
        elif hottest >= TEMP_WARN_C:
            status = "warn"
            message = _("CPU at {temp} °C under load: clean the heatsink", temp=f"{hottest:.0f}")
        checks.append(
            AutoCheck(
                id="cpu.temperature",
                status=status,
                measured=f"{peak_before:.0f}→{hottest:.0f} °C",
                message=message,
                duration_s=0.0,
            )
        )
    else:
        checks.append(
            AutoCheck(
                id="cpu.temperature", status="skipped", message=_("no temperature sensor readable")
            )
        )
    if before_throttle is not None and after_throttle is not None:
        throttled = after_throttle - before_throttle
        checks.append(
            AutoCheck(
                id="cpu.throttle",
                status="warn" if throttled > 0 else "pass",
                measured=str(throttled),
                message=_("the CPU throttled {count} times under load", count=throttled)
                if throttled > 0
                else _("no thermal throttling under load"),
            )
        )
    return checks


def _check_mce() -> AutoCheck:
    start = time.monotonic()
    edac = read_edac_counts()
    log = read_kernel_log()
    mce_lines = count_mce_lines(log) if log is not None else None
    parts = []
    status: Literal["pass", "warn", "fail"] = "pass"
    if edac is not None:
        ce, ue = edac
        parts.append(f"EDAC CE={ce} UE={ue}")
        if ue > 0:
            status = "fail"
        elif ce > 0:
            status = "warn"
    if mce_lines is not None:
        parts.append(f"MCE log lines={mce_lines}")
        if mce_lines > 0 and status == "pass":
            status = "warn"
    if edac is None and mce_lines is None:
        return AutoCheck(
            id="cpu.mce", status="skipped", message=_("neither EDAC nor the kernel log is readable")
        )
    messages = {
        "pass": _("no machine-check or memory-controller errors"),
        "warn": _("hardware errors were corrected or logged: watch this machine"),
        "fail": _("uncorrected memory errors reported by the memory controller"),
    }
    return AutoCheck(
        id="cpu.mce",
        status=status,
        measured=", ".join(parts),
        message=messages[status],
        duration_s=round(time.monotonic() - start, 2),
    )


# --- RAM ---------------------------------------------------------------------------------


def _check_ram_size(inventory: Inventory) -> AutoCheck:
    memory = inventory.memory
    usable = memory.usable_bytes or memory.total_bytes
    if not memory.installed_bytes:
        return AutoCheck(
            id="ram.size",
            status="pass" if usable else "skipped",
            measured=_("{usable} MB usable, modules unknown (no DMI)", usable=usable // MB),
            message=_("installed RAM cannot be compared without DMI"),
        )
    installed = memory.installed_bytes
    ratio = usable / installed if installed else 0
    measured = _(
        "{usable} MB usable of {installed} MB installed in {modules} module(s)",
        usable=usable // MB,
        installed=installed // MB,
        modules=len(memory.modules),
    )
    if ratio < 0.75:
        return AutoCheck(
            id="ram.size",
            status="warn",
            measured=measured,
            message=_(
                "part of the installed RAM is not usable: a module may be "
                "faulty or unsupported by the board"
            ),
        )
    return AutoCheck(
        id="ram.size",
        status="pass",
        measured=measured,
        message=_("the system sees the installed RAM"),
    )


def _stamp(index: int, block_size: int) -> bytes:
    return index.to_bytes(8, "little") * (block_size // 8)


def ram_pattern_test(
    size: int, budget_s: float, on_step: Callable[[int, int], None] | None = None
) -> tuple[int, int, int]:
    """Write and verify patterns over ``size`` bytes of fresh anonymous memory.

    Patterns: all zeros, all ones, 0x55/0xAA checkerboards, then each 1 MiB block stamped with
    its own index (catches address aliasing). Stops at the time budget. Returns
    (bytes verified, mismatching blocks, passes completed).
    """
    block_size = MB
    blocks = max(1, size // block_size)
    area = mmap.mmap(-1, blocks * block_size)
    view = memoryview(area)
    patterns = [b"\x00", b"\xff", b"\x55", b"\xaa"]
    deadline = time.monotonic() + budget_s
    verified = bad = passes = 0
    total_steps = blocks * (len(patterns) + 1)
    step = 0
    try:
        for pattern in [*patterns, None]:
            if time.monotonic() > deadline:
                break
            fill = pattern * block_size if pattern is not None else None
            for i in range(blocks):
                view[i * block_size : (i + 1) * block_size] = fill or _stamp(i, block_size)
            for i in range(blocks):
                if view[i * block_size : (i + 1) * block_size] != (fill or _stamp(i, block_size)):
                    bad += 1
                verified += block_size
                step += 1
                if on_step is not None and i % 16 == 0:
                    on_step(step, total_steps)
                if time.monotonic() > deadline:
                    break
            passes += 1
    finally:
        view.release()
        area.close()
    return verified, bad, passes


def _check_ram_pattern(quick: bool, progress: ProgressCallback) -> AutoCheck:
    available = probes.memory_available()  # psutil (estimates it on pre-3.14 kernels)
    if not available:
        return AutoCheck(
            id="ram.pattern", status="skipped", message=_("free memory unknown (no /proc/meminfo)")
        )
    # Leave room for the bench itself: test at most half of what is free.
    size = min(RAM_TEST_MAX[quick], available // 2)
    if size < 8 * MB:
        return AutoCheck(
            id="ram.pattern", status="skipped", message=_("too little free memory to test")
        )
    start = time.monotonic()

    def on_step(done: int, total: int) -> None:
        progress(ProgressEvent("checks", "ram.pattern", done, total, message=_("RAM pattern test")))

    try:
        verified, bad, passes = ram_pattern_test(size, RAM_TEST_S[quick], on_step)
    except (MemoryError, OSError, ValueError) as exc:
        return AutoCheck(
            id="ram.pattern",
            status="skipped",
            message=_("cannot allocate memory to test: {error}", error=exc),
        )
    elapsed = time.monotonic() - start
    measured = _(
        "{size} MB × {passes} patterns, {bad} bad blocks", size=size // MB, passes=passes, bad=bad
    )
    if bad:
        return AutoCheck(
            id="ram.pattern",
            status="fail",
            measured=measured,
            message=_("memory returned wrong data: a module is faulty"),
            duration_s=round(elapsed, 2),
        )
    return AutoCheck(
        id="ram.pattern",
        status="pass",
        measured=measured,
        message=_("{verified} MB written and read back correctly", verified=verified // MB),
        duration_s=round(elapsed, 2),
    )


# --- devices -----------------------------------------------------------------------------


def drive_status(path: str) -> int:
    """The CD-ROM layer's answer for ``path`` (CDS_* value); raises OSError if it has none."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return int(fcntl.ioctl(fd, CDROM_DRIVE_STATUS, 0))
    finally:
        os.close(fd)


def call_with_timeout(func: Callable[[], int], seconds: float) -> int | None:
    """``func()`` in a daemon thread; None when it has not answered in time (a hung drive)."""
    box: dict[str, int | BaseException] = {}

    def target() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return None
    if "error" in box:
        error = box["error"]
        assert isinstance(error, BaseException)
        raise error
    value = box["value"]
    assert isinstance(value, int)
    return value


def _check_optical(inventory: Inventory) -> list[AutoCheck]:
    checks = []
    for drive in inventory.optical:
        start = time.monotonic()
        ident = f"optical.{drive.name}"
        silent = _("the optical drive {name} does not answer", name=drive.name)
        try:
            status = call_with_timeout(partial(drive_status, f"/dev/{drive.name}"), DEVICE_ANSWER_S)
        except OSError as exc:
            checks.append(
                AutoCheck(
                    id=ident, status="fail", measured=exc.strerror or str(exc), message=silent
                )
            )
            continue
        elapsed = round(time.monotonic() - start, 2)
        if status is None:
            checks.append(
                AutoCheck(
                    id=ident,
                    status="fail",
                    duration_s=elapsed,
                    measured=_("no answer in {seconds} s", seconds=int(DEVICE_ANSWER_S)),
                    message=silent,
                )
            )
            continue
        checks.append(
            AutoCheck(
                id=ident,
                status="pass",
                duration_s=elapsed,
                measured=CDS_NAMES.get(status, str(status)),
                message=_("the optical drive {name} answers", name=drive.name),
            )
        )
    return checks


def _check_sound(inventory: Inventory) -> list[AutoCheck]:
    checks = []
    for card in inventory.sound:
        control = f"/dev/snd/controlC{card.card}"
        playback = glob.glob(f"/proc/asound/card{card.card}/pcm*p")
        try:
            fd = os.open(control, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
            answers = True
        except OSError:
            answers = False
        if answers and playback:
            checks.append(
                AutoCheck(
                    id=f"sound.card{card.card}",
                    status="pass",
                    measured=_("{count} playback device(s)", count=len(playback)),
                    message=_("the sound card {name} answers", name=card.name or card.id),
                )
            )
        else:
            checks.append(
                AutoCheck(
                    id=f"sound.card{card.card}",
                    status="fail",
                    measured=_("control device missing")
                    if not answers
                    else _("no playback device"),
                    message=_("the sound card {name} does not answer", name=card.name or card.id),
                )
            )
    return checks


def run_auto_checks(
    inventory: Inventory, *, quick: bool, progress: ProgressCallback
) -> list[AutoCheck]:
    """Run every automatic check on the live machine (skipped for a replayed inventory)."""
    if inventory.source == "evidence":
        return [
            AutoCheck(
                id="auto",
                status="skipped",
                message=_("replayed inventory: automatic checks need the machine"),
            )
        ]
    steps: list[tuple[str, Callable[[], list[AutoCheck]]]] = [
        ("cpu.load", lambda: _check_cpu_load(inventory, quick)),
        ("cpu.mce", lambda: [_check_mce()]),
        ("ram.size", lambda: [_check_ram_size(inventory)]),
        ("ram.pattern", lambda: [_check_ram_pattern(quick, progress)]),
        ("optical", lambda: _check_optical(inventory)),
        ("sound", lambda: _check_sound(inventory)),
    ]
    results: list[AutoCheck] = []
    for index, (name, step) in enumerate(steps):
        progress(ProgressEvent("checks", name, index, len(steps), message=name))
        try:
            results.extend(step())
        except Exception as exc:  # a check must not end the bench run
            results.append(
                AutoCheck(
                    id=name, status="skipped", message=_("check could not run: {error}", error=exc)
                )
            )
    progress(ProgressEvent("checks", "done", len(steps), len(steps)))
    return results
