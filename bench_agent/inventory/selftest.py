"""The drive's own SMART short self-test, polled at the rhythm the drive asks for.

``smartctl -t short`` starts it; the drive says how long it takes ("Short self-test routine
recommended polling time: (2) minutes"); we poll its progress ("Self-test routine in progress...
60% of test remaining") and report progress events, then read the self-test log's newest entry.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable

from bench_agent.errors import BenchError, ToolMissing
from bench_agent.i18n import _
from bench_agent.inventory.smartctl import parse_smartctl
from bench_agent.progress import ProgressCallback, ProgressEvent

_IN_PROGRESS = re.compile(r"(\d+)%\s+of\s+test\s+remaining", re.IGNORECASE)
_NVME_PROGRESS = re.compile(r"Self-test status:.*?\((\d+)%\s+completed\)", re.IGNORECASE)


def remaining_percent(text: str) -> int | None:
    """Percent of the running self-test left, or None when no test is running.

    ATA: "Self-test routine in progress... 60% of test remaining."; NVMe (smartctl 7.3+):
    "Self-test status: Short self-test in progress (40% completed)".
    """
    match = _IN_PROGRESS.search(text)
    if match and "in progress" in text.lower():
        return int(match.group(1))
    match = _NVME_PROGRESS.search(text)
    if match:
        return 100 - int(match.group(1))
    return None


def last_result(text: str) -> str:
    """The newest entry of the self-test log, as the drive wrote it."""
    return parse_smartctl(text).smart.self_test


def _run(argv: list[str], timeout_s: float = 60) -> str:
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BenchError(
            _("{command} failed: {error}", command=" ".join(argv), error=exc),
            _("Check the drive's cable and power, then try again."),
        ) from exc
    return result.stdout


def run_short_self_test(
    device: str,
    progress: ProgressCallback,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Run the SMART short self-test on ``device`` and return the drive's verdict text."""
    if shutil.which("smartctl") is None:
        raise ToolMissing(
            _("The 'smartctl' tool is missing."), _("Install smartmontools (scripts/setup does).")
        )
    path = device if device.startswith("/dev/") else f"/dev/{device}"
    name = path.removeprefix("/dev/")
    info = parse_smartctl(_run(["smartctl", "-a", path]))
    if not info.smart.available:
        raise BenchError(
            _(
                "{device}: no SMART self-test possible ({reason}).",
                device=name,
                reason=_(info.smart.reason) if info.smart.reason else "?",
            ),
            _("Run a full read test with the wipe's verification instead."),
        )
    polling_min = info.smart.short_test_minutes or 2
    start_text = _run(["smartctl", "-t", "short", path])
    lowered = start_text.lower()
    if (
        "testing has begun" not in lowered
        and "self-test has begun" not in lowered
        and "self test has begun" not in lowered
        and "in progress" not in lowered
    ):
        raise BenchError(
            _("{device} refused to start a short self-test.", device=name),
            _("The drive may not support self-tests; rely on the SMART data."),
        )
    # Poll about ten times over the drive's own estimate, never faster than every 5 s.
    interval = max(5.0, min(60.0, polling_min * 60 / 10))
    deadline = time.monotonic() + polling_min * 60 * 3 + 120
    progress(ProgressEvent(name, "self-test", 0, 100, message=_("short self-test started")))
    while True:
        sleep(interval)
        status_text = (
            _run(["smartctl", "-c", path])
            if info.device_type == "ata"
            else _run(["smartctl", "-a", path])
        )
        remaining = remaining_percent(status_text)
        if remaining is None:
            break
        progress(
            ProgressEvent(
                name, "self-test", 100 - remaining, 100, message=_("short self-test running")
            )
        )
        if time.monotonic() > deadline:
            _run(["smartctl", "-X", path])
            raise BenchError(
                _("{device}: the short self-test did not finish in time.", device=name),
                _("The drive may be failing; check its SMART data."),
            )
    log_text = _run(["smartctl", "-a", path])
    verdict = last_result(log_text) or _("no self-test result logged")
    progress(ProgressEvent(name, "self-test", 100, 100, message=verdict))
    return verdict
