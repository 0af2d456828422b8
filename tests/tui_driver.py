"""A scripted operator: drives the bench app through one whole machine with only the keys of
an operator profile, and counts the presses (used by the pilot tests and scripts/bench/tui.py).

The operator takes the shortest honest path: the station's profile, a new asset tag, the
automatic checks, each guided check answered "yes, it works", the verdict accepted, the wipe
confirmed with the two inputs of the mode. Keys: four keys (→ moves, Enter chooses), two
switches (Space moves, Enter chooses) or one switch in auto-scan (Enter when the highlight is on
the wanted choice; the scan moves by itself).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench_agent.workflow.state import Step

STEP_TIMEOUT_S = 300


class Presses:
    def __init__(self) -> None:
        self.keys: list[str] = []
        # Times a press landed on "call the supervisor" (the scan had moved on) and the
        # operator had to answer "Back": a real one-switch user's way out, counted apart.
        self.recoveries = 0

    def __len__(self) -> int:
        return len(self.keys)


async def settle(pilot: Any) -> None:
    """Wait until the bench's worker is done and the screen shows the workflow's step."""
    from bench_agent.tui.screens import StepScreen

    app = pilot.app
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIMEOUT_S
    while loop.time() < deadline:
        await pilot.pause(0.05)
        screen = app.screen
        if app.busy:
            continue
        if isinstance(screen, StepScreen) and not screen.handles(app.wf.step):
            continue
        await pilot.pause(0.05)
        if not app.busy:
            return
    raise AssertionError(f"stuck at {app.wf.step} (busy={app.busy!r})")


async def wait_for(pilot: Any, condition: Any, timeout: float = 60.0) -> None:
    """Until ``condition()`` holds, the app running meanwhile (AssertionError after timeout)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await pilot.pause(0.02)


def goal(app: Any) -> str | None:
    """The button the scripted operator wants on the current screen (None: nothing to do)."""
    wf = app.wf
    step = wf.step
    present = {b.id for b in app.screen.query("Button")}

    def want(button_id: str) -> str | None:
        return button_id if button_id in present else None

    if step is Step.OPERATOR:
        return want(f"act-op-{app.operator.name}")
    if step is Step.INTAKE:
        return want("act-generate")
    if step is Step.INVENTORY:
        return want("act-inventory")
    if step is Step.AUTO_CHECKS:
        return want("act-checks")
    if step is Step.GUIDED:
        return want("act-pass") or want("act-finish")
    if step is Step.VERDICT:
        return want("act-accept")
    if step is Step.WIPE_PLAN:
        return want("act-erase") or want("act-skip")
    if step in (Step.WIPE, Step.IMAGE):
        return want("act-go")
    return None


async def drive_machine(pilot: Any, *, timeout_s: float = 900) -> Presses:
    """From the operator screen to the machine's label, with the profile's keys only."""
    from bench_agent.tui.help_call import HelpCallScreen
    from bench_agent.tui.screens import ConfirmDestructive, ErrorModal

    app = pilot.app
    operator = app.operator
    mode = operator.scan_mode
    move = {"off": "right", "two-switch": "space"}.get(mode, "")
    select = "enter"
    gap = max(operator.bounce_ms, 150) / 1000 + 0.05
    presses = Presses()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s

    async def press(key: str) -> None:
        presses.keys.append(key)
        await pilot.press(key)
        await pilot.pause(gap)

    async def wait_for(condition: Any, what: str) -> None:
        # Two whole rounds of the scan (the profile chosen at login sets its pace).
        rounds = 2 * (len(app.screen.query("Button, Input")) + 2)
        limit = loop.time() + max(10.0, rounds * app.operator.scan_rate_ms / 1000)
        while not condition():
            if loop.time() > limit:
                focused = getattr(app.screen.focused, "id", None)
                raise AssertionError(
                    f"the scan never reached {what} (on {type(app.screen).__name__}, "
                    f"focus {focused}, step {app.wf.step}, scan {app.operator.scan_rate_ms} ms)"
                )
            await pilot.pause(0.02)

    async def reach(button_id: str) -> None:
        if mode == "auto-scan":
            await pilot.pause(gap)  # the silence a press needs, then press on the highlight
            await wait_for(lambda: getattr(app.screen.focused, "id", None) == button_id, button_id)
            return
        for _ in range(12):
            if getattr(app.screen.focused, "id", None) == button_id:
                return
            focused = app.screen.focused
            if button_id == "act-generate" and focused is not None and focused.id == "asset":
                return  # Enter in the empty tag field makes a new tag too
            await press(move)
        raise AssertionError(f"{move} never reached {button_id}")

    while app.wf.step is not Step.DONE:
        if loop.time() > deadline:
            raise AssertionError(
                f"the machine did not finish (at {app.wf.step}, on {type(app.screen).__name__})"
            )
        await settle(pilot)
        screen = app.screen
        if isinstance(screen, ErrorModal):
            raise AssertionError(f"error on the way: {screen.error.message}")
        if isinstance(screen, HelpCallScreen) and screen.phase == "ask":
            presses.recoveries += 1
            if mode == "auto-scan":
                await pilot.pause(gap)
                await wait_for(lambda: app.screen.target == "back", "Back")
                await press(select)
            elif mode == "two-switch":
                if screen.target != "back":
                    await press(move)
                await press(select)
            else:
                await press("escape")
            continue
        if isinstance(screen, ConfirmDestructive):
            if mode == "auto-scan":
                await pilot.pause(gap)
                await wait_for(lambda: app.screen.target == "arm", "Arm")
                await press(select)
                await pilot.pause(gap)
                await wait_for(lambda: app.screen.target == "confirm", "Confirm")
                await press(select)
            else:
                await press(move)
                await press(select)
            continue
        wanted = goal(app)
        if wanted is None:
            await pilot.pause(0.1)
            continue
        await reach(wanted)
        await press(select)
    await settle(pilot)
    return presses
