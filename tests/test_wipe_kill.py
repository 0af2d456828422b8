"""A wipe killed with SIGKILL mid-way is found by the journal at the next start, never yields a
certificate, and is done again; an overwrite resumes only from a flushed checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.sanitize import CertificateContext, interrupted, plan_wipes, run_wipes
from bench_agent.sanitize.journal import Journal
from bench_agent.sanitize.pattern import Pattern
from tests.conftest import LoopFactory
from tests.test_wipe_cli import cli
from tests.test_wipe_faultyfs import FaultyFactory, faulty_loop  # noqa: F401 (fixture)

pytestmark = pytest.mark.device

MiB = 1 << 20
ROOT = Path(__file__).parent.parent


def test_kill_9_mid_wipe_is_reported_and_never_certified(
    faulty_loop: FaultyFactory,  # noqa: F811
    tmp_path: Path,
    agent_home: Path,
) -> None:
    # A slow disk (10 ms per 128 KiB request): the wipe takes seconds, time to kill it.
    dev = faulty_loop(32 * MiB, delay_ms=10)
    reports = tmp_path / "reports"
    args = [
        "wipe",
        str(dev),
        "--yes",
        "--profile",
        "test-bench",
        "--method",
        "zero",
        "--verify",
        "sample",
        "--report-dir",
        str(reports),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench_agent.cli.main", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if " write " in line and "%" in line:
            break
        if not line and proc.poll() is not None:
            pytest.fail(f"the wipe ended before it could be killed:\n{seen}{proc.stderr.read()}")
    else:
        pytest.fail(f"no write progress within a minute:\n{seen}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    pending = interrupted(agent_home)
    assert len(pending) == 1
    assert pending[0].device == str(dev) and pending[0].phase == "write"
    assert not list(reports.glob("*.cert.*")) if reports.exists() else True

    listing = cli("disks", "--profile", "test-bench")
    assert "interrupted" in listing.stderr and str(dev) in listing.stderr
    as_json = cli("disks", "--json", "--profile", "test-bench")
    assert '"interrupted_wipes"' in as_json.stdout and pending[0].id in as_json.stdout

    again = cli(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "interrupted" in again.stderr  # said so before starting again
    assert not interrupted(agent_home)
    certificates = list(reports.glob("*.cert.json"))
    assert len(certificates) == 1
    report = next(reports.glob("*.wipe.json")).read_text()
    assert pending[0].id in report  # the new report names the interrupted wipe it replaced


@pytest.mark.parametrize("method", ["zero", "random"])
def test_resume_from_a_flushed_checkpoint(
    make_loop: LoopFactory, tmp_path: Path, agent_home: Path, method: str
) -> None:
    size, half = 16 * MiB, 8 * MiB
    dev = make_loop(size, fill="random")
    pattern = Pattern(method)  # type: ignore[arg-type]
    # What a first run had flushed before it was killed: the first half, with its pattern.
    with open(dev, "r+b") as handle:
        handle.write(pattern.expected(0, half))
        handle.flush()
        os.fsync(handle.fileno())
    journal = Journal(agent_home / "journal")
    entry = journal.start(
        device=str(dev),
        kname=dev.name,
        size_bytes=size,
        method=method,
        verify="full",
        seed=pattern.seed_hex,
        phase="write",
        written_upto=half,
    )
    entry.pid, entry.process_start = 2**22 + 1, "0"  # a process that no longer exists
    journal.write(entry)
    assert [e.id for e in interrupted(agent_home)] == [entry.id]

    plans = plan_wipes(
        [str(dev)],
        method=method,  # type: ignore[arg-type]
        verify="full",
        resume=True,
        journal_directory=agent_home / "journal",
    )
    assert plans[0].resume_from == half and plans[0].resume_journal == entry.id
    ((report, cert),) = run_wipes(
        plans,
        settings=load_settings(),
        context=CertificateContext(),
        progress=lambda e: None,
        report_dir=tmp_path / "reports",
    )
    # Full verification over the whole disk passes only if the resumed pattern matches.
    assert report.status == "erased", report.status_detail
    assert report.bytes_written == size - half
    assert report.extra["resumed_from_byte"] == half
    assert cert is not None
    assert not interrupted(agent_home)


def test_resume_refuses_a_different_method(make_loop: LoopFactory, agent_home: Path) -> None:
    dev = make_loop(8 * MiB, fill="random")
    journal = Journal(agent_home / "journal")
    entry = journal.start(
        device=str(dev),
        kname=dev.name,
        size_bytes=8 * MiB,
        method="random",
        verify="full",
        seed="00" * 32,
        written_upto=4 * MiB,
    )
    entry.pid, entry.process_start = 2**22 + 1, "0"
    journal.write(entry)
    plans = plan_wipes(
        [str(dev)],
        method="zero",
        verify="full",
        resume=True,
        journal_directory=agent_home / "journal",
    )
    assert plans[0].resume_from == 0  # restarted from scratch
