"""Operator profiles: the samples load, a bad file is refused with its field, keys remap by id."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.errors import InputError
from bench_agent.tui.operators import list_operators, load_operator, parse_operator


def test_sample_profiles_load_and_french_is_the_default() -> None:
    names = {p.name for p in list_operators()}
    assert {"default", "four-keys", "two-switch", "english"} <= names
    default = load_operator("default")
    assert default.language == "fr" and default.theme == "bench-contrast-dark"
    four = load_operator("four-keys")
    assert four.keymap["bench.next"].split(",")[0] == "right"
    assert four.layout.handed == "left" and four.layout.one_item_per_screen
    assert load_operator("two-switch").scan_mode == "two-switch"


def test_the_station_s_own_profiles_come_first(agent_home: Path) -> None:
    folder = agent_home / "operators"
    folder.mkdir()
    (folder / "default.toml").write_text('language = "en"\nbounce_ms = 120\n')
    profile = load_operator("default")
    assert profile.name == "default" and profile.language == "en" and profile.bounce_ms == 120


@pytest.mark.parametrize(
    "text,field",
    [
        ('scan_mode = "three-switch"\n', "scan_mode"),
        ("bounce_ms = -5\n", "bounce_ms"),
        ('[layout]\nhanded = "both"\n', "layout.handed"),
        ("colour = 1\n", "colour"),
    ],
)
def test_a_bad_profile_names_the_file_and_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        parse_operator(path)
    assert str(path) in caught.value.message and f"'{field}'" in caught.value.message


def test_unknown_profile_is_an_input_error() -> None:
    with pytest.raises(InputError):
        load_operator("nobody")


@pytest.mark.anyio
async def test_keymap_remaps_the_bench_keys_by_binding_id(agent_home: Path) -> None:
    from bench_agent.tui.app import BenchApp
    from bench_agent.tui.operators import OperatorProfile

    numpad = OperatorProfile(
        name="numpad",
        language="en",
        keymap={"bench.next": "kp_6", "bench.prev": "kp_4", "bench.select": "kp_5"},
    )
    app = BenchApp(load_settings(station="bench-1"), operator=numpad, poll_ledger=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        buttons = [b.id for b in app.screen.query("Button")]
        start = buttons.index(app.screen.focused.id)  # type: ignore[union-attr]
        await pilot.press("kp_6")
        assert app.screen.focused.id == buttons[(start + 1) % len(buttons)]  # type: ignore[union-attr]
        await pilot.press("right")  # replaced by the keymap: does nothing now
        assert app.screen.focused.id == buttons[(start + 1) % len(buttons)]  # type: ignore[union-attr]
        await pilot.press("kp_4")
        assert app.screen.focused.id == buttons[start]  # type: ignore[union-attr]
        assert "kp_6" in str(app.screen.query_one("#keys").render())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_station_setting_names_the_operator_profile_loaded_at_start(agent_home: Path) -> None:
    from bench_agent.tui.app import BenchApp

    app = BenchApp(load_settings(station="bench-1", operator="four-keys"), poll_ledger=False)
    assert app.operator.name == "four-keys" and app.theme == "bench-contrast-light"
    plain = BenchApp(load_settings(station="bench-1", language="en"), poll_ledger=False)
    assert plain.operator.language == "en" and plain.theme == "bench-contrast-dark"
