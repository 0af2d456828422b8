"""The environmental account (issue 16 item 3) on a real SQLite ledger: machines delivered in a
year by category, weight and emissions from the shipped factors table, unset factors, the
workshop's override (good and bad), the lot bundle's line and the dashboard's report page."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tomllib
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from bench_agent.errors import InputError
from bench_agent.i18n import format_decimal
from bench_agent.ledger import board_queries as queries
from bench_agent.ledger import environment as env
from bench_agent.ledger.app import create_app
from bench_agent.ledger.dashboard.seed import Seeded, seed_demo
from bench_agent.ledger.db import Store
from bench_agent.ledger.lang import language
from bench_agent.ledger.models import Asset, LifecycleEvent, Record
from bench_agent.ledger.reports import render_csv
from tests.test_ledger_support import ServerThread, dashboard_login, make_record, pg_cluster

YEAR_START, YEAR_END = date(2026, 1, 1), date(2026, 12, 31)
DESKTOP_CO2E, LAPTOP_CO2E = 204.4, 182.6  # the shipped table (ADEME-Arcep 2022)


def add_machine(
    store: Store, n: int, chassis: str, lot: str, events: list[tuple[str, datetime]]
) -> None:
    """One machine as a station's record and the supervisor's lifecycle events make it."""
    record = make_record(n=n, lot=lot, finished_at=events[0][1])
    record.inventory.system.chassis = chassis
    body = json.dumps(record.model_dump(mode="json"), sort_keys=True)
    with store.write() as session:
        asset = Asset(asset_tag=record.asset_tag, serial=f"SN{n:06d}", lot=lot)
        session.add(asset)
        session.flush()
        session.add(
            Record(record_id=record.record_id, station_id=1, station="bench-001",
                   asset_id=asset.id, asset_tag=record.asset_tag, lot=lot, outcome="kept",
                   finished_at=events[0][1], created_at=events[0][1],
                   body_sha256=hashlib.sha256(body.encode()).hexdigest(), body=body)
        )  # fmt: skip
        for kind, at in events:
            category = "family" if kind in ("given", "returned") else ""
            session.add(LifecycleEvent(asset_id=asset.id, kind=kind, at=at, category=category))


def at(month: int, day: int = 10, year: int = 2026) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Seeded]]:
    folder = tmp_path_factory.mktemp("environment")
    store = Store(f"sqlite:///{folder / 'ledger.sqlite'}")
    store.upgrade()
    seeded = seed_demo(store, stations=1, assets=0, lots=2, seed=7, heartbeats=False)
    lot, other = seeded.lots
    packed = [("received", at(2)), ("tested", at(2, 11)), ("packed", at(2, 12))]
    # Delivered in 2026: four desktops (chassis tower, none recorded, mini tower, one given,
    # returned and given again), two laptops.
    add_machine(store, 1, "tower", lot, [*packed, ("given", at(3))])
    add_machine(store, 2, "", lot, [*packed, ("given", at(4))])
    add_machine(store, 3, "mini tower", other, [*packed, ("given", at(5))])
    add_machine(store, 4, "desktop", lot,
                [*packed, ("given", at(5)), ("returned", at(6)), ("given", at(7))])  # fmt: skip
    add_machine(store, 5, "notebook", lot, [*packed, ("given", at(8))])
    add_machine(store, 6, "laptop", other, [*packed, ("given", at(9))])
    # Not counted in 2026: packed but never delivered, delivered in 2025.
    add_machine(store, 7, "tower", lot, packed)
    add_machine(store, 8, "tower", lot, [("received", at(11, 2, 2025)), ("given", at(12, 3, 2025))])
    yield store, seeded
    store.dispose()


@pytest.fixture(scope="module")
def client(ledger: tuple[Store, Seeded]) -> Iterator[httpx.Client]:
    """A supervisor's browser session on the ledger served by uvicorn on a real port."""
    store, seeded = ledger
    server = ServerThread(create_app(store))
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert dashboard_login(http, *seeded.supervisor).status_code == 303
            yield http
    finally:
        server.stop()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "factors.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_table_is_versioned_and_sourced() -> None:
    data = tomllib.loads(env.FACTORS_FILE.read_text(encoding="utf-8"))
    assert re.fullmatch(r"\d{4}\.\d+", data["version"]) and date.fromisoformat(data["date"])
    table = env.load_factors()
    assert set(table.categories) == set(env.CATEGORY_LABELS)
    for (category, quantity), factor in table.factors.items():
        if factor.value is None:
            assert "to fill by the workshop" in factor.source, (category, quantity)
        else:  # a shipped value names its study and the figures it adds up
            assert "ADEME-Arcep 2022" in factor.source, (category, quantity)
            found = re.search(r"construction ([\d.]+) \+ assembly and distribution ([\d.]+)",
                              factor.source)  # fmt: skip
            assert found, factor.source
            assert round(float(found[1]) + float(found[2]), 1) == factor.value, factor.source
    assert table.get("desktop", "co2e_kg").value == DESKTOP_CO2E
    assert table.get("laptop", "co2e_kg").value == LAPTOP_CO2E
    assert table.get("crt_screen", "co2e_kg").value is None
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for category in ("desktop", "laptop", "lcd_screen"):  # the README's table says the same
        factor = table.get(category, "co2e_kg")
        assert f"| {env.CATEGORY_LABELS[category]} | unset | {factor.value} |" in readme
        assert f"version {table.version} of {table.date}" in readme


def test_a_year_of_reused_machines_gives_the_figures_of_the_table(
    ledger: tuple[Store, Seeded],
) -> None:
    store, _seeded = ledger
    report = queries.load_report(store, YEAR_START, YEAR_END)
    account = report.environment
    assert account is not None
    assert account.machines == {"desktop": 4, "laptop": 2}
    assert account.machines_reused == report.delivered == 6  # the report's own count
    assert account.co2e_kg.value == pytest.approx(4 * DESKTOP_CO2E + 2 * LAPTOP_CO2E)
    assert account.weight_kg.value is None and account.weight_kg.unset == ["desktop", "laptop"]
    data = json.loads(json.dumps(report.to_json()))["environment"]
    assert data["co2e_kg"] == pytest.approx(1182.8) and data["weight_kg"] is None
    assert data["parts_reused"] == 0 and data["parts_by_kind"] == {}  # no part fitted here
    rows = {
        (r["section"], r["key"]): r["value"]
        for r in csv.DictReader(io.StringIO(render_csv(report)))
    }
    assert rows[("environment", "machines.desktop")] == "4"
    assert rows[("environment", "weight_kg")] == ""
    assert rows[("environment", "weight_kg.unset")] == "desktop;laptop"
    with language("fr"):
        lines = dict(env.account_lines(account))
    assert lines["Émissions de gaz à effet de serre évitées"] == (
        format_decimal(1182.8, 1, "fr") + "\u00a0kg CO2e"
    )
    assert format_decimal(1182.8, 1, "fr").endswith("182,8")
    assert lines["Poids évité aux déchets"] == (
        "non calculé (facteur non renseigné : unité centrale (tour), ordinateur portable)"
    )
    assert lines["Pièces réemployées"] == "0"


def test_an_unset_factor_is_reported_as_unset_with_its_category() -> None:
    account = env.compute_account(["desktop", "all_in_one"], env.load_factors())
    assert account.co2e_kg.value is None and account.co2e_kg.unset == ["all_in_one"]
    with language("en"):
        lines = dict(env.account_lines(account))
        sources = env.source_lines(account)
    assert lines["Greenhouse-gas emissions avoided"] == (
        "not computed (factor unset: all-in-one computer)"
    )
    assert "all-in-one computer, emissions avoided: unset, to fill by the workshop." in sources
    assert env.category_of("All In One") == "all_in_one" and env.category_of("") == "desktop"


def test_an_override_changes_the_figures(
    ledger: tuple[Store, Seeded], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _seeded = ledger
    override = write(tmp_path, """
[categories.desktop]
weight_kg = 9.5
weight_source = "weighed at the workshop, 20 towers, November 2026"
co2e_kg = 150
[categories.laptop]
weight_kg = 2.3
""")  # fmt: skip
    monkeypatch.setenv(env.OVERRIDE_VARIABLE, str(override))
    account = queries.load_report(store, YEAR_START, YEAR_END).environment
    assert account is not None
    assert account.weight_kg.value == pytest.approx(4 * 9.5 + 2 * 2.3)
    assert account.co2e_kg.value == pytest.approx(4 * 150 + 2 * LAPTOP_CO2E)
    with language("en"):
        sources = env.source_lines(account)
    assert f"Values overridden by the workshop's file {override}." in sources
    assert any("weighed at the workshop, 20 towers" in line for line in sources)
    assert any(f"workshop's value ({override})" in line for line in sources)  # no source given


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("[categories.desktop]\nweight_kg = -3\n", "categories.desktop.weight_kg", "negative"),
        ('[categories.laptop]\nco2e_kg = "heavy"\n', "categories.laptop.co2e_kg", "not a number"),
        ("[categories.printer]\nweight_kg = 7\n", "categories.printer", "unknown category"),
        ("[categories.mouse]\nweigth_kg = 0.1\n", "categories.mouse.weigth_kg", "unknown field"),
    ],
)
def test_a_bad_override_is_refused_with_file_and_field(
    tmp_path: Path, text: str, field: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with language("en"), pytest.raises(InputError) as caught:
        env.load_factors(path)
    assert str(path) in caught.value.message and field in caught.value.message
    assert problem in caught.value.message and "\n" not in caught.value.message
    assert "0 or more" in caught.value.hint and "desktop" in caught.value.hint


def test_a_bad_override_fails_the_cli_and_the_page_clearly(
    ledger: tuple[Store, Seeded],
    client: httpx.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench_agent.ledger.cli import main

    store, _seeded = ledger
    monkeypatch.setenv(env.OVERRIDE_VARIABLE, str(write(tmp_path, "[categories\n")))
    code = main(["report", "--db", store.url, "--from", "2026-01-01", "--to", "2026-12-31"])
    err = capsys.readouterr().err
    assert code == 2 and "is not valid TOML" in err and "Traceback" not in err
    page = client.get("/dashboard/report",
                      params={"from": "2026-01-01", "to": "2026-12-31", "lang": "en"})  # fmt: skip
    assert page.status_code == 200 and "is not valid TOML" in page.text
    missing = tmp_path / "nowhere.toml"
    monkeypatch.setenv(env.OVERRIDE_VARIABLE, str(missing))
    code = main(["report", "--db", store.url, "--from", "2026-01-01", "--to", "2026-12-31"])
    assert code == 2 and f"Cannot read the environment factors file {missing}" in (
        capsys.readouterr().err
    )


def test_the_lot_bundle_has_the_environment_line(
    ledger: tuple[Store, Seeded], client: httpx.Client
) -> None:
    _store, seeded = ledger
    lot = seeded.lots[0]
    response = client.get(f"/dashboard/lots/{lot}/certificates.zip", params={"lang": "en"})
    summary = zipfile.ZipFile(io.BytesIO(response.content)).read("summary.txt").decode()
    # The lot's machines delivered, all time: 1, 2, 4 (desktops), 5 (laptop), 8 (2025 desktop).
    co2e = format_decimal(4 * DESKTOP_CO2E + LAPTOP_CO2E, 1, "en")
    assert summary.splitlines()[0] == (
        f"Lot {lot}: 5 machines reused; weight kept out of waste: not computed (factor unset: "
        f"desktop tower, laptop); greenhouse-gas emissions avoided: {co2e}\u00a0kg CO2e "
        "(environment factors 2026.1)."
    )
    assert "ADEME-Arcep 2022" in summary
    french = client.get(f"/dashboard/lots/{lot}/certificates.zip", params={"lang": "fr"})
    text = zipfile.ZipFile(io.BytesIO(french.content)).read("summary.txt").decode()
    assert text.startswith(f"Lot {lot} : 5 machines réemployées ;")


def test_the_report_page_shows_the_figures_and_their_sources(client: httpx.Client) -> None:
    page = client.get("/dashboard/report",
                      params={"from": "2026-01-01", "to": "2026-12-31", "lang": "en"})  # fmt: skip
    assert page.status_code == 200
    html = page.text
    assert '<h2 id="environment">Environmental account</h2>' in html
    assert "<dt>Machines reused (delivered)</dt><dd>6 (desktop tower 4, laptop 2)</dd>" in html
    assert "<dt>Greenhouse-gas emissions avoided</dt><dd>1,182.8\u00a0kg CO2e</dd>" in html
    assert "not computed (factor unset: desktop tower, laptop)" in html
    assert "Factors table 2026.1 of 2026-12-06." in html
    assert "ADEME-Arcep 2022, desktop computer without screen" in html
    french = client.get("/dashboard/report",
                        params={"from": "2026-01-01", "to": "2026-12-31", "lang": "fr"}).text  # fmt: skip
    assert "Bilan environnemental" in french and "Facteurs et sources" in french
    data = client.get("/dashboard/report.json",
                      params={"from": "2026-01-01", "to": "2026-12-31"}).json()  # fmt: skip
    assert data["environment"]["machines_reused"] == data["delivered"] == 6


@pytest.mark.parametrize(
    ("lang", "title", "co2e"),
    [("en", "Greenhouse-gas emissions avoided", "1,182.8 kg CO2e"),
     ("fr", "Émissions de gaz à effet de serre évitées", "1 182,8 kg CO2e")],
)  # fmt: skip
def test_the_cli_report_carries_the_account(
    ledger: tuple[Store, Seeded], tmp_path: Path, lang: str, title: str, co2e: str
) -> None:
    import shutil
    import subprocess

    from bench_agent.ledger.cli import main

    store, _seeded = ledger
    period = ["--from", "2026-01-01", "--to", "2026-12-31"]
    out = tmp_path / "report.json"
    assert main(["report", "--db", store.url, *period, "--output", str(out)]) == 0
    assert json.loads(out.read_text())["environment"]["machines_by_category"] == {
        "desktop": 4, "laptop": 2
    }  # fmt: skip
    pdf = tmp_path / "report.pdf"
    argv = ["--lang", lang, "report", "--db", store.url, *period, "--format", "pdf", "-o", str(pdf)]
    assert main(argv) == 0
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext (poppler-utils) is missing; run scripts/setup --test"
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    line = next(li for li in text.splitlines() if li.startswith(title))
    assert " ".join(line[len(title) :].split()) == co2e  # on the title's line, in its language
    assert "ADEME-Arcep 2022" in text


def test_the_account_on_postgresql() -> None:
    """The same year on a PostgreSQL ledger: the same machines, categories and figures."""
    store = Store(pg_cluster().new_database())
    try:
        store.upgrade()
        lot = seed_demo(store, stations=1, assets=0, lots=1, seed=8, heartbeats=False).lots[0]
        add_machine(store, 1, "tower", lot, [("received", at(2)), ("given", at(3))])
        add_machine(store, 2, "convertible", lot,
                    [("received", at(2)), ("given", at(3)), ("returned", at(4)), ("given", at(5))])  # fmt: skip
        add_machine(store, 3, "tower", lot, [("received", at(2)), ("given", at(1, 2, 2027))])
        report = queries.load_report(store, YEAR_START, YEAR_END, lot)
        assert report.environment is not None and report.delivered == 2
        assert report.environment.machines == {"desktop": 1, "laptop": 1}
        assert report.environment.co2e_kg.value == pytest.approx(DESKTOP_CO2E + LAPTOP_CO2E)
        assert env.load_account(store, lot=lot).machines_reused == 3
    finally:
        store.dispose()


def test_serve_refuses_to_start_with_a_bad_factors_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench_agent.ledger.cli import main

    path = write(tmp_path, "[categories.desktop]\nco2e_kg = -1\n")
    monkeypatch.setenv(env.OVERRIDE_VARIABLE, str(path))
    database = tmp_path / "never.sqlite"
    assert main(["serve", "--db", f"sqlite:///{database}", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{path}, field categories.desktop.co2e_kg: -1 is negative" in err
    assert not database.exists()  # refused before anything was opened or served
