"""The record and the supervisor's pages say what a verdict does not prove: an answer given
without its test, "not applicable", a stopped and re-run wipe, automatic checks that never ran,
and what is still to do on a machine kept "to complete"."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bench_agent.i18n import translate
from bench_agent.ledger.app import create_app
from bench_agent.ledger.dashboard.seed import seed_demo
from bench_agent.ledger.db import Store
from bench_agent.ledger.models import Record
from bench_agent.models.record import BenchRecord, GuidedCheck, Interruption
from bench_agent.models.verdict import Verdict
from bench_agent.workflow.caveats import record_caveats


def doubtful(record: BenchRecord) -> BenchRecord:
    return record.model_copy(
        update={
            "guided_checks": [
                GuidedCheck(id="keyboard", status="pass", tested=False),
                GuidedCheck(id="mouse", status="pass", tested=True),
                GuidedCheck(id="optical", status="not_applicable", tested=False),
                GuidedCheck(id="sound", status="not_done"),
            ],
            "auto_checks": [],
            "interruptions": [
                Interruption(
                    step="wipe",
                    detected_at=datetime(2026, 12, 6, 10, 5, tzinfo=UTC),
                    confirmed_by="ana",
                )
            ],
            "verdict": Verdict(
                outcome="remediate", actions=["install 1 GB of RAM", "replace the mouse"]
            ),
        }
    )


def test_caveats_name_each_doubt_and_only_those() -> None:
    from bench_agent.models.inventory import Inventory

    plain = BenchRecord(station="bench-1", inventory=Inventory())
    record = doubtful(plain)
    kinds = [c.kind for c in record_caveats(record)]
    assert kinds == ["untested", "not_applicable", "not_done", "auto_skipped", "interrupted",
                     "pending"]  # fmt: skip
    texts = [c.render(lambda m, **p: translate(m, "fr", **p)) for c in record_caveats(record)]
    assert texts[0] == "Clavier : répondu « ça marche » sans lancer son test."
    assert "sans objet" in texts[1] and "pas compté comme fonctionnel" in texts[1]
    assert "install 1 GB of RAM; replace the mouse" in texts[-1]
    # A tested "works" is no doubt; a record from before the field existed says nothing.
    assert not any("Souris" in t for t in texts)
    unknown = plain.model_copy(update={"guided_checks": [GuidedCheck(id="mouse", status="pass")]})
    assert [c.kind for c in record_caveats(unknown)] == ["auto_skipped"]


def test_the_asset_page_shows_them_in_the_readers_language(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    store.upgrade()
    data = seed_demo(store, stations=2, assets=6, lots=1, seed=3)
    with store.session() as session:
        row = session.scalars(select(Record).where(Record.training.is_(False))).first()
        assert row is not None and row.asset_id is not None
        row.body = doubtful(BenchRecord.model_validate_json(row.body)).model_dump_json()
        asset_id = row.asset_id
        session.commit()
    try:
        with TestClient(create_app(store)) as client:
            page = client.get("/dashboard/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            name, password = data.supervisor
            form = {
                "name": name,
                "password": password,
                **({"csrf": token.group(1)} if token else {}),
            }
            assert (
                client.post("/dashboard/login", data=form, follow_redirects=False).status_code
                == 303
            )
            french = client.get(f"/dashboard/assets/{asset_id}", params={"lang": "fr"}).text
            english = client.get(f"/dashboard/assets/{asset_id}", params={"lang": "en"}).text
    finally:
        store.dispose()
    assert "Ce que la fiche du banc ne prouve pas" in french
    assert 'data-caveat="untested"' in french and "sans lancer son test" in french
    assert "2026-12-06 10:05 : l&#39;effacement — arrêt ou interruption" in french
    assert "Gardée, à compléter" in french
    assert "Keyboard: answered &#39;it works&#39; without running its test." in english


def test_the_label_of_a_machine_kept_to_complete_says_what_is_left() -> None:
    from bench_agent.i18n import set_language
    from bench_agent.models.inventory import Inventory
    from bench_agent.workflow.label import label_lines
    from bench_agent.workflow.state import MachineState

    record = doubtful(BenchRecord(station="bench-1", inventory=Inventory()))
    state = MachineState(
        machine_id="m-1",
        station="bench-1",
        asset_tag="BSN-1",
        verdict=record.verdict,
        guided=record.guided_checks,
    )
    set_language("fr")
    try:
        lines = label_lines(state)
    finally:
        set_language("en")
    assert "À faire : install 1 GB of RAM" in lines and "À faire : replace the mouse" in lines
    assert "Non confirmé par un test : Clavier, Lecteur optique" in lines


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_guided_screen_records_whether_the_test_ran(agent_home: Path) -> None:
    from tests.test_tui_snapshots import make_app

    app = make_app(agent_home, "guided", "en", "bench-contrast-dark")
    async with app.run_test(size=(100, 37)) as pilot:
        await pilot.pause()
        app.screen.query_one("#act-pass").press()  # optical: "works", its test never run
        await pilot.pause(0.3)
        app.screen.query_one("#act-try").press()  # keyboard: the key test first…
        await pilot.pause(0.3)
        await pilot.press("enter")  # …ended by the operator's own key
        await pilot.pause(0.5)
        app.screen.query_one("#act-pass").press()
        await pilot.pause(0.3)
        shown = " ".join(str(label.render()) for label in app.screen.query(".guided-row"))
    by_id = {c.id: c for c in app.wf.state.guided}
    assert by_id["optical"].status == "pass" and by_id["optical"].tested is False
    assert by_id["keyboard"].status == "pass" and by_id["keyboard"].tested is True
    assert "Keys not pressed" in by_id["keyboard"].note  # the test's summary is kept
    assert "Optical drive (answered without its test)" in shown
    assert "Keyboard (answered" not in shown
