"""Every step fits every screen the bench can get, for every operator profile.

From 64x24 (large text on a 1024x768 console) to 200x60: the focused element is on screen,
every answer (action button) of the step is on screen, whole (its label not cut) and not
inside a scrolled container, so the same keys give the same answers at every size; the
results a decision needs are on screen when it is asked. Same deterministic states as the
snapshot tests (recorded Pentium 4, no workers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from bench_agent.config import load_settings
from bench_agent.tui.operators import list_operators, load_operator
from bench_agent.workflow.journal import Journal
from tests.test_tui_snapshots import FIXED, state_for

SIZES = [(64, 24), (80, 25), (100, 37), (160, 50), (200, 60)]
STEPS = ["operator", "intake", "inventory", "guided", "verdict", "wipe_plan", "confirm",
         "wipe", "interrupted", "image", "done"]  # fmt: skip
PROFILES = sorted(p.name for p in list_operators())
# What a decision needs to see while it is asked (widget ids).
NEEDED = {
    "guided": ["#question"],
    "verdict": ["#verdict-word", "#verdict-count"],
    "confirm": ["#confirm-what", "#confirm-details", "#confirm-how", "#confirm-state"],
    "done": ["#verdict-word", "#label-box"],
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_animations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")


def make_app(step: str, profile: str) -> Any:
    from bench_agent.tui.app import BenchApp

    settings = load_settings(station="bench-1")
    Journal(settings.journal_dir / "machine").save(state_for(step).model_dump(mode="json"))
    return BenchApp(
        settings,
        operator=load_operator(profile),
        autostart=False,
        poll_ledger=False,
        clock=lambda: FIXED,
    )


def on_screen(widget: Any, screen: Any) -> bool:
    """The widget's whole region is on the screen and inside every container around it (a
    scrolled-away or clipped widget is not)."""
    region = widget.region
    if region.width == 0 or region.height == 0:
        return False
    if not screen.region.contains_region(region):
        return False
    for ancestor in widget.ancestors:
        if ancestor is screen or not hasattr(ancestor, "region"):
            break
        if ancestor.region.width and not ancestor.region.contains_region(region):
            return False
    return True


@pytest.mark.anyio
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("profile", PROFILES)
async def test_every_step_fits_the_screen(agent_home: Path, profile: str, size: Any) -> None:
    from textual.widgets import Button, Label

    from bench_agent.tui.widgets import ActionButton

    problems: list[str] = []
    for step in STEPS:
        app = make_app("wipe_plan" if step == "confirm" else step, profile)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            if step == "confirm":
                await pilot.press("enter")
                await pilot.pause()
            screen = app.screen
            focused = screen.focused
            if focused is not None and not on_screen(focused, screen):
                problems.append(f"{step}: focused {focused.id} at {focused.region} off screen")
            buttons = list(screen.query(Button)) if step != "confirm" else []
            for button in buttons:
                if not on_screen(button, screen):
                    problems.append(f"{step}: button {button.id} at {button.region} not visible")
                elif isinstance(button, ActionButton):
                    room = button.content_region.width
                    label = cell_len("» " + button.plain_label)
                    if label > room:
                        problems.append(f"{step}: button {button.id} cut ({label} > {room})")
            for label in screen.query(Label):  # a text wider than its box is cut at the edge
                parent = label.parent
                box = getattr(parent, "content_region", screen.region)
                if label.region.width and label.region.right > box.right:
                    problems.append(f"{step}: text cut: {str(label.render())[:60]!r}")
            for selector in NEEDED.get(step, []):
                for widget in screen.query(selector):
                    if not on_screen(widget, screen):
                        problems.append(f"{step}: {selector} at {widget.region} not visible")
    assert not problems, "\n".join(problems)


@pytest.mark.anyio
async def test_four_keys_move_out_of_the_tag_fields_and_reach_continue(agent_home: Path) -> None:
    app = make_app("intake", "four-keys")
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.pause()
        assert app.screen.focused is not None and app.screen.focused.id == "asset"
        await pilot.press("B", "9", "4")  # a barcode reader types (digits too)
        await pilot.pause(0.3)
        seen = []
        for _ in range(4):
            await pilot.press("right")  # the operator's move key is never eaten by a field
            await pilot.pause(0.3)
            seen.append(getattr(app.screen.focused, "id", None))
        assert seen[0] == "lot" and "act-continue" in seen, seen
        assert app.screen.query_one("#asset").value == "B94"


@pytest.mark.anyio
async def test_two_switches_space_moves_on_the_login_and_never_types(agent_home: Path) -> None:
    # At login the station's profile is still the workshop's: Space must move all the same.
    app = make_app("operator", "default")
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.pause()
        first = app.screen.focused
        await pilot.press("space")
        await pilot.pause(0.4)
        assert app.screen.focused is not first
    app = make_app("intake", "two-switch")
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.pause()
        visited = []
        for _ in range(5):
            await pilot.press("space")
            await pilot.pause(0.4)  # past the 300 ms bounce filter
            visited.append(getattr(app.screen.focused, "id", None))
        assert "asset" in visited and "act-continue" in visited, visited
        assert app.screen.query_one("#asset").value == ""


@pytest.mark.anyio
@pytest.mark.parametrize("size", [(64, 24), (80, 25)], ids=["64x24", "80x25"])
async def test_a_guided_result_is_on_screen_when_its_question_is_asked(
    agent_home: Path, size: Any
) -> None:
    from bench_agent.tui.screens import GuidedScreen

    app = make_app("guided", "four-keys")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GuidedScreen)
        screen._show("✔ Tray opened\n✔ Tray closed\n✘ No disc could be read")
        await pilot.pause()
        result = screen.query_one("#result")
        assert "No disc" in str(result.render())
        assert on_screen(result, screen) and on_screen(screen.query_one("#question"), screen)


@pytest.mark.anyio
async def test_the_training_banner_stays_readable_over_the_confirmation(agent_home: Path) -> None:
    from bench_agent.tui.app import BenchApp
    from bench_agent.tui.screens import ConfirmDestructive

    settings = load_settings(station="bench-1")
    state = state_for("wipe_plan").model_copy(update={"training": True})
    Journal(settings.journal_dir / "machine").save(state.model_dump(mode="json"))
    app = BenchApp(settings, operator=load_operator("default"), autostart=False, poll_ledger=False)
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDestructive)
        banner = app.screen.query_one(".training-banner")
        assert on_screen(banner, app.screen) and "FORMATION" in str(banner.render())
        # Drawn by the dialog itself, in full colour (not the header seen through the dimming).
        assert banner.styles.background.a == 1 and banner.styles.background != banner.styles.color


@pytest.mark.anyio
@pytest.mark.parametrize("profile", PROFILES)
async def test_the_operators_next_key_pages_through_the_inventory_tiles(
    agent_home: Path, profile: str
) -> None:
    """At 80x25 the tiles do not all fit: the operator's own next key (the scan, in auto-scan)
    shows each of them in turn, without a mouse or PageDown, its one answer on screen."""
    from bench_agent.tui.widgets import Tile

    app = make_app("inventory", profile)
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.pause()
        screen = app.screen
        if app.operator.scan_mode == "auto-scan" and app.scan_timer is not None:
            app.scan_timer.pause()  # the test moves the scan itself, one step at a time
        tiles = list(screen.query(Tile))
        assert len(tiles) >= 8
        key = app.binding_keys("bench.next")[0]
        seen: set[int] = set()
        for _ in range(len(tiles) + 2):
            seen |= {i for i, tile in enumerate(tiles) if on_screen(tile, screen)}
            continue_button = screen.query_one("#act-checks")
            assert on_screen(continue_button, screen)
            if len(seen) == len(tiles):
                break
            assert screen.focused is continue_button  # paging never moves the answer
            if app.operator.scan_mode == "auto-scan":
                app.action_next()  # what the scan does at each step
            else:
                await pilot.press(key)
            await pilot.pause(0.4)  # past the profile's bounce filter
        missing = [tiles[i].title_text for i in range(len(tiles)) if i not in seen]
        assert not missing, f"never shown: {missing}"
