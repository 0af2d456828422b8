"""Training mode (throwaway loop disks, TRAINING everywhere, nothing sent), auto-scan, cues."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bench_agent.config import load_settings
from bench_agent.tui.operators import OperatorProfile
from bench_agent.workflow.state import Step
from tests.conftest import require_root
from tests.test_tui_pilot import SIZE, focused_id, keys, settle
from tests.test_workflow_support import EVIDENCE, images, test_master  # noqa: F401 - fixtures


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def header(app: Any) -> str:
    return str(app.screen.query_one("#header").render())


@pytest.mark.anyio
@pytest.mark.device
@pytest.mark.slow
async def test_training_runs_on_throwaway_disks_and_sends_nothing(
    images: Path,  # noqa: F811 - fixture
    agent_home: Path,
) -> None:
    from bench_agent.tui.app import BenchApp
    from bench_agent.tui.training import training_session

    require_root()
    settings = load_settings(station="bench-1")
    english = OperatorProfile(name="trainee", language="en")
    with training_session(settings, EVIDENCE) as session:
        assert not session.simulated and len(session.disks) == 2
        app = BenchApp(
            settings,
            engines=session.engines,
            operator=english,
            profile="pentium4",
            training=True,
            evidence=session.evidence,
            disks=session.disks,
            journal_dir=settings.journal_dir / "training",
        )
        seen: list[str] = []
        async with app.run_test(size=SIZE) as pilot:

            async def step(*names: str) -> None:
                await keys(pilot, *names)
                seen.append(header(app))

            await settle(pilot)
            seen.append(header(app))
            await step("enter")  # operator
            await step("enter")  # new tag
            await step("enter")  # automatic checks
            for _ in range(5):
                await step("right", "enter")
            await step("enter")  # verdict
            await step("enter")  # keep, remediate later (the pre-focused choice)
            await step("enter", "right", "enter")  # erase (two keys)
            await settle(pilot)
            seen.append(header(app))
            state = app.wf.state
            assert app.wf.step is Step.DONE
            assert state.training and state.record_state == "local"
            assert [w.device for w in state.wipes] == session.disks
            assert all(w.status == "erased" for w in state.wipes)
        disks = list(session.disks)
    assert all("▲ TRAINING ▲" in t or "▲ FORMATION ▲" in t for t in seen), seen
    assert not settings.outbox_path.exists()  # nothing queued for the ledger
    assert not (settings.journal_dir / "machine").exists()  # the real bench's journal untouched
    attached = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert not any(f"{d}:" in attached and "training-disk" in attached for d in disks)


@pytest.mark.anyio
async def test_auto_scan_moves_by_itself_and_one_switch_chooses(agent_home: Path) -> None:
    from bench_agent.tui.app import BenchApp

    scanner = OperatorProfile(
        name="scanner", language="en", scan_mode="auto-scan", scan_rate_ms=300, scan_keys=["enter"]
    )
    app = BenchApp(load_settings(station="bench-1"), operator=scanner, poll_ledger=False)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = focused_id(pilot)
        for _ in range(60):
            await pilot.pause(0.1)
            # On a profile (the scan also passes "Call the supervisor", the last target).
            if focused_id(pilot) != first and (focused_id(pilot) or "").startswith("act-op-"):
                break
        assert focused_id(pilot) != first  # the highlight moved with no key pressed
        await pilot.press("enter")
        await settle(pilot)
        assert app.wf.step is Step.INTAKE
        assert bells  # a cue when the step ended


@pytest.mark.anyio
async def test_mouse_test_counts_clicks_on_every_target(agent_home: Path) -> None:
    from bench_agent.tui.app import BenchApp
    from bench_agent.tui.screens import MouseTestScreen

    app = BenchApp(
        load_settings(station="bench-1"),
        operator=OperatorProfile(name="m", language="en"),
        poll_ledger=False,
    )
    results: list[str | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = MouseTestScreen([], "")  # the terminal's clicks only
        await app.push_screen(screen, results.append)
        await pilot.pause()
        assert screen.test is not None
        targets = screen.test.targets()
        for x, y in targets[:-1]:
            await pilot.click(offset=(x + 1, y))
            await pilot.click(offset=(x + 1, y))  # a second click on a hit target counts once
        assert len(screen.test.hit) == len(targets) - 1 and not results
        await pilot.click(offset=(60, 2))  # a miss
        assert len(screen.test.hit) == len(targets) - 1
        x, y = targets[-1]
        await pilot.click(offset=(x + 2, y + 1), button=3)  # the right button, on the target
        await pilot.click(offset=(60, 2), button=2)
        await pilot.pause()
        assert screen.test.buttons == {"left", "right", "middle"} and not results  # no wheel
        await pilot.press("enter")  # the operator ends it
        await pilot.pause()
    assert results and "5 of 5 targets reached." in (results[0] or "")


def test_closing_the_terminal_while_the_training_disks_are_removed_does_not_hang(
    tmp_path: Path,
) -> None:
    """The terminal closed (SIGHUP) just as the session ends and removes its disks: the
    removal finishes and the process ends; it does not wait forever on itself."""
    script = textwrap.dedent(
        """
        import os, signal
        from bench_agent.tui import training

        def detach(device):  # the terminal is closed while the first disk is detached
            if device == "/dev/loop-a":
                os.kill(os.getpid(), signal.SIGHUP)
            print("detached", device, flush=True)

        training.detach_loop = detach
        throwaway = training._Throwaway()
        throwaway.devices = ["/dev/loop-a", "/dev/loop-b"]
        with training._removed_on_exit(throwaway):
            pass
        """
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ, "TMPDIR": str(scratch)},
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the session hung removing its disks after SIGHUP")
    assert "detached /dev/loop-a" in done.stdout and "detached /dev/loop-b" in done.stdout
    assert list(scratch.iterdir()) == [], done.stdout + done.stderr
