"""Running the drive tools (hdparm, nvme-cli) and keeping what they said as evidence."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench_agent.errors import ToolMissing
from bench_agent.i18n import _

MAX_KEPT_OUTPUT = 4000


@dataclass
class CommandResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def evidence(self) -> dict[str, object]:
        """What goes into the report: the command (passwords masked) and its trimmed output."""
        return {
            "argv": self.argv,
            "returncode": self.returncode,
            "stdout": self.stdout[-MAX_KEPT_OUTPUT:],
            "stderr": self.stderr[-MAX_KEPT_OUTPUT:],
            "seconds": round(self.seconds, 3),
        }


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(
            _("The '{tool}' tool is missing.", tool=tool),
            _("Install it (scripts/setup does)."),
        )
    return path


def run(
    argv: list[str],
    *,
    timeout: float = 60.0,
    mask: str = "",
    on_tick: Callable[[float], None] | None = None,
    tick_s: float = 2.0,
) -> CommandResult:
    """Run a tool; never raises on a non-zero exit (callers judge from the drive's state).

    ``on_tick(elapsed_s)`` is called every ``tick_s`` while the tool runs (a SECURITY ERASE
    can block for hours: the progress bar follows the drive's own time estimate).
    """
    require(argv[0])
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
    )
    while True:
        try:
            out, err = proc.communicate(timeout=tick_s if on_tick else timeout)
            code = proc.returncode
            break
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - t0
            if elapsed >= timeout:
                proc.kill()
                out, _err = proc.communicate()
                code, err = -1, f"timed out after {timeout:.0f} s"
                break
            if on_tick is not None:
                on_tick(elapsed)
    shown = [a.replace(mask, "********") if mask else a for a in argv]
    return CommandResult(shown, code, out or "", err or "", time.monotonic() - t0)


def tool_version(tool: str) -> str:
    """One-line version of hdparm / nvme (for the certificate)."""
    if shutil.which(tool) is None:
        return ""
    args = {"hdparm": ["hdparm", "-V"], "nvme": ["nvme", "version"]}.get(tool, [tool, "--version"])
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (proc.stdout or proc.stderr).strip().splitlines()
    return text[0].strip() if text else ""
