"""Calling the supervisor: the bench app (Pilot) calls a real ledger server; the supervisor
sees it on the dashboard board and answers from its page; the bench says help is coming. With
the ledger unreachable the bench says nobody was called and rings by itself."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench_agent.adapters.demo import LocalLedger
from bench_agent.config import load_settings
from bench_agent.tui.operators import OperatorProfile
from tests.test_ledger_support import dashboard_login
from tests.test_workflow_support import (
    ledger,  # noqa: F401 - fixture
    ledger_server,  # noqa: F401 - fixture
)
from tests.tui_driver import wait_for

SIZE = (80, 25)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def bench(language: str = "en") -> Any:
    from bench_agent.tui.app import BenchApp

    return BenchApp(
        load_settings(),
        operator=OperatorProfile(name="ana", display_name="Ana", language=language),
        poll_ledger=False,
    )


def help_text(app: Any) -> str:
    return str(app.screen.query_one("#help-state").render())


@pytest.mark.anyio
async def test_help_reaches_the_board_and_the_answer_reaches_the_bench(
    ledger: LocalLedger,  # noqa: F811 - fixture
) -> None:
    from bench_agent.tui.help_call import HelpCallScreen

    station = load_settings().station
    app = bench()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f1")  # the help key asks…
        await pilot.pause()
        assert isinstance(app.screen, HelpCallScreen) and app.screen.phase == "ask"
        await pilot.press("f1")  # …a held or repeated help key never confirms
        assert app.screen.phase == "ask"
        await pilot.press("enter")  # …and "choose" confirms: the second, distinct input
        await wait_for(pilot, lambda: app.screen.phase == "waiting")
        assert "on the supervisor's board" in help_text(app)

        with httpx.Client(base_url=ledger.url, timeout=10) as browser:
            assert dashboard_login(browser, ledger.supervisor, ledger.password).status_code == 303
            board = browser.get("/dashboard/").text
            row = re.search(r'<tr id="[^"]*" [^>]*data-help="called">.*?</tr>', board, re.S)
            assert row and station in row.group(0) and "HELP ASKED" in row.group(0)
            page = browser.get(f"/dashboard/help/{station}")
            assert page.status_code == 200 and "Ana" in page.text
            nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
            assert nonce
            wrong = browser.post(f"/dashboard/help/{station}", data={"nonce": "forged"})
            assert wrong.status_code == 403
            answer = browser.post(
                f"/dashboard/help/{station}",
                data={"nonce": nonce.group(1)},
                follow_redirects=False,
            )
            assert answer.status_code == 303
            assert 'data-help="acknowledged"' in browser.get("/dashboard/").text

        await wait_for(pilot, lambda: app.screen.phase == "answered")
        assert f"Help is coming: {ledger.supervisor} saw your call." in help_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, HelpCallScreen)


def test_help_pages_answer_in_the_readers_language(
    ledger: LocalLedger,  # noqa: F811 - fixture
) -> None:
    with httpx.Client(base_url=ledger.url, timeout=10) as browser:
        assert dashboard_login(browser, ledger.supervisor, ledger.password).status_code == 303
        page = browser.get("/dashboard/help/no-such-bench", params={"lang": "fr"})
        assert page.status_code == 404 and "Aucun appel à l" in page.text, page.text[-400:]
        stale = browser.post(
            "/dashboard/help/no-such-bench", params={"lang": "fr"}, data={"nonce": "x"}
        )
        assert stale.status_code == 403 and "Cet appel n" in stale.text, stale.text[-400:]


def test_a_station_needs_its_token_to_call(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bench_agent.ledger.app import create_app
    from bench_agent.ledger.db import Store

    store = Store(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    store.upgrade()
    with TestClient(create_app(store)) as client:
        assert client.post("/api/v1/help", json={}).status_code == 401
        assert client.get("/dashboard/help/bench-1", follow_redirects=False).status_code == 303
    store.dispose()


@pytest.mark.anyio
async def test_an_unreachable_ledger_is_said_and_the_bench_rings(
    agent_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("BENCH_AGENT_LEDGER_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("BENCH_AGENT_TOKEN", "station-token")
    app = bench("fr")
    rings: list[bool] = []
    app.cue = lambda *, attention=False: rings.append(attention)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark", "enter")
        await wait_for(pilot, lambda: app.screen.phase == "unreachable")
        text = help_text(app)
        assert "Personne n'a été appelé" in text and "le registre ne répond pas" in text
        assert rings == [True]
        await wait_for(pilot, lambda: len(rings) >= 2, timeout=12)  # it rings again
        await pilot.press("escape")
        await pilot.pause()
    assert all(rings)


@pytest.mark.anyio
async def test_the_terminal_board_shows_and_rings_a_call(
    ledger: LocalLedger,  # noqa: F811 - fixture
) -> None:
    from textual.widgets import DataTable

    from bench_agent.sync.help_call import call_supervisor
    from bench_agent.tui.board import StationBoardApp

    settings = load_settings()
    login = httpx.post(
        f"{ledger.url}/api/v1/login",
        json={"name": ledger.supervisor, "password": ledger.password},
        timeout=10,
    )
    board = StationBoardApp(ledger.url, login.json()["token"], interval=0.3)
    bells: list[int] = []
    board.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with board.run_test(size=(160, 30)) as pilot:
        await wait_for(pilot, lambda: board.fetches > 0)
        table = board.query_one("#board", DataTable)
        assert not bells
        answer = call_supervisor(settings, operator="Ana", asset_tag="BSN-9", step="guided")
        assert answer.reached and answer.state == "called"
        await wait_for(
            pilot, lambda: "HELP ASKED" in str(table.get_cell(settings.station, "status"))
        )
        assert bells == [1]  # once per new call, not at every refresh
        await pilot.pause(1.0)
        assert bells == [1]
