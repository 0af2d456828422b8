"""One health value per disk: the grading profile's, which also decides the image's target."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.models.wipe import WipeReport
from bench_agent.workflow import Step, Workflow
from tests.test_workflow_support import EVIDENCE

PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "pentium4.toml"


def bundle_with_healthy_sdb(folder: Path) -> Path:
    """The recorded Pentium 4, its second disk's 242 reallocated sectors recorded as none."""
    bundle = folder / "pentium4"
    shutil.copytree(EVIDENCE, bundle)
    smart = bundle / "smartctl" / "sdb.txt"
    text = smart.read_text()
    line = "  5 Reallocated_Sector_Ct   PO--CK   094   094   036    -    242"
    assert line in text, "the recorded smartctl output changed: update this test"
    smart.write_text(text.replace(line, line[: -len("242")] + "0"))
    return bundle


def strict_profile(folder: Path) -> Path:
    """The Pentium 4 profile, failing a disk at its first reallocated sector."""
    text = PROFILE.read_text()
    assert "reallocated_fail = 50" in text
    path = folder / "strict.toml"
    path.write_text(text.replace("reallocated_fail = 50", "reallocated_fail = 0"))
    return path


def erased(device: str) -> WipeReport:
    return WipeReport(device=device, method="zero", level="clear", status="erased")


def test_a_disk_the_profile_grades_failing_is_not_chosen_for_the_image(
    agent_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_AGENT_IMAGES", str(tmp_path / "no-images"))
    wf = Workflow(
        load_settings(station="bench-img"),
        profile=str(strict_profile(tmp_path)),
        evidence_dir=bundle_with_healthy_sdb(tmp_path),
    )
    wf.login("Marie")
    wf.intake("IMG-1", "")
    inventory = wf.take_inventory()
    # sda's one reallocated sector: "warn" with the default limits, "fail" with the profile's.
    health = {d.path: (d.health, d.health_reasons) for d in inventory.disks}
    assert health["/dev/sda"] == ("fail", ["1 reallocated sector (more than 0)"])
    assert health["/dev/sdb"][0] == "pass"
    wf.run_auto_checks()
    for check in wf.guided_ids():
        wf.record_guided(check, "pass")
    verdict = wf.finish_guided()
    # The grading says the same as the inventory shown: one value per disk.
    sda = next(c for c in verdict.criteria if c.id == "disk.sda.health")
    assert sda.status != "pass" and "failing" in sda.message
    # Both disks wiped (the recorded machine's disks are not here: the reports stand in).
    wf.state.step = Step.IMAGE
    wf.state.wipes = [erased("/dev/sda"), erased("/dev/sdb")]
    wf._plan_image()
    assert wf.state.image_target == "/dev/sdb"


def test_the_check_command_shows_and_grades_the_profiles_health(tmp_path: Path) -> None:
    """``bench-agent check`` says what the workflow says: the disk list and the verdict carry
    the grading profile's health, not the inventory's default limits."""
    import json
    import subprocess
    import sys

    profile, bundle = strict_profile(tmp_path), bundle_with_healthy_sdb(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench_agent.cli.main",
            "check",
            "--json",
            "--quick",
            "--profile",
            str(profile),
            "--evidence",
            str(bundle),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    document = json.loads(done.stdout)
    health = {d["path"]: (d["health"], d["health_reasons"]) for d in document["disks"]}
    # sda's one reallocated sector: "warn" with the default limits, "fail" with the profile's.
    assert health["/dev/sda"] == ("fail", ["1 reallocated sector (more than 0)"])
    criteria = {c["id"]: c for c in document["verdict"]["criteria"]}
    assert criteria["disk.sda.health"]["status"] != "pass"
