"""Esc goes back on every step screen that offers it, journaled, at 80×25.

Intake → operator login, verdict → the last guided check (asked again), wipe plan → verdict
(graded again); the screens without a way back (login, inventory, a running wipe) neither
offer it on their key line nor move. A running wipe is covered in tests/test_tui_safety.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench_agent.config import load_settings
from bench_agent.tui.operators import OperatorProfile
from bench_agent.workflow.state import Step
from tests.test_workflow_support import EVIDENCE

SIZE = (80, 25)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def app_at(where: Step, journal_dir: Path | None = None) -> Any:
    """The bench app with the recorded Pentium 4 brought to ``where`` by the workflow."""
    from bench_agent.tui.app import BenchApp

    app = BenchApp(
        load_settings(station="bench-back"),
        profile="pentium4",
        operator=OperatorProfile(name="en", language="en"),
        evidence=EVIDENCE,
        disks=[],
        poll_ledger=False,
        autostart=False,
        journal_dir=journal_dir,
    )
    wf = app.wf
    order = [Step.OPERATOR, Step.INTAKE, Step.AUTO_CHECKS, Step.VERDICT, Step.WIPE_PLAN]
    for step in order[: order.index(where)]:
        if step is Step.OPERATOR:
            wf.login("en")
        elif step is Step.INTAKE:
            wf.intake("BACK-1", "")
            wf.take_inventory()
        elif step is Step.AUTO_CHECKS:
            wf.run_auto_checks(quick=True)
            for check in wf.state.guided:
                wf.record_guided(check.id, "pass", tested=True)
            wf.finish_guided()
        elif step is Step.VERDICT:
            wf.accept_verdict()
    assert wf.step is where
    return app


async def press_escape(app: Any, pilot: Any) -> str:
    await pilot.pause(0.3)
    keys = str(app.screen.query_one("#keys").render())
    await pilot.press("escape")
    for _ in range(100):
        await pilot.pause(0.05)
        if not app.busy:
            break
    await pilot.pause(0.3)
    return keys


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("where", "lands"),
    [
        (Step.OPERATOR, Step.OPERATOR),
        (Step.INTAKE, Step.OPERATOR),
        (Step.AUTO_CHECKS, Step.AUTO_CHECKS),
        (Step.VERDICT, Step.GUIDED),
        (Step.WIPE_PLAN, Step.VERDICT),
    ],
    ids=lambda s: str(s),
)
async def test_escape_on_every_step_lands_where_its_key_line_says(
    agent_home: Path, where: Step, lands: Step
) -> None:
    from bench_agent.tui.screens import SCREENS

    app = app_at(where)
    async with app.run_test(size=SIZE) as pilot:
        keys = await press_escape(app, pilot)
        wf = app.wf
        assert wf.step is lands
        assert ("Esc: back" in keys) == (lands is not where), keys
        assert type(app.screen) is SCREENS[lands], type(app.screen)
        kinds = [e.kind for e in wf.state.events]
        assert ("back" in kinds) == (lands is not where)
        # Journaled: a restarted bench finds the step it went back to.
        assert Step(wf.journal.load()["step"]) is lands
        if where is Step.INTAKE:
            assert wf.state.operator == ""
            await pilot.press("enter")  # the operator logs in again
            await pilot.pause(0.5)
            assert wf.step is Step.INTAKE and wf.state.operator
        if where is Step.VERDICT:
            # The last guided check is asked again; the others keep their answers.
            assert [c.status for c in wf.state.guided][-1] == "not_done"
            assert all(c.status == "pass" for c in wf.state.guided[:-1])
            assert wf.state.verdict is None
            assert app.screen.current == wf.state.guided[-1].id  # type: ignore[attr-defined]
        if where is Step.WIPE_PLAN:
            assert wf.state.verdict is not None and wf.state.wipe_state == ""
            assert wf.state.destination == "" and wf.state.wipe_plans == []
            assert app.screen.focused is not None
            assert app.screen.focused.id == "act-accept"  # never a reject


def test_no_way_back_out_of_or_into_a_destructive_step(agent_home: Path) -> None:
    from bench_agent.workflow.machine import StepError

    app = app_at(Step.WIPE_PLAN)
    wf = app.wf
    wf.confirm_wipe()  # recorded machine: no disk to wipe, straight to the image step
    assert wf.step is Step.IMAGE and not wf.can_go_back()
    with pytest.raises(StepError):
        wf.back()
    # A plan whose wipe ran (here: marked running, then interrupted) has no way back either.
    app = app_at(Step.WIPE_PLAN, agent_home / "other-bench")
    wf = app.wf
    wf.state.wipe_state = "running"
    assert not wf.can_go_back()
    wf.state.wipe_state = "planned"
    wf.state.pending_interruption = "wipe"
    assert not wf.can_go_back()
