"""``bench-agent disks`` and ``wipe`` as an operator uses them (real loop devices)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LoopFactory
from tests.test_cli_progress import finished_phases

pytestmark = pytest.mark.device

MiB = 1 << 20
ROOT = Path(__file__).parent.parent


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench_agent.cli.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=300,
    )


def root_disk() -> str:
    root = os.stat("/").st_dev
    link = Path(f"/sys/dev/block/{os.major(root)}:{os.minor(root)}").resolve()
    return "/dev/" + (link.parent.name if (link / "partition").exists() else link.name)


def test_disks_json_says_which_disks_may_be_wiped(make_loop: LoopFactory) -> None:
    dev = make_loop(8 * MiB)
    result = cli("disks", "--json", "--profile", "test-bench")
    assert result.returncode == 0, result.stderr
    disks = {d["device"]: d for d in json.loads(result.stdout)["disks"]}
    system = disks[root_disk()]
    assert system["wipeable"] is False and system["rule"] == "system-disk"
    # A loop device is taken only when named explicitly: the listing names none, whatever the
    # profile (issue 12: the grading profile has no say in the device policy)...
    for profile in ("test-bench", "pentium4"):
        listed = {
            d["device"]: d
            for d in json.loads(cli("disks", "--json", "--profile", profile).stdout)["disks"]
        }
        assert listed[str(dev)]["wipeable"] is False and listed[str(dev)]["rule"] == "loop"
    # ...and naming it is enough, with either profile.
    for profile in ("test-bench", "pentium4"):
        plan = cli("wipe", str(dev), "--profile", profile, "--dry-run", "--json")
        assert plan.returncode == 0, plan.stderr
        assert json.loads(plan.stdout)[0]["device"] == str(dev)


def test_wipe_asks_for_the_name_and_refuses_a_wrong_answer(
    make_loop: LoopFactory, tmp_path: Path
) -> None:
    dev = make_loop(8 * MiB, fill="random")
    with open(dev, "rb") as handle:
        before = handle.read()
    args = ["wipe", str(dev), "--profile", "test-bench", "--report-dir", str(tmp_path)]
    wrong = cli(*args, stdin="loop99\n")
    assert wrong.returncode == 2
    assert "did not match" in wrong.stderr and "Traceback" not in wrong.stderr
    with open(dev, "rb") as handle:
        assert handle.read() == before  # nothing written

    right = cli(*args, "--method", "random", "--verify", "full", stdin=f"{dev.name}\n")
    assert right.returncode == 0, right.stdout + right.stderr
    assert "ERASED" in right.stdout and "full: passed" in right.stdout
    # In a log (stdout is a pipe here), the console renderer's line per phase, once at its end:
    # the same lines as `bench-agent run` (tests/test_run_headless.py).
    assert finished_phases(right.stdout, dev.name) == ["write", "verify", "done"], right.stdout
    assert len(list(tmp_path.glob("*.cert.pdf"))) == 1
    pdf = next(tmp_path.glob("*.cert.pdf"))
    assert cli("verify-cert", str(pdf)).returncode == 0


def test_dry_run_writes_nothing_and_exit_code_follows_status(
    make_loop: LoopFactory, tmp_path: Path
) -> None:
    dev = make_loop(8 * MiB, fill="random")
    with open(dev, "rb") as handle:
        before = handle.read()
    plan = cli("wipe", str(dev), "--profile", "test-bench", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    (entry,) = json.loads(plan.stdout)
    assert entry["method"] == "zero" and entry["verify"] == "sample"
    with open(dev, "rb") as handle:
        assert handle.read() == before

    # Not verified: erased with exceptions, which is not exit 0.
    unverified = cli(
        "wipe",
        str(dev),
        "--profile",
        "test-bench",
        "--yes",
        "--verify",
        "none",
        "--json",
        "--report-dir",
        str(tmp_path),
    )
    assert unverified.returncode == 1
    (result,) = json.loads(unverified.stdout)
    assert result["report"]["status"] == "erased_with_exceptions"
    assert result["certificate"]["verification"]["result"] == "not_done"


def test_refused_device_exit_code_and_french(make_loop: LoopFactory) -> None:
    dev = make_loop(8 * MiB, read_only=True)
    result = cli("--lang", "fr", "wipe", str(dev), "--profile", "test-bench", "--yes")
    assert result.returncode == 5
    assert result.stderr.startswith("erreur : ") and "lecture seule" in result.stderr


def test_progress_bars_on_a_terminal_and_plain_lines_otherwise() -> None:
    import io

    from bench_agent.console.output import ConsoleProgress
    from bench_agent.progress import ProgressEvent

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bars = ConsoleProgress(["sdb", "sdc"], stream=screen)
    bars(ProgressEvent("sdb", "write", 50, 100, rate=100e6, eta_s=65))
    bars(ProgressEvent("sdc", "verify", 100, 100))
    # Sizes may use a no-break space between number and unit (the app's formatter).
    text = screen.getvalue().replace("\xa0", " ")
    assert "\x1b[2K" in text and "\x1b[2F" in text  # two lines redrawn in place
    assert re.search(r"\[#{15}\.{15}\]  50\.0% 100(\.0)? MB/s ETA 1:05", text), text
    assert "sdc" in text and "100.0%" in text

    plain = io.StringIO()
    lines = ConsoleProgress(["sdb"], stream=plain)
    for done in range(0, 101, 10):
        lines(ProgressEvent("sdb", "write", done, 100))
    lines(ProgressEvent("sdb", "verify", 5, 10))
    out = plain.getvalue().splitlines()
    assert "\x1b" not in plain.getvalue()
    assert 2 <= len(out) <= 4  # throttled: first, last and the phase change
    assert out[-1].split()[:2] == ["sdb", "verify"]


def test_progress_bars_fit_an_80_column_text_console() -> None:
    """A bar longer than the console wraps onto a second row, and the redraw (one row up per
    disk) then scrambles the screen: on the Linux text console (80 columns) of an old bench,
    a long ETA or a firmware message must be cut, not wrapped."""
    import io

    from bench_agent.console.output import ConsoleProgress
    from bench_agent.progress import ProgressEvent

    class Console(io.StringIO):  # a terminal whose size cannot be asked: 80 columns
        def isatty(self) -> bool:
            return True

    screen = Console()
    bars = ConsoleProgress(["sdb", "nvme0n1"], stream=screen)
    bars(ProgressEvent("sdb", "write", 50, 100, rate=61e6, eta_s=8333))
    message = "SECURITY ERASE UNIT running, drive estimate 98 min"
    bars(ProgressEvent("nvme0n1", "firmware", 500, 1000, message=message))
    rows = re.sub(r"\x1b\[\d*[KF]", "", screen.getvalue()).split("\n")
    assert max(len(row) for row in rows) < 80, rows
    assert any("ETA 138" in row for row in rows) and any("SECURITY ERASE" in row for row in rows)
