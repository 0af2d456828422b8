"""Verdict paths of the workflow on the real inventory and grading (recorded Pentium 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.errors import InputError
from bench_agent.workflow import Step, Workflow
from tests.test_workflow_support import EVIDENCE


def at_verdict(profile: str = "pentium4") -> Workflow:
    wf = Workflow(load_settings(station="bench-1"), profile=profile, evidence_dir=EVIDENCE)
    wf.login("Marie")
    wf.intake("A-1", "LOT-1")
    inventory = wf.take_inventory()
    assert inventory.cpu.model.startswith("Intel(R) Pentium(R) 4")
    wf.run_auto_checks()
    for check in wf.guided_ids():
        wf.record_guided(check, "pass")
    wf.finish_guided()
    assert wf.step is Step.VERDICT
    return wf


def test_operator_rejects_a_machine_to_remediate_for_recycling(agent_home: Path) -> None:
    wf = at_verdict()
    assert wf.state.verdict is not None and wf.state.verdict.outcome == "remediate"
    with pytest.raises(InputError):
        wf.reject("landfill")
    wf.reject("recycling")
    assert wf.state.verdict.outcome == "rejected" and wf.state.destination == "recycling"
    # A recorded machine: its disks are not here, so the plan says so and nothing is wiped.
    assert wf.state.wipe_plans == [] and wf.state.wipe_skipped[0].device == "*"
    wf.confirm_wipe()
    assert wf.step is Step.IMAGE and wf.state.image_state == "skipped"
    wf.run_image()
    record = wf.make_record()
    assert record.verdict is not None and record.verdict.outcome == "rejected"
    assert record.destination == "recycling"
    assert record.guided_checks[0].status == "pass"
    label = wf.make_label().read_text()
    assert "recycling" in label and "A-1" in label
    assert wf.step is Step.DONE
    wf.next_machine()
    assert wf.step is Step.INTAKE and wf.state.operator == "Marie"
    assert (agent_home / "journal" / "machine" / "done" / "A-1.json").exists()


def test_done_re_inventory_loops_back_and_counts_rounds(agent_home: Path) -> None:
    wf = at_verdict()
    wf.remediation_done()
    assert wf.step is Step.INVENTORY and wf.state.remediation_rounds == 1
    assert wf.state.verdict is None
    wf.take_inventory()
    wf.run_auto_checks()
    assert [g.status for g in wf.state.guided] == ["not_done"] * len(wf.guided_ids())
    assert wf.build_record().remediation_rounds == 1
