"""Running the drive tools (hdparm, nvme-cli) and keeping what they said as evidence."""

from __future__ import annotations

import shutil
import subprocess
import time
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


def run(argv: list[str], *, timeout: float = 60.0, mask: str = "") -> CommandResult:
    """Run a tool; never raises on a non-zero exit (callers judge from the drive's state)."""
    require(argv[0])
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              check=False, errors="replace")
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code = -1
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        err = f"timed out after {timeout:.0f} s"
    shown = [a.replace(mask, "********") if mask else a for a in argv]
    return CommandResult(shown, code, out, err, time.monotonic() - t0)


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
