"""The safety model in real hands: nothing destructive from one key held, repeated or bounced.

A held switch or key is what a terminal sends for it: a stream of repeats (45 at 33 ms here)
and no release. From every screen that leads to a destructive or irreversible action (the
verdict's re-inventory and reject, the wipe plan, a running wipe), in every scan mode with the
shipped operator profiles' bounce times, such a stream must never arm or confirm anything. A
stray Enter never stops a wipe; a stop confirmed with two inputs is recorded in the record's
``interruptions``; Esc goes back where the screen says so and never stops a wipe.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from bench_agent.config import load_settings
from bench_agent.tui.operators import OperatorProfile, load_operator
from bench_agent.workflow.state import Step
from tests.test_workflow_support import EVIDENCE
from tests.tui_driver import wait_for

SIZE = (80, 25)
REPEATS, REPEAT_S = 45, 0.033

# (profile, select key, move key or "" when the scan moves by itself)
MODES = [
    ("default", "enter", "right"),
    ("four-keys", "enter", "right"),
    ("two-switch", "enter", "space"),
    ("one-switch", "enter", ""),
]
HELD = [
    pytest.param(profile, key, id=f"{profile}-{key}")
    for profile, select, move in MODES
    for key in (select, move)
    if key
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def prepared_app(disks: list[str], operator: OperatorProfile, where: str, **options: Any) -> Any:
    """The bench app with the recorded Pentium 4 brought to ``where`` by the workflow itself:
    "verdict" (remediate: re-inventory and reject offered), "plan" (the wipe plan) or
    "wiping" (the wipe confirmed: the screen starts it). ``options`` go to the app."""
    from bench_agent.tui.app import BenchApp

    app = BenchApp(
        load_settings(station="bench-safety"),
        profile="pentium4",
        operator=operator,
        evidence=EVIDENCE,
        disks=disks,
        poll_ledger=False,
        **options,
    )
    wf = app.wf
    wf.login(operator.label)
    wf.intake("HELD-1", "")
    wf.take_inventory()
    wf.run_auto_checks(quick=True)
    for check in wf.state.guided:
        wf.record_guided(check.id, "pass")
    wf.finish_guided()
    assert wf.state.verdict is not None and wf.state.verdict.outcome == "remediate"
    if where in ("plan", "wiping"):
        wf.accept_verdict()
        assert wf.state.wipe_state == "planned"
    if where == "wiping":
        wf.confirm_wipe()
    return app


CHARS = {"enter": "\r", "space": " "}


async def hold(pilot: Any, key: str) -> None:
    """A held key: REPEATS presses REPEAT_S apart, with no release, sent the way the terminal
    driver sends them (without waiting for the app, unlike ``pilot.press``); asserts that they
    came close enough together to be one held key."""
    from textual import events

    app = pilot.app
    loop = asyncio.get_running_loop()
    started = loop.time()
    for index in range(REPEATS):
        event = events.Key(key, CHARS.get(key))
        event.set_sender(app)
        app._driver.send_message(event)
        # On the repeat clock (no drift when the machine is busy).
        await asyncio.sleep(max(0.0, started + (index + 1) * REPEAT_S - loop.time()))
    gap = (loop.time() - started) / REPEATS
    assert gap < 0.12, f"the repeats were {gap * 1000:.0f} ms apart, not a held key"
    await pilot.pause()


def assert_nothing_destructive(app: Any) -> None:
    state = app.wf.state
    assert state.remediation_rounds == 0, "re-inventory done by a held key"
    assert state.verdict is not None and state.verdict.outcome == "remediate", "rejected"
    assert state.destination in ("", "reuse")
    assert state.wipe_state in ("", "planned"), f"wipe {state.wipe_state}"
    assert state.wipes == [] and state.certificates == []
    assert state.interruptions == []


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize(("profile", "key"), HELD)
@pytest.mark.parametrize("where", ["verdict", "plan"])
async def test_a_held_key_never_arms_or_confirms_anything_destructive(
    make_loop: Any, profile: str, key: str, where: str
) -> None:
    operator = load_operator(profile)
    disks = [str(make_loop(32 << 20))]
    app = prepared_app(disks, operator, where)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        await hold(pilot, key)
        # The scan keeps moving after the release (auto-scan): still nothing may happen.
        await pilot.pause(
            max(0.5, 2.2 * operator.scan_rate_ms / 1000 * (operator.scan_mode == "auto-scan"))
        )
        assert_nothing_destructive(app)


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize(("profile", "key"), HELD)
async def test_a_held_key_never_stops_a_running_wipe(
    paced_loop: Any, profile: str, key: str
) -> None:
    operator = load_operator(profile)
    disks = [str(paced_loop(4 << 30))]  # sparse: long enough to outlast the held key
    app = prepared_app(disks, operator, "wiping")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.busy == "wipe")
        await pilot.pause(0.3)
        await hold(pilot, key)
        await pilot.pause(0.5)
        assert app.busy == "wipe", "the wipe ended before the held key: make the disk bigger"
        assert not app.wf.cancel_event.is_set(), "a held key stopped the wipe"
        app.wf.cancel_event.set()  # end the test quickly (the confirmed stop is tested below)
        await wait_for(pilot, lambda: not app.busy)


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize(("profile", "key"), HELD)
async def test_a_held_key_never_starts_a_stopped_wipe_again(
    paced_loop: Any, profile: str, key: str
) -> None:
    """After a stop, "Start again…" (Recommencer) is the screen's only and focused button."""
    from bench_agent.tui.screens import WorkScreen

    operator = load_operator(profile)
    app = prepared_app([str(paced_loop(4 << 30))], operator, "wiping")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.busy == "wipe")
        app.wf.cancel_event.set()
        await wait_for(pilot, lambda: not app.busy and app.wf.state.wipe_state == "aborted")
        await pilot.pause(0.5)
        assert isinstance(app.screen, WorkScreen) and app.screen.query("#act-again")
        await hold(pilot, key)
        await pilot.pause(0.5)
        if operator.scan_mode == "auto-scan":
            await pilot.pause(2.2 * operator.scan_rate_ms / 1000)
        assert app.busy == "" and app.wf.state.wipe_state == "aborted", "started again"
        assert [w.status for w in app.wf.state.wipes] == ["aborted"]


@pytest.mark.device
@pytest.mark.anyio
@pytest.mark.parametrize("profile", ["default", "two-switch", "one-switch"])
async def test_a_stray_enter_never_stops_a_wipe_and_a_confirmed_stop_is_recorded(
    paced_loop: Any, profile: str
) -> None:
    from bench_agent.tui.screens import ConfirmDestructive, WorkScreen

    operator = load_operator(profile)
    if operator.scan_mode == "auto-scan":  # a brisker scan: the stop lands before the end
        operator = operator.model_copy(update={"scan_rate_ms": 1200})
    disks = [str(paced_loop(8 << 30))]  # sparse: the stop lands long before the end
    app = prepared_app(disks, operator, "wiping")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.busy == "wipe")
        await pilot.pause(0.4)
        # On "Stop" (one switch: the scan also passes "call the supervisor").
        await wait_for(pilot, lambda: getattr(app.screen.focused, "id", "") == "act-stop")
        await pilot.press("enter")  # a stray Enter
        await pilot.pause(0.5)
        assert isinstance(app.screen, ConfirmDestructive)  # it only asks
        text = str(app.screen.query_one("#confirm-how").render())
        await pilot.press("enter")  # and a second one still stops nothing
        await pilot.pause(0.5)
        assert not app.wf.cancel_event.is_set() and app.busy == "wipe"
        if operator.scan_mode == "auto-scan":
            # One switch: the highlight starts on "Cancel", so that second press went back
            # (or, on a busy machine, came too soon after the first and did nothing).
            if isinstance(app.screen, WorkScreen):  # back on the work screen: ask again,
                # on "Stop" (the scan goes on to "call the supervisor" after it)
                await pilot.pause(0.4)
                await wait_for(pilot, lambda: getattr(app.screen.focused, "id", "") == "act-stop")
                await pilot.press("enter")
                await pilot.pause(0.2)
            assert isinstance(app.screen, ConfirmDestructive) and not app.screen.armed
            # One switch: the scan must move to "Arm", then on to "Confirm".
            assert app.key_for("bench.select") in text and app.key_for("bench.next") not in text
            await wait_for(pilot, lambda: app.screen.target == "arm", timeout=8)
            await pilot.press("enter")
            assert app.screen.armed and app.screen.target == "cancel"
            await wait_for(pilot, lambda: app.screen.target == "confirm", timeout=8)
            await pilot.pause(0.5)  # the silence a confirmation press needs
            await pilot.press("enter")
        else:
            move = "space" if operator.scan_mode == "two-switch" else "right"
            assert app.key_for("bench.next") in text and app.key_for("bench.select") in text
            await pilot.press(move)
            await pilot.pause(0.5)
            await pilot.press("enter")
        await wait_for(pilot, lambda: not app.busy)
        await pilot.pause(0.2)
        assert isinstance(app.screen, WorkScreen)
        state = app.wf.state
        assert state.wipe_state == "aborted" and [w.status for w in state.wipes] == ["aborted"]
        assert [(i.step, i.note) for i in state.interruptions] == [
            ("wipe", "stopped by the operator")
        ]
        assert app.wf.build_record().interruptions == state.interruptions


@pytest.mark.device
@pytest.mark.anyio
async def test_escape_never_stops_a_wipe_and_the_key_line_offers_back_only_where_it_works(
    paced_loop: Any,
) -> None:
    from bench_agent.tui.screens import WorkScreen

    english = OperatorProfile(name="en", language="en")
    app = prepared_app([str(paced_loop(4 << 30))], english, "wiping")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.busy == "wipe")
        assert isinstance(app.screen, WorkScreen)
        assert "back" not in str(app.screen.query_one("#keys").render())
        for _ in range(3):
            await pilot.press("escape")
            await pilot.pause(0.1)
        assert app.busy == "wipe" and not app.wf.cancel_event.is_set()
        app.wf.cancel_event.set()
        await wait_for(pilot, lambda: not app.busy)


@pytest.mark.anyio
async def test_a_stop_confirmed_before_the_wipe_starts_writing_is_honoured(
    agent_home: Path,
) -> None:
    """Between the step turning busy (its "Stop" offered) and the wipe's first byte, the
    worker may still be planning the disks again (after a restart): a stop confirmed then
    stops the wipe, it is not forgotten as the wipe starts."""
    from bench_agent.tui.training import simulated_engines

    engines = simulated_engines()
    english = OperatorProfile(name="en", language="en")
    app = prepared_app(["/dev/training-a"], english, "wiping", engines=engines)
    planned, plan_again = threading.Event(), engines.plan_wipes

    def slow_plan(*args: Any, **kwargs: Any) -> Any:
        planned.wait(10)
        return plan_again(*args, **kwargs)

    engines.plan_wipes = slow_plan
    # A journal from before plans were journaled: the wipe step plans the disks again.
    app.wf.state.wipe_plans, app.wf.state.wipe_replan = [], True
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.busy == "wipe")
        app.screen.ask_stop()
        await pilot.press("right", "enter")  # arm, confirm: while the disks are planned
        assert app.wf.cancel_event.is_set()
        planned.set()
        await wait_for(pilot, lambda: not app.busy)
        state = app.wf.state
        assert state.wipe_state == "aborted" and [w.status for w in state.wipes] == ["aborted"]
        assert [(i.step, i.note) for i in state.interruptions] == [
            ("wipe", "stopped by the operator")
        ]


@pytest.mark.anyio
async def test_escape_on_a_guided_check_goes_back_to_the_previous_one(agent_home: Path) -> None:
    from bench_agent.tui.app import BenchApp

    app = BenchApp(
        load_settings(station="bench-safety"),
        profile="pentium4",
        operator=OperatorProfile(name="en", language="en"),
        evidence=EVIDENCE,
        disks=[],
        poll_ledger=False,
    )
    wf = app.wf
    wf.login("en")
    wf.intake("ESC-1", "")
    wf.take_inventory()
    wf.run_auto_checks(quick=True)
    first = wf.state.guided[0].id
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert "back" not in str(app.screen.query_one("#keys").render())  # nothing to go back to
        await pilot.press("right", "enter")  # "yes, it works"
        await pilot.pause(0.3)
        statuses = [g.status for g in app.wf.state.guided]
        assert statuses[0] == "pass"
        assert "Esc: back" in str(app.screen.query_one("#keys").render())
        await pilot.press("escape")
        await pilot.pause(0.3)
        statuses = [g.status for g in app.wf.state.guided]
        assert statuses[0] == "not_done" and app.wf.step is Step.GUIDED
        assert getattr(app.screen, "current", "") == first


@pytest.mark.device
@pytest.mark.anyio
@pytest.mark.parametrize("action", ["redo", "parts"])
async def test_reinventory_and_reject_need_two_inputs_and_are_never_prefocused(
    make_loop: Any, action: str
) -> None:
    from bench_agent.tui.screens import ConfirmDestructive

    english = OperatorProfile(name="en", language="en")
    app = prepared_app([str(make_loop(32 << 20))], english, "verdict")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert app.screen.focused is not None and app.screen.focused.id == "act-accept"
        while app.screen.focused.id != f"act-{action}":
            await pilot.press("right")
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmDestructive)
        await pilot.press("enter", "enter")  # one key, however often: nothing
        await pilot.pause(0.2)
        assert_nothing_destructive(app)
        await pilot.press("right", "enter")  # arm, confirm
        await wait_for(
            pilot, lambda: not app.busy and not isinstance(app.screen, ConfirmDestructive)
        )
        await pilot.pause(0.3)
        if action == "redo":
            assert app.wf.state.remediation_rounds == 1
        else:
            assert app.wf.state.verdict is not None
            assert app.wf.state.verdict.outcome == "rejected"
            assert app.wf.state.destination == "parts"
