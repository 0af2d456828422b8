"""Dashboard pages against a real ledger app on a seeded SQLite store (in-process HTTP client)."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from fastapi.testclient import TestClient

from bench_agent.ledger import asset_queries as machines
from bench_agent.ledger import board_queries as queries
from bench_agent.ledger.app import create_app
from bench_agent.ledger.dashboard.seed import Seeded, seed_demo
from bench_agent.ledger.dashboard.strings import TEMPLATE_STRINGS
from bench_agent.ledger.db import Store
from bench_agent.ledger.models import Heartbeat, Station
from tests.conftest import FIXTURES
from tests.test_ledger_support import dashboard_login

TEMPLATES = Path(__file__).parent.parent / "bench_agent" / "ledger" / "dashboard" / "templates"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Seeded]]:
    folder = tmp_path_factory.mktemp("ledger")
    store = Store(f"sqlite:///{folder / 'ledger.sqlite'}")
    store.upgrade()
    seeded = seed_demo(store, stations=5, assets=80, lots=3, seed=4)
    yield store, seeded
    store.dispose()


@pytest.fixture(scope="module")
def client(seeded: tuple[Store, Seeded]) -> Iterator[TestClient]:
    store, data = seeded
    with TestClient(create_app(store)) as http:
        response = dashboard_login(http, *data.supervisor)
        assert response.status_code == 303
        yield http


def test_every_template_string_is_listed_for_translation() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r'_\("([^"]*)"', template.read_text()))
    assert used == set(TEMPLATE_STRINGS)


def test_pages_need_a_supervisor_login(seeded: tuple[Store, Seeded]) -> None:
    store, data = seeded
    with TestClient(create_app(store)) as anonymous:
        response = anonymous.get("/dashboard/lots", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/login?next=/dashboard/lots"
        wrong = dashboard_login(anonymous, data.supervisor[0], "nope")
        assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
        # A station token is not a supervisor session.
        token = next(iter(data.tokens.values()))
        assert (
            anonymous.get(
                "/dashboard/api/board", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 403
        )
        # An outside "next" never becomes an open redirect.
        response = dashboard_login(anonymous, *data.supervisor, next="https://evil.example")
        assert response.headers["location"] == "/dashboard/"


@pytest.mark.parametrize(
    "path,english,french",
    [
        ("/dashboard/", "Station board", "Tableau des postes"),
        ("/dashboard/lots", "Donor lots", "Lots des donateurs"),
        ("/dashboard/assets", "Machines", "Machines"),
        ("/dashboard/distribution", "Machines with a beneficiary", "Machines chez un bénéficiaire"),
        ("/dashboard/report", "Machines refurbished", "Machines reconditionnées"),
    ],
)
def test_pages_render_in_both_languages(
    client: TestClient, path: str, english: str, french: str
) -> None:
    en = client.get(path, params={"lang": "en"})
    assert en.status_code == 200 and english in en.text and '<html lang="en">' in en.text
    fr = client.get(path, params={"lang": "fr"})
    assert fr.status_code == 200 and french in fr.text and '<html lang="fr">' in fr.text
    # The choice sticks in a cookie: the next page without ?lang stays French.
    assert 'lang="fr"' in client.get(path).text
    client.get(path, params={"lang": "en"})
    for page in (en.text, fr.text):
        assert 'class="skip" href="#main"' in page and 'id="main"' in page


def test_board_statuses(seeded: tuple[Store, Seeded]) -> None:
    store, _data = seeded
    now = datetime.now(UTC)
    with store.write() as session:
        rows = {s.name: s.id for s in session.query(Station)}
        beats = {h.station_id: h for h in session.query(Heartbeat)}
        beats[rows["bench-001"]].received_at = now - timedelta(seconds=500)
        beats[rows["bench-002"]].state, beats[rows["bench-002"]].received_at = "wiping", now
        beats[rows["bench-002"]].progress = 0.5
        beats[rows["bench-003"]].state, beats[rows["bench-003"]].received_at = "idle", now
    settings = queries.BoardSettings(offline_after_s=60, stuck_after_s=0.3)
    tracker = queries.ProgressTracker()
    first = {v.name: v.status for v in queries.board(store, settings, tracker)}
    assert first["bench-001"] == "offline"
    assert first["bench-002"] == "working"
    assert first["bench-003"] == "idle"
    time.sleep(0.4)
    # Same step, same progress 0.4 s later: stuck. Any movement makes it work again.
    assert {v.name: v.status for v in queries.board(store, settings, tracker)}[
        "bench-002"
    ] == "stuck"
    with store.write() as session:
        beat = session.get(Heartbeat, rows["bench-002"])
        assert beat is not None
        beat.progress = 0.51
    assert {v.name: v.status for v in queries.board(store, settings, tracker)}[
        "bench-002"
    ] == "working"


def test_board_rows_say_state_in_words_and_symbols(client: TestClient) -> None:
    page = client.get("/dashboard/", params={"lang": "en"}).text
    rows = re.findall(
        r'<tr id="station-bench-\d+" class="status-(\w+)"[^>]*>(.*?)</tr>', page, re.S
    )
    assert len(rows) == 5
    words = {"working": "working", "idle": "idle", "stuck": "stuck", "offline": "offline"}
    for status, html in rows:
        assert words[status] in html and 'aria-hidden="true"' in html


def test_board_api_for_the_terminal_board(client: TestClient) -> None:
    data = client.get("/dashboard/api/board").json()
    assert [s["name"] for s in data["stations"]] == [f"bench-{i:03d}" for i in range(1, 6)]
    assert {"tested", "kept", "rejected", "wiped", "packed"} <= set(data["week"])


def test_lot_page_and_certificates_zip(client: TestClient, seeded: tuple[Store, Seeded]) -> None:
    _store, data = seeded
    lot = data.lots[0]
    page = client.get(f"/dashboard/lots/{lot}", params={"lang": "en"})
    assert page.status_code == 200
    tags = re.findall(r'href="/dashboard/assets/\d+">(BSN-\d+)<', page.text)
    assert tags and all(int(t[4:]) % 3 == 0 for t in tags)  # lots are dealt round-robin
    archive = zipfile.ZipFile(
        io.BytesIO(client.get(f"/dashboard/lots/{lot}/certificates.zip").content)
    )
    names = archive.namelist()
    jsons = [n for n in names if n.endswith(".json")]
    assert len(jsons) == len(tags)
    assert len([n for n in names if n.endswith(".pdf")]) == len(jsons)
    assert archive.read(names[names.index(jsons[0]) + 1])[:4] == b"%PDF"
    first = json.loads(archive.read(jsons[0]))
    assert first["source"]["lot"] == lot
    assert client.get("/dashboard/lots/NOPE").status_code == 404


def test_asset_page_documents(client: TestClient) -> None:
    page = client.get("/dashboard/assets/4", params={"lang": "en"})
    assert page.status_code == 200 and "Machine BSN-000003" in page.text
    assert "Timeline" in page.text and "received" in page.text
    glpi = client.get("/dashboard/assets/4/glpi.json").json()
    schema = json.loads((FIXTURES / "glpi" / "glpi-inventory.schema.json").read_text())
    jsonschema.Draft7Validator(schema).validate(glpi)
    assert glpi["content"]["bios"]["assettag"] == "BSN-000003"
    label = client.get("/dashboard/assets/4/label.pdf")
    assert label.status_code == 200 and label.content[:4] == b"%PDF"
    cert = client.get("/dashboard/certificates/cert-0000003.json").json()
    assert cert["source"]["asset_tag"] == "BSN-000003"
    assert client.get("/dashboard/certificates/cert-0000003.pdf").content[:4] == b"%PDF"
    assert client.get("/dashboard/assets/99999").status_code == 404


def test_asset_csv_export_lists_every_machine(client: TestClient) -> None:
    text = client.get("/dashboard/export/assets.csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 80
    assert rows[0]["asset_tag"] == "BSN-000000"
    delivered = [r for r in rows if r["delivered_at"]]
    assert delivered and all(r["maintenance_end"] and r["beneficiary_category"] for r in delivered)


def test_report_page_and_downloads(client: TestClient, seeded: tuple[Store, Seeded]) -> None:
    store, data = seeded
    today = datetime.now(UTC).date()
    start = (today - timedelta(days=365)).isoformat()
    expected = queries.load_report(store, today - timedelta(days=365), today)
    assert expected.received == 80  # every seeded machine arrived in the last 60 days
    page = client.get(
        "/dashboard/report", params={"from": start, "to": today.isoformat(), "lang": "en"}
    )
    assert re.search(r"<dt>Machines received</dt><dd>80</dd>", page.text)
    as_json = client.get(
        "/dashboard/report.json", params={"from": start, "to": today.isoformat()}
    ).json()
    assert as_json["received"] == 80 and as_json["refurbished"] == expected.refurbished
    lot = client.get(
        "/dashboard/report.json",
        params={"from": start, "to": today.isoformat(), "lot": data.lots[1]},
    ).json()
    assert lot["received"] == len(range(1, 80, 3))
    assert (
        client.get(
            "/dashboard/report.pdf", params={"from": start, "to": today.isoformat()}
        ).content[:4]
        == b"%PDF"
    )
    bad = client.get(
        "/dashboard/report", params={"from": "2026-02-01", "to": "2026-01-01", "lang": "en"}
    )
    assert "The end date is before the start date." in bad.text


def test_distribution_registry(client: TestClient, seeded: tuple[Store, Seeded]) -> None:
    store, _data = seeded
    dist = machines.distribution(store)
    assert sum(dist.by_category.values()) == len(dist.deliveries) > 0
    page = client.get("/dashboard/distribution", params={"lang": "fr"}).text
    assert "Maintenance se terminant dans les 90 jours" in page
    # Maintenance runs 3 years from packing, the date the label carries.
    from bench_agent.ledger.models import LifecycleEvent

    with store.session() as session:
        for delivery in dist.deliveries[:5]:
            packed = (
                session.query(LifecycleEvent)
                .filter_by(asset_id=delivery.asset_id, kind="packed")
                .one()
                .at
            )
            assert delivery.maintenance_end == packed.date().replace(year=packed.year + 3)


def test_public_verification_page_checks_signatures(
    client: TestClient, seeded: tuple[Store, Seeded], tmp_path: Path
) -> None:
    from bench_agent.ledger.models import Asset, Certificate, LifecycleEvent, Record, StationKey
    from bench_agent.signing import key_id, load_or_create_key, public_key_text, sign_document

    store, _data = seeded
    key = load_or_create_key(tmp_path / "station.key")
    public = key.public_key()
    signed = sign_document(
        {"kind": "bench-agent/sanitization-certificate", "certificate_id": "cert-signed-1",
         "sanitization": {"method": "zero", "status": "erased"}},
        key,
    )  # fmt: skip
    forged = json.loads(json.dumps(signed))
    forged["certificate_id"] = "cert-forged-1"
    forged["sanitization"]["method"] = "random"
    with store.write() as session:
        asset = session.query(Asset).filter_by(asset_tag="BSN-000010").one()
        # The key is the one of the station that sent the machine's record (issue 14: a key
        # only vouches for certificates its own station sent).
        record = session.query(Record).filter_by(asset_id=asset.id).first()
        station = session.get(Station, record.station_id)
        session.add(
            StationKey(
                station_id=station.id, key_id=key_id(public), public_key=public_key_text(public)
            )
        )
        for doc in (signed, forged):
            session.add(
                Certificate(certificate_id=doc["certificate_id"], record_id=record.id, asset_id=asset.id,
                            method=doc["sanitization"]["method"], status="erased", body=json.dumps(doc))
            )  # fmt: skip
        station_name = station.name
        packed = session.query(LifecycleEvent).filter_by(asset_id=asset.id, kind="packed").first()
    with TestClient(client.app) as anonymous:  # no login: the page behind the label's QR code
        page = anonymous.get("/verify/BSN-000010", params={"lang": "en"})
        assert page.status_code == 200
        text = re.sub(r"<[^>]+>", " ", page.text)
        assert re.search(
            rf"cert-signed-1\s+zero\s+erased\s+\S+\s+✔\s+valid, station {station_name}", text
        )
        assert re.search(r"cert-forged-1\s+random\s+erased\s+\S+\s+✖", text)
        assert re.search(r"cert-0000010\s.*?not signed", text, re.S)
        if packed is not None:
            assert "Maintenance until" in text
        assert "operator" not in page.text.lower() and "B-0000" not in page.text  # nobody named
        assert anonymous.get("/verify/NOPE-9").status_code == 404


def test_dashboard_on_postgresql(tmp_path: Path) -> None:
    """The same pages and figures on PostgreSQL (stricter GROUP BY, real sequences)."""
    from tests.test_ledger_support import pg_cluster

    store = Store(pg_cluster().new_database())
    store.upgrade()
    data = seed_demo(store, stations=3, assets=24, lots=2, seed=5)
    try:
        with TestClient(create_app(store)) as http:
            assert dashboard_login(http, *data.supervisor).status_code == 303
            for path in (
                "/dashboard/", "/dashboard/lots", f"/dashboard/lots/{data.lots[0]}",
                "/dashboard/assets?q=BSN", "/dashboard/assets/2", "/dashboard/distribution",
                "/dashboard/report", "/dashboard/export/assets.csv", "/verify/BSN-000001",
            ):  # fmt: skip
                # Not followed: a failed login would redirect every page to the login form (200).
                assert http.get(path, follow_redirects=False).status_code == 200, path
            lots = {lot.code: lot for lot in machines.lot_summaries(store)}
            assert lots[data.lots[0]].received == 12
            today = datetime.now(UTC).date()
            assert queries.load_report(store, today - timedelta(days=365), today).received == 24
            # The ledger still inserts after the seeded rows (sequences moved past them).
            token = data.tokens["bench-001"]
            beat = http.post(
                "/api/v1/heartbeats",
                json={"state": "idle"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert beat.status_code == 200
            from bench_agent.ledger.models import Asset

            with store.write() as session:
                session.add(Asset(asset_tag="BSN-NEW"))
            with store.session() as session:
                new = session.query(Asset).filter_by(asset_tag="BSN-NEW").one()
                assert new.id == 25
    finally:
        store.dispose()


def test_a_training_bench_is_marked_on_the_board(
    client: TestClient, seeded: tuple[Store, Seeded]
) -> None:
    _store, data = seeded
    token = data.tokens["bench-005"]
    response = client.post(
        "/api/v1/heartbeats",
        json={"state": "wiping", "step": "wipe sda", "progress": 0.2, "training": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200

    def board_row() -> str:
        page = client.get("/dashboard/", params={"lang": "fr"}).text
        found = re.search(r'<tr id="station-bench-005".*?</tr>', page, re.S)
        return found.group(0) if found else ""

    # A heartbeat is acknowledged after 25 ms even when its commit waits (a busy disk).
    deadline = time.monotonic() + 10
    while "entraînement" not in board_row() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "entraînement" in board_row()
    page = client.get("/dashboard/", params={"lang": "fr"}).text
    other = re.search(r'<tr id="station-bench-004".*?</tr>', page, re.S)
    assert other and "entraînement" not in other.group(0)
    stations = {s["name"]: s for s in client.get("/dashboard/api/board").json()["stations"]}
    assert stations["bench-005"]["training"] is True and stations["bench-004"]["training"] is False
    client.get("/dashboard/", params={"lang": "en"})
