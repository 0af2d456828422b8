"""What every screen of the bench looks like, in French and English and in the light theme.

Deterministic data: the recorded Pentium 4 bundle, real grading with the pentium4 profile, a
fixed station, asset tag, record id and clock; no worker runs (autostart off), progress comes
from fixed engine events. Cursor blink and animations are off in Textual's test driver.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench_agent.config import load_settings
from bench_agent.errors import BenchError
from bench_agent.inventory import collect_inventory
from bench_agent.inventory.profiles import grade_inventory, load_profile
from bench_agent.models.image import ImageReport
from bench_agent.models.record import GuidedCheck
from bench_agent.models.wipe import WipePlan, WipeReport
from bench_agent.progress import ProgressEvent
from bench_agent.tui.operators import OperatorProfile
from bench_agent.workflow.journal import Journal
from bench_agent.workflow.state import MachineState, SkippedDevice, Step
from tests.conftest import FIXTURES

EVIDENCE = FIXTURES / "evidence" / "pentium4-desktop"


@pytest.fixture(autouse=True)
def no_animations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")


FIXED = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SIZE = (120, 40)

VARIANTS = {
    "fr-dark": ("fr", "bench-contrast-dark"),
    "en-dark": ("en", "bench-contrast-dark"),
    "fr-light": ("fr", "bench-contrast-light"),
}


def base_state(step: Step) -> MachineState:
    inventory = collect_inventory(evidence_dir=EVIDENCE)
    inventory = inventory.model_copy(update={"collected_at": FIXED})
    guided = [
        GuidedCheck(id=c, status="pass", at=FIXED)
        for c in ("sound", "optical", "keyboard", "screen", "mouse")
    ]
    verdict = grade_inventory(inventory, load_profile("pentium4"), guided=guided)
    return MachineState(
        machine_id="00000000-0000-4000-8000-000000000001",
        step=step,
        station="bench-1",
        operator="Marie",
        asset_tag="BSN-2026-0042",
        lot="LOT-2026-014",
        profile="pentium4",
        evidence_dir=str(EVIDENCE),
        started_at=FIXED,
        inventory=inventory,
        guided=guided,
        verdict=verdict,
        destination="reuse",
    )


def targets() -> list[WipePlan]:
    return [
        WipePlan(device="/dev/sda", kname="sda", size_bytes=82347195904, model="HDS722580VLAT20",
                 method="zero", level="clear", verify="sample"),
        WipePlan(device="/dev/sdb", kname="sdb", size_bytes=80025280000, model="ST380011A",
                 method="zero", level="clear", verify="sample"),
    ]  # fmt: skip


def state_for(screen: str) -> MachineState:
    if screen == "operator":
        return MachineState(machine_id="00000000-0000-4000-8000-000000000001", station="bench-1")
    if screen == "intake":
        return MachineState(
            machine_id="00000000-0000-4000-8000-000000000001",
            station="bench-1",
            operator="Marie",
            step=Step.INTAKE,
        )
    if screen in ("inventory", "training"):
        state = base_state(Step.AUTO_CHECKS)
        state.guided, state.verdict = [], None
        state.training = screen == "training"
        return state
    if screen == "guided":
        state = base_state(Step.GUIDED)
        state.guided = [
            GuidedCheck(id="sound", status="pass", at=FIXED),
            GuidedCheck(id="optical", status="not_done"),
            GuidedCheck(id="keyboard", status="not_done"),
            GuidedCheck(id="screen", status="not_done"),
            GuidedCheck(id="mouse", status="not_done"),
        ]
        state.verdict = None
        return state
    if screen == "verdict":
        return base_state(Step.VERDICT)
    if screen in ("wipe_plan", "confirm"):
        state = base_state(Step.WIPE_PLAN)
        state.wipe_plans = targets()
        state.wipe_skipped = [SkippedDevice(device="/dev/sdc", reason="the system's own disk")]
        state.wipe_state = "planned"
        return state
    if screen == "wipe":
        state = base_state(Step.WIPE)
        state.wipe_plans, state.wipe_state = targets(), "confirmed"
        return state
    if screen == "interrupted":
        state = base_state(Step.WIPE)
        state.wipe_plans, state.wipe_state = targets(), "running"
        return state
    if screen == "image":
        state = base_state(Step.IMAGE)
        state.wipe_plans, state.wipe_state = targets(), "done"
        state.image_target, state.image_choice, state.image_state = (
            "/dev/sda",
            "test-master-i686",
            "confirmed",
        )
        return state
    if screen == "done":
        state = base_state(Step.DONE)
        state.wipes = [
            WipeReport(device=t.device, model=t.model, method="zero", level="clear",
                       status="erased", verification="sample", verification_result="passed")
            for t in targets()
        ]  # fmt: skip
        state.image = ImageReport(
            device="/dev/sda", image="test-master-i686", version="1", status="success"
        )
        state.record_state = "queued"
        return state
    raise AssertionError(screen)


def progress_events(screen: str) -> list[ProgressEvent]:
    if screen == "wipe":
        return [
            ProgressEvent("sda", "write", 41_000_000_000, 82_347_195_904, 61_000_000.0, 677.0),
            ProgressEvent("sdb", "verify", 8_002_528_000, 80_025_280_000, 95_000_000.0, 758.0),
        ]
    if screen == "image":
        return [ProgressEvent("sda", "write", 120_000_000, 335_544_320, 80_000_000.0, 2.7)]
    return []


def make_app(agent_home: Path, screen: str, language: str, theme: str) -> Any:
    from bench_agent.tui.app import BenchApp

    settings = load_settings(station="bench-1")
    Journal(settings.journal_dir / "machine").save(state_for(screen).model_dump(mode="json"))
    operator = OperatorProfile(name="marie", display_name="Marie", language=language, theme=theme)
    return BenchApp(
        settings,
        operator=operator,
        autostart=False,
        poll_ledger=False,
        clock=lambda: FIXED,
    )


SCREENS = ["operator", "intake", "inventory", "guided", "verdict", "wipe_plan", "confirm",
           "wipe", "interrupted", "image", "done", "error", "fill", "keyboard", "mouse",
           "training"]  # fmt: skip
MODAL_ON = {"error": "operator", "fill": "guided", "keyboard": "guided", "mouse": "guided"}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("screen", SCREENS)
def test_screen(
    snap_compare: Callable[..., bool], agent_home: Path, screen: str, variant: str
) -> None:
    language, theme = VARIANTS[variant]
    app = make_app(agent_home, MODAL_ON.get(screen, screen), language, theme)

    async def before(pilot: Any) -> None:
        await pilot.pause()
        if screen == "confirm":
            await pilot.press("enter")
        for event in progress_events(screen):
            pilot.app.screen.show_progress(event)
        if screen in ("fill", "keyboard", "mouse"):
            from bench_agent.tui.guided_tests import KeyboardTestScreen, MouseTestScreen
            from bench_agent.tui.screens import ColourFill

            modal = {"fill": ColourFill, "keyboard": KeyboardTestScreen, "mouse": MouseTestScreen}
            await pilot.app.push_screen(modal[screen]())
            await pilot.pause()
            if screen == "fill":
                await pilot.press("right", "right")  # third colour
            if screen == "keyboard":
                await pilot.press("a", "z", "space", "f5")
        if screen == "error":
            from bench_agent.tui.screens import ErrorModal

            await pilot.app.push_screen(
                ErrorModal(
                    BenchError("Cannot open /dev/sdb: device busy.", "Unplug the USB stick.")
                )
            )
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


@pytest.mark.parametrize("screen", ["guided", "verdict", "confirm"])
def test_small_terminal_keeps_every_answer_on_screen(
    snap_compare: Callable[..., bool], agent_home: Path, screen: str
) -> None:
    # 80x25: a Pentium 4's text console. Every answer of the step is on screen, whole.
    app = make_app(
        agent_home, "wipe_plan" if screen == "confirm" else screen, "fr", "bench-contrast-dark"
    )

    async def before(pilot: Any) -> None:
        await pilot.pause()
        if screen == "confirm":
            await pilot.press("enter")
            await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 25), run_before=before)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
