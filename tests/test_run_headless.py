"""``bench-agent run``: the whole cycle without the app, on real engines, loop disks, a real ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench_agent.adapters.demo import LocalLedger
from bench_agent.sanitize import verify_certificate
from tests.test_cli_progress import finished_phases
from tests.test_workflow_support import (
    EVIDENCE,
    bench_disks,  # noqa: F401 - fixture
    cli,
    images,  # noqa: F401 - fixture
    journal_state,
    ledger,  # noqa: F401 - fixture
    ledger_server,  # noqa: F401 - fixture
    start_run_and_kill_mid_wipe,
    sync_and_fetch,
    test_master,  # noqa: F401 - fixture
)

pytestmark = [pytest.mark.device, pytest.mark.slow]


def run_json(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code, result, _log = run_logged(*args)
    return code, result


def run_logged(*args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    """The exit code, the JSON result (stdout) and the log (stderr, a pipe here)."""
    done = cli("run", "--json", *args, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def test_unattended_cycle_wipes_images_signs_and_reaches_the_ledger(
    bench_disks: list[str],  # noqa: F811 - fixture
    ledger: LocalLedger,  # noqa: F811 - fixture
    agent_home: Path,
) -> None:
    code, result, log = run_logged(
        "--unattended", "--profile", "pentium4", "--evidence", str(EVIDENCE),
        "--disks", *bench_disks, "--asset", "P4-0001", "--lot", "LOT-9",
    )  # fmt: skip
    # The log shows the wipe and the image through the console renderer of `bench-agent wipe`
    # (in a log: a line at a phase's start, every few seconds, and at its end): the same lines
    # as the wipe command's on a loop device (tests/test_wipe_cli.py).
    first, second = (Path(disk).name for disk in bench_disks)
    assert finished_phases(log, second) == ["write", "verify", "done"], log
    wiped, imaged = finished_phases(log, first)[:3], finished_phases(log, first)[3:]
    assert wiped == ["write", "verify", "done"] and imaged[0] == "write" and "grow" in imaged, log
    assert "Record signed and queued for the ledger." in log
    # The recorded Pentium 4 has a failing second disk: kept, to remediate (exit 3).
    assert code == 3, result
    assert result["outcome"] == "remediate"
    assert result["asset_tag"] == "P4-0001" and result["lot"] == "LOT-9"
    assert set(result["guided_checks"].values()) == {"not_done"}
    assert [w["device"] for w in result["wipes"]] == bench_disks
    assert all(w["status"] == "erased" and w["verification"] == "passed" for w in result["wipes"])
    # A 32-bit Pentium 4 gets the i686 master, on the first disk.
    assert result["image"] == {
        "device": bench_disks[0],
        "image": "test-master-i686",
        "status": "success",
    }
    assert any("32-bit" in reason for reason in result["image_reasons"])
    assert result["record_state"] == "queued"
    assert not (agent_home / "journal" / "machine" / "current.json").exists()  # archived

    record = json.loads(Path(result["record_path"]).read_text())
    assert len(record["certificates"]) == 2
    for certificate in record["certificates"]:
        verify_certificate(certificate)
    assert record["target_devices"] == bench_disks
    assert record["evidence_sha256"]

    stored = sync_and_fetch(ledger, result["record_id"])
    assert stored["record_id"] == result["record_id"]
    assert Path(result["label_path"]).read_text().startswith("Asset: P4-0001")


def test_rejected_machine_still_gets_its_disks_wiped(
    bench_disks: list[str],  # noqa: F811 - fixture
    agent_home: Path,
) -> None:
    # modern-2024 needs a 64-bit CPU: the Pentium 4 is rejected, its disks are wiped anyway.
    code, result = run_json(
        "--unattended", "--profile", "modern-2024", "--evidence", str(EVIDENCE),
        "--disks", *bench_disks,
    )  # fmt: skip
    assert code == 4, result
    assert result["outcome"] == "rejected"
    assert result["destination"] in ("parts", "recycling")
    assert [w["status"] for w in result["wipes"]] == ["erased", "erased"]
    assert result["image"] is None


def test_a_wipe_killed_mid_way_is_rerun_from_scratch_and_recorded(
    bench_disks: list[str],  # noqa: F811 - fixture
    agent_home: Path,
) -> None:
    start_run_and_kill_mid_wipe(agent_home, bench_disks, "--asset", "CRASH-1")
    state = journal_state(agent_home)
    assert state is not None and state["step"] == "wipe" and state["wipe_state"] == "running"

    code, result = run_json(
        "--unattended", "--profile", "pentium4", "--evidence", str(EVIDENCE),
        "--disks", *bench_disks,
    )  # fmt: skip
    assert code == 3, result
    assert result["asset_tag"] == "CRASH-1"  # the same machine, resumed
    assert [i["step"] for i in result["interruptions"]] == ["wipe"]
    assert result["interruptions"][0]["action"] == "rerun_from_scratch"
    assert result["interruptions"][0]["confirmed_by"] == "unattended-policy"
    assert all(w["status"] == "erased" for w in result["wipes"])
    record = json.loads(Path(result["record_path"]).read_text())
    assert record["interruptions"][0]["step"] == "wipe"
    # Only the completed wipes have certificates.
    assert len(record["certificates"]) == 2


def test_an_image_killed_mid_way_is_rewritten_and_recorded(
    bench_disks: list[str],  # noqa: F811 - fixture
    agent_home: Path,
) -> None:
    start_run_and_kill_mid_wipe(agent_home, bench_disks, "--asset", "CRASH-3", step="image")
    state = journal_state(agent_home)
    assert state is not None and state["step"] == "image" and state["image_state"] == "running"
    assert state["wipe_state"] == "done"  # the finished wipe is not redone

    code, result = run_json(
        "--unattended", "--profile", "pentium4", "--evidence", str(EVIDENCE),
        "--disks", *bench_disks,
    )  # fmt: skip
    assert code == 3, result
    assert [(i["step"], i["action"]) for i in result["interruptions"]] == [
        ("image", "rerun_from_scratch")
    ]
    assert result["image"]["status"] == "success"
    assert len(result["wipes"]) == 2
