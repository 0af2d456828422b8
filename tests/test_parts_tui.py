"""The verdict screen of a machine lacking RAM shows what the parts bin holds for it (Pilot, at
80x25 with the four-keys operator profile, against a real ledger on a real port)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench_agent.config import load_settings
from bench_agent.inventory.collect import collect_inventory
from bench_agent.ledger.parts import list_parts
from bench_agent.sync.parts import harvest
from bench_agent.tui.operators import SAMPLE_DIR, load_operator
from bench_agent.workflow.parts import harvest_proposal
from bench_agent.workflow.state import Step
from tests.test_ledger_support import (
    Ledger,
    sqlite_ledger,  # noqa: F401 (the ledger fixture)
)
from tests.test_parts import P4, _copy_bundle, _deliver, _enrolled, _set_dimm2
from tests.tui_driver import settle, wait_for

CONSOLE = (80, 25)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_verdict_shows_the_matching_modules_in_the_bin(
    ledger: Ledger, tmp_path: Path
) -> None:
    from bench_agent.tui.app import BenchApp

    settings = _enrolled(ledger)
    donor = _deliver(settings, "AT-P4", collect_inventory(evidence_dir=P4), "modern-2024")
    harvest(settings, "AT-P4", harvest_proposal(donor)[:2], "B3")
    target = _copy_bundle(tmp_path, "4BQ2K1K", "44454c4c-4200-1051-8032-b4c04f4b3199")
    _set_dimm2(target, present=False)
    operator = load_operator(SAMPLE_DIR / "four-keys.toml")  # French, numpad keys
    app = BenchApp(
        load_settings(), profile="pentium4", operator=operator, evidence=target, poll_ledger=False
    )
    async with app.run_test(size=CONSOLE) as pilot:
        await settle(pilot)
        screen: Any = None

        async def press(*names: str) -> None:
            for name in names:
                await pilot.press(name)
                await pilot.pause(0.3)  # the profile's key-bounce filter: 250 ms
            await settle(pilot)

        async def to_verdict() -> None:
            for _ in range(40):  # the pre-focused answer (Enter) until the verdict
                if app.wf.step is Step.VERDICT:
                    break
                if app.wf.step is Step.INTAKE:
                    await press("a", "t", "minus", "2")
                if app.wf.step is Step.GUIDED:
                    await press("6")  # from "try" to "yes, it works"
                await press("enter")
            assert app.wf.step is Step.VERDICT, app.wf.step

        await to_verdict()
        screen = app.screen
        await wait_for(
            pilot, lambda: "DDR-400" in str(screen.query_one("#bin-suggestion").render())
        )
        shown = str(screen.query_one("#bin-suggestion").render())
        assert shown == (
            "→ Bac à pièces : ajouter 256 MB de mémoire : 2 × DDR-400 256 MB dans le bac B3"
        )
        assert app.operator.name == "four-keys" and app.wf.state.asset_tag == "at-2", (
            app.operator.name,
            app.wf.state.asset_tag,
        )

        # The bench names the labelled module to take; 6 moves to that answer, Enter asks.
        def focused() -> str:
            return str(getattr(app.screen.focused, "id", "") or "")

        await wait_for(pilot, lambda: bool(app.screen.query("#act-fit")))
        for _ in range(6):
            if focused() == "act-fit":
                break
            await press("6")
        assert focused() == "act-fit"
        assert (
            str(app.screen.query_one("#act-fit").label) == "» Poser P000001 du bac B3…"
        )  # focused
        await press("enter")
        _set_dimm2(target, present=True)  # the technician fits the module
        await press("6", "enter")  # the confirmation: arm, then choose
        await settle(pilot)
        assert app.wf.step is not Step.VERDICT and app.wf.state.remediation_rounds == 1
        await to_verdict()
        fitted = str(app.screen.query_one("#bin-fitted").render())
        assert fitted == "✔ P000001 (DDR-400 256 MB) posée et vue par le nouvel inventaire."
        verdict = app.wf.state.verdict
        assert verdict is not None
        assert [c.status for c in verdict.criteria if c.id == "ram"] == ["pass"]
        assert not app.screen.query("#bin-suggestion")  # nothing left to suggest
    stock = {p.code: p for p in list_parts(ledger.store)}
    assert (stock["P000001"].state, stock["P000001"].fitted_asset_tag) == ("fitted", "at-2")
    assert stock["P000002"].state == "in_stock"


@pytest.mark.anyio
async def test_a_rejected_machine_s_parts_are_kept_at_the_end_of_its_run(
    ledger: Ledger, tmp_path: Path
) -> None:
    from bench_agent.tui.app import BenchApp

    _enrolled(ledger)
    operator = load_operator(SAMPLE_DIR / "four-keys.toml")
    app = BenchApp(
        load_settings(), profile="modern-2024", operator=operator, evidence=P4, poll_ledger=False
    )
    async with app.run_test(size=CONSOLE) as pilot:

        async def press(*names: str) -> None:
            for name in names:
                await pilot.press(name)
                await pilot.pause(0.3)  # the profile's key-bounce filter: 250 ms
            await settle(pilot)

        def focused() -> str:
            return str(getattr(app.screen.focused, "id", "") or "")

        await settle(pilot)
        for _ in range(40):  # the pre-focused answer until the end of the run
            if app.wf.step is Step.DONE:
                break
            if app.wf.step is Step.INTAKE:
                await press("p", "4")
            if app.wf.step is Step.GUIDED:
                await press("6")
            if app.wf.step is Step.VERDICT:  # rejected: "Reject: parts…", confirmed
                await press("enter", "6")
            await press("enter")
        assert app.wf.step is Step.DONE and app.wf.state.verdict is not None
        assert app.wf.state.verdict.outcome == "rejected"
        for _ in range(4):
            if focused() == "act-keep-parts":
                break
            await press("6")
        assert str(app.screen.query_one("#act-keep-parts").label) == "» Garder ses pièces (4)…"
        await press("enter", "6", "enter")  # asked, armed, chosen
        await wait_for(pilot, lambda: not app.screen.query("#act-keep-parts"))
        shown = [str(s.render()) for s in app.screen.query(".remediation")]
        assert shown == [
            "■ Gardées pour le bac à pièces (étiquetez chacune, puis rangez-la) :",
            "   P000001  DDR-400 256 MB",
            "   P000002  DDR-400 256 MB",
            "   P000003  HL-DT-ST DVD-ROM GDR8163B",
            "   P000004  Intel ICH5",
        ]
    kept = list_parts(ledger.store)
    assert [(p.kind, p.state, p.from_asset_tag) for p in kept] == [
        ("memory", "harvested", "p4"),
        ("memory", "harvested", "p4"),
        ("optical", "harvested", "p4"),
        ("sound", "harvested", "p4"),
    ]
