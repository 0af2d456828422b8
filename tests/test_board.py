"""Terminal board (Textual) against a real ledger server, and the supervisor CLI commands."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jsonschema
import pytest

from bench_agent.tui.board import StationBoardApp, progress_bar
from tests.conftest import FIXTURES, require_tool
from tests.test_dashboard_browser import LiveLedger, start_ledger, stop_ledger

OFFLINE_AFTER_S = 2.0
CLI = str(Path(sys.executable).parent / "bench-ledger")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveLedger]:
    folder = tmp_path_factory.mktemp("board-ledger")
    env = {
        "BENCH_DASHBOARD_OFFLINE_AFTER_S": str(OFFLINE_AFTER_S),
        "BENCH_DASHBOARD_POLL_S": "0.5",
        "BENCH_LEDGER_HOME": str(folder / "home"),
    }
    live = start_ledger(folder, stations=6, assets=30, env=env)
    yield live
    stop_ledger(live)


def session_token(ledger: LiveLedger) -> str:
    name, password = ledger.seeded.supervisor
    response = httpx.post(f"{ledger.url}/api/v1/login", json={"name": name, "password": password})
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


async def until(condition: Callable[[], bool], timeout: float, pilot: object) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.05)  # type: ignore[attr-defined]
    return time.monotonic() - start


def test_progress_bar_text() -> None:
    assert progress_bar(None) == "—"
    assert progress_bar(0.42) == "████░░░░░░  42 %"
    assert progress_bar(1.0) == "██████████ 100 %"


def test_terminal_board_follows_the_ledger(ledger: LiveLedger, tmp_path: Path) -> None:
    token = session_token(ledger)

    async def scenario() -> None:
        from textual.widgets import DataTable

        app = StationBoardApp(ledger.url, token, interval=0.25)
        async with app.run_test(size=(170, 30)) as pilot:
            table = app.query_one("#board", DataTable)
            await until(lambda: app.fetches > 0, 10, pilot)
            assert table.row_count == 6
            await asyncio.to_thread(
                ledger.heartbeat, "bench-002", state="wiping", step="verify sda",
                progress=0.5, rate=7.5e7, eta_s=125, operator="Nadia", asset_tag="BSN-000004",
            )  # fmt: skip
            waited = await until(lambda: "verify sda" in str(table.get_row("bench-002")), 3, pilot)
            assert waited < 2.0
            row = [str(cell) for cell in table.get_row("bench-002")]
            assert row[1] == "▶ working" and row[2] == "Nadia" and row[3] == "BSN-000004"
            assert row[5] == "█████░░░░░  50 %" and row[6] == "75.0 MB/s" and row[7] == "2 min 05 s"
            # Silence: offline after the configured 2 s, said with a symbol and a word.
            await until(lambda: app.status_of("bench-002") == "offline", OFFLINE_AFTER_S + 4, pilot)
            assert str(table.get_cell("bench-002", "status")) == "✖ offline"
            app.save_screenshot(str(tmp_path / "board.svg"))
            await pilot.press("q")

    asyncio.run(scenario())
    assert "bench-002" in (tmp_path / "board.svg").read_text()


def test_terminal_board_says_when_the_session_is_refused(ledger: LiveLedger) -> None:
    async def scenario() -> None:
        app = StationBoardApp(ledger.url, "bus_not-a-session", interval=5)
        async with app.run_test() as pilot:
            await until(lambda: bool(app.last_error), 10, pilot)
            assert "log in again" in app.last_error

    asyncio.run(scenario())


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


def test_report_command(ledger: LiveLedger, tmp_path: Path) -> None:
    db = str(ledger.store.url)
    today = datetime.now(UTC).date()
    start = (today - timedelta(days=400)).isoformat()
    result = run_cli("report", "--db", db, "--from", start, "--to", today.isoformat())
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["received"] == 30 and data["tested"] == 30
    out = tmp_path / "report.csv"
    result = run_cli(
        "report", "--db", db, "--from", start, "--to", today.isoformat(),
        "--lot", ledger.seeded.lots[0], "--format", "csv", "--output", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    totals = {r["key"]: r["value"] for r in rows if r["section"] == "total"}
    assert totals["received"] == "10"  # 30 machines dealt round-robin over 3 lots
    pdf = tmp_path / "report.pdf"
    result = run_cli(
        "--lang",
        "fr",
        "report",
        "--db",
        db,
        "--from",
        start,
        "--to",
        today.isoformat(),
        "--format",
        "pdf",
        "-o",
        str(pdf),
    )
    assert result.returncode == 0 and pdf.read_bytes()[:4] == b"%PDF"
    bad = run_cli("report", "--db", db, "--from", "2026-02-30", "--to", "2026-03-01")
    assert bad.returncode == 2 and bad.stderr.startswith(
        "error: --from '2026-02-30' is not a date."
    )
    assert "Traceback" not in bad.stderr


def test_export_commands(ledger: LiveLedger, tmp_path: Path) -> None:
    db = str(ledger.store.url)
    result = run_cli("export", "glpi", "BSN-000007", "--db", db)
    assert result.returncode == 0, result.stderr
    schema = json.loads((FIXTURES / "glpi" / "glpi-inventory.schema.json").read_text())
    document = json.loads(result.stdout)
    jsonschema.Draft7Validator(schema).validate(document)
    assert document["content"]["bios"]["assettag"] == "BSN-000007"
    out = tmp_path / "assets.csv"
    assert run_cli("export", "csv", "--db", db, "-o", str(out)).returncode == 0
    assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == 30
    missing = run_cli("export", "glpi", "NOPE-1", "--db", db)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        "error: No machine 'NOPE-1' in the ledger.",
        "hint: Give its asset tag, serial number, UUID or #id.",
    ]


def test_label_command(ledger: LiveLedger, tmp_path: Path) -> None:
    db = str(ledger.store.url)
    pdf = tmp_path / "labels.pdf"
    result = run_cli(
        "label", "BSN-000001", "#3", "--db", db, "--size", "a4", "-o", str(pdf),
        "--public-url", "https://ledger.example.org/",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    require_tool("pdftoppm")
    require_tool("zbarimg")
    png = tmp_path / "labels"
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", str(pdf), str(png)], check=True)
    decoded = subprocess.run(
        ["zbarimg", "-q", "--raw", f"{png}.png"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(decoded) == [
        "https://ledger.example.org/verify/BSN-000001",
        "https://ledger.example.org/verify/BSN-000002",
    ]
    no_url = run_cli("label", "BSN-000001", "--db", db, "-o", str(pdf), "--public-url", "")
    assert no_url.returncode == 2 and "public address" in no_url.stderr
