""" "Not applicable" is recorded as such and never counted as met in the grading.

A workshop's view: the Pentium 4 profile requires a DVD drive and a sound card. "Not
applicable" on the optical check of a machine whose drive the inventory found leaves the drive
untested: a remediation (test it), never "kept". Without the drive the inventory's own
criterion already asks for one; the guided answer stays "not checked". For a check the profile
does not require (the keyboard of a tower) N/A is "not checked", never "pass".
"""

from __future__ import annotations

import pytest

from bench_agent.inventory import collect_inventory
from bench_agent.inventory.profiles import grade_inventory, load_profile
from bench_agent.models.inventory import Inventory
from bench_agent.models.record import GuidedCheck
from bench_agent.models.verdict import Verdict
from tests.conftest import FIXTURES

P4_BUNDLE = FIXTURES / "evidence" / "pentium4-desktop"


@pytest.fixture(scope="module")
def good() -> Inventory:
    p4 = collect_inventory(evidence_dir=P4_BUNDLE)
    return p4.model_copy(update={"disks": [d for d in p4.disks if d.name == "sda"]})


def answers(**statuses: str) -> list[GuidedCheck]:
    ids = ("sound", "optical", "keyboard", "screen", "mouse")
    return [GuidedCheck(id=i, status=statuses.get(i, "pass"), tested=True) for i in ids]


def criterion(verdict: Verdict, ident: str) -> str:
    return next(c.status for c in verdict.criteria if c.id == ident)


def test_all_passed_is_kept(good: Inventory) -> None:
    assert good.optical and good.sound  # the recorded machine has both
    verdict = grade_inventory(good, load_profile("pentium4"), guided=answers())
    assert verdict.outcome == "kept"


def test_na_on_a_required_drive_that_is_there_is_a_remediation(good: Inventory) -> None:
    verdict = grade_inventory(
        good, load_profile("pentium4"), guided=answers(optical="not_applicable")
    )
    assert criterion(verdict, "guided.optical") == "remediate"
    assert verdict.outcome == "remediate"
    assert any("optical" in a for a in verdict.actions), verdict.actions


def test_na_on_a_required_drive_that_is_missing_never_passes(good: Inventory) -> None:
    no_drive = good.model_copy(update={"optical": []})
    verdict = grade_inventory(
        no_drive, load_profile("pentium4"), guided=answers(optical="not_applicable")
    )
    assert criterion(verdict, "guided.optical") == "unknown"
    assert criterion(verdict, "optical") in ("remediate", "fail")  # the inventory's criterion
    assert verdict.outcome != "kept"


def test_na_where_not_required_is_not_checked_never_met(good: Inventory) -> None:
    profile = load_profile("pentium4")
    verdict = grade_inventory(good, profile, guided=answers(keyboard="not_applicable"))
    assert criterion(verdict, "guided.keyboard") == "unknown"
    assert verdict.outcome == "kept"
    assert "1 not checked" in verdict.summary
    met = sum(1 for c in verdict.criteria if c.status == "pass")
    assert met == len(verdict.criteria) - 1
    lenient = profile.model_copy(
        update={"optical": profile.optical.model_copy(update={"required": "none"})}
    )
    verdict = grade_inventory(
        good.model_copy(update={"optical": []}),
        lenient,
        guided=answers(optical="not_applicable"),
    )
    assert criterion(verdict, "guided.optical") == "unknown"
