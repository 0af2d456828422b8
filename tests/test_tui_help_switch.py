"""Switch users call the supervisor with their own two inputs, from every screen.

Two switches and one switch (auto-scan) have no help key: "Call the supervisor" is the last
target of the scan on every step screen, the help dialog confirms it with
a second press, and a held switch (45 repeats at 33 ms) never makes that second press.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from bench_agent.config import load_settings
from bench_agent.tui.operators import load_operator
from tests.test_tui_safety import hold
from tests.tui_driver import wait_for

SIZE = (80, 25)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def unreachable_ledger(agent_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("BENCH_AGENT_LEDGER_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("BENCH_AGENT_TOKEN", "station-token")


def bench(profile: str) -> Any:
    from bench_agent.tui.app import BenchApp

    app = BenchApp(load_settings(), operator=load_operator(profile), poll_ledger=False)
    app.cue = lambda *, attention=False: None  # type: ignore[method-assign]
    return app


@pytest.mark.anyio
@pytest.mark.parametrize("profile", ["two-switch", "one-switch"])
async def test_a_switch_user_calls_the_supervisor_with_two_inputs(
    unreachable_ledger: None, profile: str
) -> None:
    from bench_agent.tui.help_call import HelpCallScreen

    app = bench(profile)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        buttons = [b.id for b in app.screen.query("Button")]
        assert buttons[-1] == "act-help", buttons  # the last target of the scan
        help_button = app.screen.query_one("#act-help")
        assert help_button.region.bottom <= SIZE[1], "the help target is off-screen"
        assert app.screen.focused is not help_button  # never the pre-focused choice
        if profile == "two-switch":
            while app.screen.focused is not help_button:
                await pilot.press("space")
                await pilot.pause(0.35)
        else:
            await wait_for(pilot, lambda: app.screen.focused is help_button, timeout=30)
        # The switch held on the help target: it opens the dialog, its repeats never call.
        await hold(pilot, "enter")
        await pilot.pause(0.2)
        dialog = app.screen
        assert isinstance(dialog, HelpCallScreen)
        assert dialog.phase == "ask"
        # "Back" is an answer too: no call, back to the step.
        await select_target(pilot, dialog, "back", profile)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, HelpCallScreen) and dialog.phase == "ask"
        # Again, and "Call" after the silence of a released switch: the call goes out.
        await wait_for(pilot, lambda: app.screen.focused is help_button, timeout=30)
        await asyncio.sleep(0.35)
        await pilot.press("enter")
        await pilot.pause(0.3)
        dialog = app.screen
        assert isinstance(dialog, HelpCallScreen)
        await select_target(pilot, dialog, "call", profile)
        await pilot.press("enter")
        await wait_for(pilot, lambda: dialog.phase == "unreachable")


async def select_target(pilot: Any, dialog: Any, target: str, profile: str) -> None:
    await asyncio.sleep(0.4)  # past the bounce filter
    if profile == "two-switch":
        while dialog.target != target:
            await pilot.press("space")
            await pilot.pause(0.4)
    else:  # the scan moves it; press right after it arrives
        await wait_for(pilot, lambda: dialog.target != target, timeout=10)
        await wait_for(pilot, lambda: dialog.target == target, timeout=10)
    await asyncio.sleep(0.05)


@pytest.mark.anyio
async def test_four_key_operators_keep_their_help_key_and_no_extra_target(
    agent_home: Path,
) -> None:
    app = bench("four-keys")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert not app.screen.query("#act-help")
