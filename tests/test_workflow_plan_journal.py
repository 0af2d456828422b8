"""The wipe plan the operator confirmed is journaled and is the one that runs after a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.workflow import Step, Workflow
from bench_agent.workflow.journal import Journal
from bench_agent.workflow.machine import StepError
from bench_agent.workflow.state import MachineState
from tests.conftest import LoopFactory
from tests.test_workflow_support import EVIDENCE

PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "pentium4.toml"
ORIGINAL_METHODS = 'methods = ["ata-secure-erase-enhanced", "ata-secure-erase", "random", "zero"]'


def profile_allowing(folder: Path, method: str) -> Path:
    """A copy of the Pentium 4 profile whose wipe allows only ``method``."""
    text = PROFILE.read_text()
    assert ORIGINAL_METHODS in text, "the Pentium 4 profile's wipe methods changed: update this"
    path = folder / "bench-profile.toml"
    path.write_text(text.replace(ORIGINAL_METHODS, f'methods = ["{method}"]'))
    return path


def confirmed_at_wipe(profile: Path, disks: list[str]) -> Workflow:
    wf = Workflow(
        load_settings(station="bench-plan"),
        profile=str(profile),
        evidence_dir=EVIDENCE,
        disks=disks,
    )
    wf.login("Marie")
    wf.intake("PLAN-1", "")
    wf.take_inventory()
    wf.run_auto_checks()
    for check in wf.guided_ids():
        wf.record_guided(check, "pass")
    wf.finish_guided()
    wf.accept_verdict()
    assert wf.step is Step.WIPE_PLAN
    wf.confirm_wipe()
    assert wf.step is Step.WIPE
    return wf


@pytest.mark.device
def test_the_confirmed_plan_runs_after_a_restart_even_if_a_new_plan_would_differ(
    agent_home: Path, make_loop: LoopFactory, tmp_path: Path
) -> None:
    disks = [str(make_loop(8 << 20)), str(make_loop(8 << 20))]
    profile = profile_allowing(tmp_path, "zero")
    before = confirmed_at_wipe(profile, disks)
    confirmed = [(p.device, p.method, p.verify) for p in before.state.wipe_plans]
    assert confirmed == [(d, "zero", "sample") for d in disks]
    # The bench stops here (crash, power cut); meanwhile the profile changes, so planning
    # again would choose another method than the one the operator confirmed.
    profile.write_text(profile.read_text().replace('methods = ["zero"]', 'methods = ["random"]'))
    del before

    after = Workflow(load_settings())
    assert after.resumed and after.step is Step.WIPE
    assert [(p.device, p.method, p.verify) for p in after.state.wipe_plans] == confirmed
    reports = after.run_wipe()
    assert [(r.device, r.method, r.status) for r in reports] == [
        (d, "zero", "erased") for d in disks
    ]
    for disk in disks:
        with open(disk, "rb") as handle:
            assert handle.read() == bytes(8 << 20)


@pytest.mark.device
def test_a_journal_from_before_plans_were_journaled_plans_the_same_disks_again(
    agent_home: Path, make_loop: LoopFactory, tmp_path: Path
) -> None:
    disk = str(make_loop(8 << 20, fill="random"))
    confirmed_at_wipe(profile_allowing(tmp_path, "zero"), [disk])
    journal = Journal(load_settings().journal_dir / "machine")
    saved = journal.load()
    assert saved is not None and saved["wipe_plans"] and "wipe_targets" not in saved
    # As the previous version wrote it: the plan's summary, not the plan.
    plan = saved.pop("wipe_plans")[0]
    del saved["wipe_replan"]
    saved["wipe_targets"] = [
        {key: plan[key] for key in ("device", "size_bytes", "model", "serial", "method", "level")}
        | {"verify": plan["verify"], "note": ""}
    ]
    journal.save(json.loads(json.dumps(saved)))

    wf = Workflow(load_settings())
    assert wf.state.wipe_plans == [] and wf.state.wipe_replan
    reports = wf.run_wipe()
    assert [(r.device, r.method, r.status) for r in reports] == [(disk, "zero", "erased")]
    assert [p.device for p in wf.state.wipe_plans] == [disk] and not wf.state.wipe_replan
    with open(disk, "rb") as handle:
        assert handle.read() == bytes(8 << 20)


def test_a_plan_shown_by_the_previous_version_is_planned_again_before_its_confirmation(
    agent_home: Path,
) -> None:
    """Its journal has the plan's summary only: the plan step offers to plan again, and the
    confirmation waits for that (never "nothing to wipe" for want of the plan)."""
    settings = load_settings(station="bench-old")
    old = MachineState(station="bench-old", operator="Marie", step=Step.WIPE_PLAN)
    saved = old.model_dump(mode="json")
    del saved["wipe_plans"], saved["wipe_replan"]
    saved["wipe_state"] = "planned"
    saved["wipe_targets"] = [{"device": "/dev/sdb", "method": "zero", "level": "clear"}]
    Journal(settings.journal_dir / "machine").save(saved)

    wf = Workflow(settings)
    assert wf.step is Step.WIPE_PLAN and wf.state.wipe_state == ""
    with pytest.raises(StepError):
        wf.confirm_wipe()
