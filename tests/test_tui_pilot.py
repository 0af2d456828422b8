"""The bench app driven by keys (Textual Pilot) through whole machine cycles on real engines.

Each cycle: the recorded Pentium 4 replayed, its two disks played by loop devices that are
really wiped and imaged with the test master, the signed record delivered to a real local
ledger. The same cycle with the default keys, with only four keys, and with two keys in scan
mode; plus the key-bounce filter and the restart in the middle of a wipe.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench_agent.adapters.demo import LocalLedger
from bench_agent.config import load_settings
from bench_agent.tui.operators import SAMPLE_DIR, OperatorProfile, load_operator
from bench_agent.workflow.state import Step
from tests.test_workflow_support import (
    EVIDENCE,
    bench_disks,  # noqa: F401 - fixture
    images,  # noqa: F401 - fixture
    journal_state,
    ledger,  # noqa: F401 - fixture
    ledger_server,  # noqa: F401 - fixture
    start_run_and_kill_mid_wipe,
    sync_and_fetch,
    test_master,  # noqa: F401 - fixture
)
from tests.tui_driver import settle

SIZE = (120, 40)
CONSOLE = (80, 25)  # the text console of many donated PCs: the switch users' runs use it


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def bench_app(
    disks: list[str], operator: OperatorProfile | None = None, *, poll_ledger: bool = False
) -> Any:
    from bench_agent.tui.app import BenchApp

    return BenchApp(
        load_settings(),  # the station enrolled by the ledger fixture, when there is one
        profile="pentium4",
        operator=operator,
        evidence=EVIDENCE,
        disks=disks,
        poll_ledger=poll_ledger,
    )


async def keys(pilot: Any, *names: str, gap: float = 0.0) -> None:
    """Press keys one by one, waiting for the bench after each."""
    for name in names:
        await pilot.press(name)
        if gap:
            await pilot.pause(gap)
        await settle(pilot)


def focused_id(pilot: Any) -> str:
    focused = pilot.app.screen.focused
    return str(getattr(focused, "id", "") or "")


async def finish_and_check(pilot: Any, server: LocalLedger, disks: list[str]) -> dict[str, Any]:
    app = pilot.app
    await settle(pilot)
    assert app.wf.step is Step.DONE, app.wf.step
    state = app.wf.state
    assert [w.status for w in state.wipes] == ["erased", "erased"]
    assert [w.device for w in state.wipes] == disks
    assert state.image is not None and state.image.status == "success"
    assert state.record_state == "queued"
    stored = sync_and_fetch(server, state.machine_id)
    assert stored["record_id"] == state.machine_id
    record: dict[str, Any] = json.loads(Path(state.record_path).read_text())
    assert len(record["certificates"]) == 2
    return record


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.anyio
async def test_full_cycle_with_the_default_keys(
    bench_disks: list[str],  # noqa: F811 - fixture
    ledger: LocalLedger,  # noqa: F811 - fixture
) -> None:
    app = bench_app(bench_disks, poll_ledger=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert focused_id(pilot) == "act-op-default"
        await keys(pilot, "enter")  # the workshop's default profile: French
        assert app.wf.step is Step.INTAKE and app.operator.language == "fr"
        # The barcode reader types the tag into the focused field and ends with Enter.
        await keys(pilot, "p", "4", "minus", "4", "2", "enter")
        assert app.wf.state.asset_tag == "p4-42"
        assert app.wf.step is Step.AUTO_CHECKS  # inventory taken by itself
        await keys(pilot, "enter")  # automatic checks
        assert app.wf.step is Step.GUIDED
        for _ in range(5):  # focus is on "try"; → wraps round to "yes, it works"
            await keys(pilot, "right", "enter")
        assert {g.status for g in app.wf.state.guided} == {"pass"}
        await keys(pilot, "enter")  # verdict
        assert app.wf.state.verdict is not None and app.wf.state.verdict.outcome == "remediate"
        # The "done, re-inventory" loop: the disk was swapped, inventory again. It resets the
        # checks, so it is never the pre-focused button and asks for two keys.
        assert focused_id(pilot) == "act-accept"
        await keys(pilot, "left", "left")  # (the main action sits on the right)
        assert focused_id(pilot) == "act-redo"
        await keys(pilot, "enter", "enter")  # one key alone does nothing
        assert app.wf.state.remediation_rounds == 0
        await keys(pilot, "right", "enter")
        assert app.wf.state.remediation_rounds == 1 and app.wf.step is Step.AUTO_CHECKS
        await keys(pilot, "enter")
        for _ in range(5):
            await keys(pilot, "right", "enter")
        await keys(pilot, "enter")
        assert focused_id(pilot) == "act-accept"  # "keep, remediate later"
        await keys(pilot, "enter")
        assert app.wf.step is Step.WIPE_PLAN
        assert [p.device for p in app.wf.state.wipe_plans] == bench_disks
        await keys(pilot, "enter")  # opens the two-key confirmation
        await keys(pilot, "enter")  # one key alone never erases
        assert app.wf.step is Step.WIPE_PLAN and app.wf.state.wipe_state == "planned"
        await keys(pilot, "right", "enter")  # arm, then confirm
        record = await finish_and_check(pilot, ledger, bench_disks)
        assert record["remediation_rounds"] == 1
        for _ in range(50):  # the header follows the ledger (polled in a worker)
            if "Registre en ligne" in str(app.screen.query_one("#header").render()):
                break
            await pilot.pause(0.1)
        assert "● Registre en ligne" in str(app.screen.query_one("#header").render())
        # The supervisors' board saw this bench's steps (heartbeats, best effort, in threads).
        station = app.wf.state.station
        for _ in range(50):
            rows = {r["name"]: r for r in ledger.api("GET", "/api/v1/stations")}
            beat = rows[station]["heartbeat"]
            if beat and beat.get("step") == "done":
                break
            await pilot.pause(0.1)
        assert beat is not None and beat["step"] == "done" and beat["asset_tag"] == "p4-42"
        assert record["guided_checks"][0]["status"] == "pass"
        await keys(pilot, "enter")  # next machine
        assert app.wf.step is Step.INTAKE and app.wf.state.operator == "Poste atelier"


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.anyio
async def test_full_cycle_with_four_keys(
    bench_disks: list[str],  # noqa: F811 - fixture
    ledger: LocalLedger,  # noqa: F811 - fixture
) -> None:
    # four-keys: ← → Enter Esc (or the numpad), left-handed order, 250 ms bounce filter.
    four = load_operator("four-keys")
    app = bench_app(bench_disks, operator=four)
    gap = four.bounce_ms / 1000 + 0.05
    pressed: set[str] = set()

    async def press(*names: str) -> None:
        pressed.update(names)
        await keys(pilot, *names, gap=gap)

    async with app.run_test(size=CONSOLE) as pilot:
        await settle(pilot)
        await press("enter")  # the station starts with this operator's profile chosen
        assert app.wf.step is Step.INTAKE
        await press("enter")  # no tag: Enter alone makes a new one
        assert re.fullmatch(r"BENCH\d+-\d{6}-001", app.wf.state.asset_tag)
        await press("enter")  # automatic checks
        for _ in range(5):  # left-handed: "try" first, → "yes, it works"
            await press("right", "enter")
        await press("enter")  # verdict
        await press("enter")  # "keep, remediate later"
        assert app.wf.step is Step.WIPE_PLAN
        await press("enter", "escape")  # open the confirmation and cancel it
        assert app.wf.step is Step.WIPE_PLAN
        await press("left", "right")  # wander and come back
        await press("enter", "right", "enter")
        await finish_and_check(pilot, ledger, bench_disks)
    assert pressed <= {"left", "right", "enter", "escape"}


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.anyio
async def test_full_cycle_with_two_switches_in_scan_mode(
    bench_disks: list[str],  # noqa: F811 - fixture
    ledger: LocalLedger,  # noqa: F811 - fixture
) -> None:
    two = load_operator("two-switch")
    app = bench_app(bench_disks, operator=two)
    gap = two.bounce_ms / 1000 + 0.05
    pressed: set[str] = set()

    async def press(*names: str) -> None:
        pressed.update(names)
        await keys(pilot, *names, gap=gap)

    async with app.run_test(size=CONSOLE) as pilot:
        await settle(pilot)
        await press("enter")
        assert app.wf.step is Step.INTAKE
        assert focused_id(pilot) == "act-generate"  # scan mode: the buttons take the focus
        await press("enter")
        await press("enter")  # automatic checks
        for _ in range(5):
            # Past "call the supervisor" (the last target) to "yes, it works", choose.
            await press("space", "space", "enter")
        await press("enter")
        await press("enter")  # "keep, remediate later"
        await press("enter")  # the confirmation
        await press("space", "space")  # armed, then "cancel" highlighted: nothing happens
        assert app.wf.step is Step.WIPE_PLAN
        await press("space", "enter")  # armed again, confirm
        await finish_and_check(pilot, ledger, bench_disks)
    assert pressed == {"space", "enter"}


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.anyio
async def test_full_cycle_with_one_switch_in_auto_scan(
    bench_disks: list[str],  # noqa: F811 - fixture
    ledger: LocalLedger,  # noqa: F811 - fixture
    agent_home: Path,
) -> None:
    from tests.tui_driver import drive_machine

    # The shipped one-switch profile with a brisker scan (the test waits on it), as the
    # station's own profile (it overrides the sample one at login).
    sample = (SAMPLE_DIR / "one-switch.toml").read_text()
    own = agent_home / "operators" / "one-switch.toml"
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text(sample.replace("scan_rate_ms = 1500", "scan_rate_ms = 600"))
    one = load_operator("one-switch")
    assert one.scan_rate_ms == 600 and one.scan_mode == "auto-scan" and one.bounce_ms == 300
    app = bench_app(bench_disks, operator=one)
    async with app.run_test(size=CONSOLE) as pilot:
        await settle(pilot)
        presses = await drive_machine(pilot)
        await finish_and_check(pilot, ledger, bench_disks)
    assert set(presses.keys) == {"enter"}  # one switch, nothing else
    assert len(presses) <= 16 + 2 * presses.recoveries, presses.keys


@pytest.mark.anyio
async def test_bounce_filter_counts_a_repeated_key_once(agent_home: Path) -> None:
    from bench_agent.tui.app import BenchApp

    shaky = OperatorProfile(name="shaky", language="en", bounce_ms=1000)
    app = BenchApp(load_settings(station="bench-1"), operator=shaky, poll_ledger=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        buttons = [b.id for b in app.screen.query("Button")]
        start = buttons.index(focused_id(pilot))
        await pilot.press("right", "right")  # a tremor: the same key twice at once
        await pilot.pause()
        assert focused_id(pilot) == buttons[(start + 1) % len(buttons)]
        await pilot.pause(1.1)  # a deliberate second press, after the window
        await pilot.press("right")
        await pilot.pause()
        assert focused_id(pilot) == buttons[(start + 2) % len(buttons)]
        await pilot.press("left")  # another key is never filtered
        await pilot.pause()
        assert focused_id(pilot) == buttons[(start + 1) % len(buttons)]


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.anyio
async def test_restart_mid_wipe_resumes_at_the_wipe_and_says_so(
    bench_disks: list[str],  # noqa: F811 - fixture
    ledger: LocalLedger,  # noqa: F811 - fixture
    agent_home: Path,
) -> None:
    from textual.widgets import Label

    from bench_agent.tui.screens import WorkScreen

    start_run_and_kill_mid_wipe(agent_home, bench_disks, "--asset", "CRASH-2")
    assert (journal_state(agent_home) or {}).get("wipe_state") == "running"

    english = OperatorProfile(name="en", language="en")
    app = bench_app(bench_disks, operator=english)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, WorkScreen)
        assert app.wf.step is Step.WIPE and app.wf.state.pending_interruption == "wipe"
        notice = str(app.screen.query_one("#resume-notice", Label).render())
        assert "Resumed after a restart" in notice and "CRASH-2" in notice
        assert "interrupted" in str(app.screen.query_one("#title", Label).render())
        await keys(pilot, "enter")  # "re-run from scratch…" opens the confirmation
        await keys(pilot, "enter")  # one key is not enough
        assert app.wf.state.pending_interruption == "wipe"
        await keys(pilot, "right", "enter")
        record = await finish_and_check(pilot, ledger, bench_disks)
    assert record["asset_tag"] == "CRASH-2"
    assert [(i["step"], i["action"]) for i in record["interruptions"]] == [
        ("wipe", "rerun_from_scratch")
    ]


@pytest.mark.anyio
@pytest.mark.device
async def test_a_refused_disk_stops_at_the_plan_and_never_skips_the_wipe(
    make_loop: Any, agent_home: Path
) -> None:
    from textual.widgets import Button

    from bench_agent.tui.screens import ErrorModal

    good = str(make_loop(32 << 20))
    read_only = str(make_loop(32 << 20, read_only=True))
    app = bench_app([good, read_only], operator=OperatorProfile(name="en", language="en"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await keys(pilot, "enter", "enter", "enter")  # operator, new tag, automatic checks
        for _ in range(5):
            await keys(pilot, "right", "enter")
        await keys(pilot, "enter", "enter")  # verdict: keep, remediate later
        assert isinstance(app.screen, ErrorModal)
        assert read_only in str(app.screen.error.message)
        await keys(pilot, "enter")  # close the message
        assert app.wf.step is Step.WIPE_PLAN and app.wf.state.wipe_state == ""
        assert [b.id for b in app.screen.query(Button)] == ["act-replan"]
        await keys(pilot, "enter")  # plan again: refused again, still no way around the wipe
        assert isinstance(app.screen, ErrorModal)
        assert app.wf.state.wipes == []


@pytest.mark.anyio
@pytest.mark.device
async def test_stop_during_the_wipe_aborts_it_and_a_new_run_needs_two_keys(
    paced_loop: Any, agent_home: Path
) -> None:
    from textual.widgets import Button

    from bench_agent.tui.screens import ConfirmDestructive

    big = str(paced_loop(4 << 30))  # sparse: long enough to be stopped half-way
    app = bench_app([big], operator=OperatorProfile(name="en", language="en"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await keys(pilot, "enter", "enter", "enter")
        for _ in range(5):
            await keys(pilot, "right", "enter")
        await keys(pilot, "enter", "enter", "enter")  # keep; open the confirmation
        await pilot.press("right", "enter")  # confirmed: the wipe starts
        for _ in range(200):
            await pilot.pause(0.02)
            if app.busy == "wipe":
                break
        assert focused_id(pilot) == "act-stop"
        await pilot.press("enter")  # Stop: asks for the two keys
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmDestructive) and app.busy == "wipe"
        await pilot.press("right", "enter")
        await settle(pilot)
        assert app.wf.step is Step.WIPE and app.wf.state.wipe_state == "aborted"
        assert [i.note for i in app.wf.state.interruptions] == ["stopped by the operator"]
        assert [w.status for w in app.wf.state.wipes] == ["aborted"]
        assert app.wf.state.certificates == []
        assert [b.id for b in app.screen.query(Button)] == ["act-again"]
        await keys(pilot, "enter")
        assert isinstance(app.screen, ConfirmDestructive)  # a new run is confirmed again
        await keys(pilot, "escape")
        assert app.wf.state.wipe_state == "aborted"
