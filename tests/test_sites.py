"""Sites on one ledger (issue 16 item 1): two sites share a real PostgreSQL ledger and a site-B
supervisor gets nothing of site A through any GET route of the app (the routes are enumerated
from the app itself, so a new route without a case here fails the test); a station of site B
cannot post a record for a machine or lot of site A; SQLite keeps one site."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bench_agent.errors import InputError
from bench_agent.sanitize.certificate import CERTIFICATE_KIND
from bench_agent.signing import generate_key, sign_document
from tests.test_ledger_support import Ledger, make_record, publish_key, signed, start_ledger

# Every GET route: the site-A value its path parameter takes (None: no parameter).
NOW = datetime.now(UTC)
STATION_ONLY = {"/api/v1/stations/{name}/key", "/api/v1/parts/{code}/label.pdf"}
PUBLIC = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/api/v1/health"}


def _get_routes(routes: Any) -> Iterator[str]:
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _get_routes(inner.routes)
        elif "GET" in (getattr(route, "methods", None) or ()):
            yield str(route.path)


@pytest.fixture
def two_sites(tmp_path: Path) -> Iterator[tuple[Ledger, dict[str, Any]]]:
    from bench_agent.ledger.auth import create_session, hash_password
    from bench_agent.ledger.models import Lot, Part, User
    from bench_agent.ledger.sites import add_site

    ledger = start_ledger("postgresql", tmp_path)
    try:
        site_b = add_site(ledger.store, "poitiers", "Poitiers", "cli:test")
        with ledger.store.write() as session:
            session.execute(
                text("UPDATE stations SET site_id = :s WHERE name = 'bench-2'"), {"s": site_b.id}
            )
            session.add(
                User(
                    name="bob",
                    role="supervisor",
                    password_hash=hash_password("bob-pw-12345"),
                    site_id=site_b.id,
                )
            )
        bob = create_session(ledger.store, "bob", "bob-pw-12345")
        assert bob is not None
        keys = {s: generate_key(tmp_path / f"{s}.key") for s in ("bench-1", "bench-2")}
        for station, key in keys.items():
            publish_key(ledger, station, key)
        certificate = sign_document(
            {
                "kind": CERTIFICATE_KIND,
                "certificate_id": "cert-site-a",
                "media": {"serial": "WD-SITEA", "model": "WD800", "manufacturer": "WDC"},
                "sanitization": {"method": "zero", "status": "erased", "level": "clear"},
                "station": "bench-1",
            },
            keys["bench-1"],
        )
        a = signed(
            make_record("bench-1", n=1, lot="LOT-A", certificates=[certificate], finished_at=NOW),
            keys["bench-1"],
        )
        b = signed(make_record("bench-2", n=2, lot="LOT-B", finished_at=NOW), keys["bench-2"])
        for station, document in (("bench-1", a), ("bench-2", b)):
            answer = httpx.post(
                ledger.api("/records"), json=document, headers=ledger.station_headers(station)
            )
            assert answer.status_code == 201, answer.text
        called = httpx.post(
            ledger.api("/help"), json={"operator": "Lea"}, headers=ledger.station_headers("bench-1")
        )
        assert called.status_code == 200, called.text  # site A's call for help
        with ledger.store.write() as session:  # site A's lot and part
            session.add(Lot(code="LOT-A", donor="Donor A", site_id=1))
            session.add(
                Part(
                    code="P-A1",
                    identity="test:P-A1",
                    kind="optical",
                    state="in_stock",
                    description="DVD drive",
                    bin="A1",
                    site_id=1,
                )
            )
        yield ledger, {"bob": bob[0], "a": a, "b": b, "keys": keys}
    finally:
        ledger.server.stop()
        ledger.store.dispose()


def test_a_site_b_supervisor_gets_nothing_of_site_a_anywhere(
    two_sites: tuple[Ledger, dict[str, Any]],
) -> None:
    ledger, ctx = two_sites
    asset_a = ledger.count("SELECT id FROM assets WHERE serial = 'SN000001'")
    values = {
        "record_id": ctx["a"]["record_id"],
        "asset_id": str(asset_a),
        "code": "LOT-A",
        "name": "bench-1",
        "tag": "AT-00001",
        "station": "bench-1",
        "certificate_id": "cert-site-a",
        "fmt": "csv",
    }
    secrets = (
        "SN000001",
        "AT-00001",
        ctx["a"]["record_id"],
        "bench-1",
        "LOT-A",
        "Donor A",
        "cert-site-a",
        "WD-SITEA",
        "P-A1",
    )
    bob = {"Authorization": f"Bearer {ctx['bob']}"}
    cookies = {"bench_session": ctx["bob"]}
    site_a_cookie = {"bench_session": ledger.supervisor_token}
    checked = []
    for path in sorted(set(_get_routes(ledger.server.app.routes))):
        if path in PUBLIC or path.startswith("/api/v1/images"):
            continue
        url = path.replace("/parts/{code}", "/parts/P-A1")
        for name, value in values.items():
            url = url.replace("{" + name + "}", value)
        assert "{" not in url, f"{path}: no site-A value for its parameter: add one here"
        if path in ("/dashboard/events",):
            continue  # the live stream: checked below
        query = "?from=2000-01-01&to=2100-01-01" if "report" in path else ""
        answer = httpx.get(ledger.url + url + query, headers=bob, cookies=cookies, timeout=30)
        body = answer.content.decode("latin-1")
        # A 404 may repeat the id asked for (the same answer as a missing id), nothing else.
        leaked = [s for s in secrets if s in body and not (answer.status_code == 404 and s in url)]
        assert not leaked, f"{path} ({answer.status_code}) shows site A's {leaked}"
        if "{" in path and path not in ("/verify/{tag}", "/dashboard/report.{fmt}"):
            # The same answer as for an id that does not exist: existence does not leak.
            missing_url = path
            for name in values:
                missing_url = missing_url.replace("{" + name + "}", "999999")
            missing = httpx.get(ledger.url + missing_url, headers=bob, cookies=cookies)
            assert answer.status_code == missing.status_code != 200, path
            # ...while site A's own supervisor gets it (the value is real: the check can fail).
            own = httpx.get(ledger.url + url, headers=ledger.supervisor, cookies=site_a_cookie)
            if path not in STATION_ONLY:
                assert own.status_code == 200, f"{path}: {own.status_code} for site A"
        checked.append(path)
    assert len(checked) >= 25
    # The same pages show site A to its own supervisor (the check above can fail).
    mine = httpx.get(ledger.api(f"/assets/{asset_a}"), headers=ledger.supervisor)
    assert mine.status_code == 200 and "SN000001" in mine.text
    theirs = httpx.get(ledger.api(f"/assets/{asset_a}"), headers=bob)
    missing = httpx.get(ledger.api("/assets/999999"), headers=bob)
    assert theirs.status_code == missing.status_code == 404
    # ids do not leak existence: the same answer, but for the id asked for
    assert theirs.text.replace(str(asset_a), "ID") == missing.text.replace("999999", "ID")
    # The programme administrator sees both sites.
    asset_b = ledger.count("SELECT id FROM assets WHERE serial = 'SN000002'")
    for asset_id, serial in ((asset_a, "SN000001"), (asset_b, "SN000002")):
        seen = httpx.get(ledger.api(f"/assets/{asset_id}"), headers=ledger.admin)
        assert seen.status_code == 200 and serial in seen.text
    # /verify is public and programme-wide: a tag resolves to its one machine.
    assert httpx.get(ledger.url + "/verify/AT-00002").status_code == 200


def test_a_station_of_site_b_cannot_post_for_a_machine_or_lot_of_site_a(
    two_sites: tuple[Ledger, dict[str, Any]],
) -> None:
    ledger, ctx = two_sites
    key = ctx["keys"]["bench-2"]
    headers = ledger.station_headers("bench-2")
    machine = signed(make_record("bench-2", n=1, lot="LOT-B"), key)  # site A's machine
    answer = httpx.post(ledger.api("/records"), json=machine, headers=headers)
    assert answer.status_code == 403 and answer.headers["x-bench-refusal"] == "site-mismatch"
    assert "another site" in answer.json()["detail"]
    # LOT-A is site A's lot (the fixture)
    lot = signed(make_record("bench-2", n=7, lot="LOT-A"), key)
    answer = httpx.post(ledger.api("/records"), json=lot, headers=headers)
    assert answer.status_code == 403 and "LOT-A" in answer.json()["detail"]
    assert ledger.count("SELECT COUNT(*) FROM records") == 2


def test_sqlite_keeps_one_site_and_refuses_a_second(tmp_path: Path) -> None:
    from bench_agent.ledger.db import Store
    from bench_agent.ledger.sites import add_site, list_sites

    store = Store(f"sqlite:///{tmp_path / 'l.sqlite'}")
    store.upgrade()
    try:
        assert [s["code"] for s in list_sites(store)] == ["MAIN"]
        with pytest.raises(InputError, match="PostgreSQL"):
            add_site(store, "POITIERS", "Poitiers", "cli:test")
    finally:
        store.dispose()


def _stream_until_summary(ledger: Ledger, cookies: dict[str, str]) -> str:
    seen = ""
    with httpx.stream(
        "GET", ledger.url + "/dashboard/events", cookies=cookies, timeout=30
    ) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            seen += line + "\n"
            if line.startswith("event: summary"):
                break
    return seen


def test_the_live_board_stream_shows_a_site_only_its_own_stations(
    two_sites: tuple[Ledger, dict[str, Any]],
) -> None:
    ledger, ctx = two_sites
    # Site B's supervisor first: the one poller it starts must still serve site A.
    site_b = _stream_until_summary(ledger, {"bench_session": ctx["bob"]})
    assert "bench-2" in site_b and "bench-1" not in site_b
    site_a = _stream_until_summary(ledger, {"bench_session": ledger.supervisor_token})
    assert "bench-1" in site_a and "bench-2" not in site_a
    admin = _stream_until_summary(ledger, {"bench_session": ledger.admin_token})
    assert "bench-1" in admin and "bench-2" in admin


def test_a_part_stays_in_its_site(two_sites: tuple[Ledger, dict[str, Any]]) -> None:
    from bench_agent.ledger.models import Part

    ledger, _ctx = two_sites
    with ledger.store.write() as session:
        session.add(
            Part(
                code="P-B1",
                identity="test:P-B1",
                kind="optical",
                state="in_stock",
                description="DVD drive",
                bin="B3",
                site_id=2,
            )
        )
    fit = "/parts/P-B1/fit"
    # A bench of site B fitting its part into site A's machine: refused, with the reason.
    into_a = httpx.post(
        ledger.api(fit), json={"asset_tag": "AT-00001"}, headers=ledger.station_headers("bench-2")
    )
    assert into_a.status_code == 409 and "another site" in into_a.json()["detail"]
    # A bench of site A does not even find site B's part (same answer as a missing code).
    from_a = httpx.post(
        ledger.api(fit), json={"asset_tag": "AT-00001"}, headers=ledger.station_headers("bench-1")
    )
    none = httpx.post(
        ledger.api("/parts/P-ZZ/fit"),
        json={"asset_tag": "AT-00001"},
        headers=ledger.station_headers("bench-1"),
    )
    assert from_a.status_code == none.status_code == 404
    assert ledger.count("SELECT COUNT(*) FROM parts WHERE state = 'in_stock'") == 2
    # Into its own site's machine it goes.
    own = httpx.post(
        ledger.api(fit), json={"asset_tag": "AT-00002"}, headers=ledger.station_headers("bench-2")
    )
    assert own.status_code == 200, own.text


def test_the_cli_adds_sites_stations_supervisors_and_reports_per_site(tmp_path: Path) -> None:
    from tests.test_ledger_cli import run
    from tests.test_ledger_support import pg_cluster

    db = pg_cluster().new_database()
    assert run("db", "upgrade", "--db", db).returncode == 0
    added = run("site", "add", "poitiers", "--name", "Poitiers", "--db", db)
    assert added.returncode == 0, added.stderr
    again = run("site", "add", "POITIERS", "--db", db)
    assert again.returncode != 0 and "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    station = run("station", "add", "bench-p1", "--site", "POITIERS", "--db", db)
    assert station.returncode == 0, station.stderr
    password = "a long password\n"
    assert (
        run("user", "add", "paul", "--site", "POITIERS", "--db", db, stdin=password).returncode == 0
    )
    unknown = run("user", "add", "zoe", "--site", "NOWHERE", "--db", db, stdin=password)
    assert unknown.returncode != 0 and "NOWHERE" in unknown.stderr
    listing = run("site", "list", "--db", db).stdout.splitlines()
    assert listing == ["MAIN\t0\tMain workshop", "POITIERS\t1\tPoitiers"]
    report = run("report", "--from", "2026-01-01", "--to", "2026-12-31", "--site", "POITIERS",
                 "--db", db)  # fmt: skip
    assert report.returncode == 0 and '"tested": 0' in report.stdout, report.stderr
    sqlite = f"sqlite:///{tmp_path / 'one.sqlite'}"
    assert run("db", "upgrade", "--db", sqlite).returncode == 0
    refused = run("site", "add", "POITIERS", "--db", sqlite)
    assert refused.returncode != 0 and "PostgreSQL" in refused.stderr


def test_reports_count_a_site_for_its_supervisor_and_any_site_for_the_admin(
    two_sites: tuple[Ledger, dict[str, Any]],
) -> None:
    ledger, ctx = two_sites
    period = "from=2000-01-01&to=2100-12-31"

    def tested(token: str, extra: str = "") -> Any:
        answer = httpx.get(
            f"{ledger.url}/dashboard/report.json?{period}{extra}",
            cookies={"bench_session": token},
        )
        return answer.json()["tested"] if answer.status_code == 200 else answer.status_code

    assert tested(ctx["bob"]) == 1  # site B's one machine, not site A's
    assert tested(ledger.supervisor_token) == 1
    assert tested(ledger.admin_token) == 2  # the programme
    assert tested(ledger.admin_token, "&site=POITIERS") == 1
    assert tested(ledger.admin_token, "&site=main") == 1
    assert tested(ledger.admin_token, "&site=NOWHERE") == 400
    assert tested(ctx["bob"], "&site=MAIN") == 1  # a supervisor cannot pick another site
    page = httpx.get(
        f"{ledger.url}/dashboard/report?{period}&site=POITIERS",
        cookies={"bench_session": ledger.admin_token},
    ).text
    assert '<option value="POITIERS" selected>' in page and "site=POITIERS" in page
    own = httpx.get(
        f"{ledger.url}/dashboard/report?{period}", cookies={"bench_session": ctx["bob"]}
    ).text
    assert 'name="site"' not in own


def test_the_migration_moves_an_existing_ledger_into_the_default_site() -> None:
    from bench_agent.ledger.db import Store
    from bench_agent.ledger.migrations import upgrade
    from tests.test_ledger_cli import run
    from tests.test_ledger_support import pg_cluster

    db = pg_cluster().new_database()
    store = Store(db)
    upgrade(store.engine, "0003")  # a ledger from before the wider audit chain and sites
    with store.engine.begin() as conn:
        for name, role in (("alice", "admin"), ("sam", "supervisor")):
            conn.execute(
                text("INSERT INTO users (name, role, password_hash, disabled, created_at, "
                     "created_by) VALUES (:n, :r, 'x', false, now(), 'cli:x')"),
                {"n": name, "r": role},
            )  # fmt: skip
        conn.execute(text("INSERT INTO stations (name, token_hash, location, disabled, "
                          "created_at, created_by) VALUES ('old-bench', 'h1', '', false, now(), "
                          "'cli:x')"))  # fmt: skip
        conn.execute(text("INSERT INTO lots (code, donor, note, created_at, created_by, "
                          "updated_by) VALUES ('LOT-OLD', 'd', '', now(), 'x', '')"))  # fmt: skip
        conn.execute(text("INSERT INTO assets (asset_tag, serial, uuid, vendor, product, lot, "
                          "first_seen_at, last_seen_at) VALUES ('AT-OLD', 'S', 'U', 'v', 'p', "
                          "'LOT-OLD', now(), now())"))  # fmt: skip
    store.dispose()
    upgraded = run("db", "upgrade", "--db", db)
    assert upgraded.returncode == 0 and "revision 0007" in upgraded.stdout, upgraded.stderr
    store = Store(db)
    try:
        with store.engine.connect() as conn:
            for table in ("stations", "lots", "assets"):
                assert conn.execute(text(f"SELECT site_id FROM {table}")).scalars().all() == [1]
            users = dict(conn.execute(text("SELECT name, site_id FROM users")).all())
            assert users == {"alice": None, "sam": 1}  # admin: every site; supervisor: MAIN
            assert conn.execute(text("SELECT code FROM sites")).scalars().all() == ["MAIN"]
    finally:
        store.dispose()
    verified = run("audit", "verify", "--db", db)  # rows chained before sites still verify
    assert verified.returncode == 0 and "5 entries" in verified.stdout, (
        verified.stdout + verified.stderr
    )


def test_reports_read_from_a_streaming_replica(tmp_path: Path) -> None:
    """The programme's reads beyond one server: a hot standby fed by streaming replication
    answers the CLI's reads (site list, a site's report) with what the primary wrote after the
    standby started; a write on the standby is refused."""
    import time

    from tests.test_ledger_cli import run
    from tests.test_ledger_support import PG_BIN, PgCluster, free_port

    primary = PgCluster(fast=False)  # a base backup needs full_page_writes (the shared one is fast)
    standby = primary.root / "standby"
    port = free_port()
    try:
        db = primary.new_database()
        assert run("db", "upgrade", "--db", db).returncode == 0
        primary._as_postgres([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p",
                              str(primary.port), "-U", "postgres", "-D", str(standby), "-R",
                              "-X", "stream", "--no-sync", "--checkpoint=fast"])  # fmt: skip
        options = (
            f"-p {port} -k {primary.root} -c listen_addresses=127.0.0.1 -c max_connections=300"
        )
        primary._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(standby), "-l",
                              str(primary.root / "standby.log"), "-o", options, "-w", "start"])  # fmt: skip
        replica = db.replace(f":{primary.port}/", f":{port}/")
        # Written on the primary after the standby started: it arrives by streaming.
        assert run("site", "add", "POITIERS", "--name", "Poitiers", "--db", db).returncode == 0
        assert run("station", "add", "p1", "--site", "POITIERS", "--db", db).returncode == 0
        deadline = time.monotonic() + 30
        while "POITIERS\t1\tPoitiers" not in run("site", "list", "--db", replica).stdout:
            assert time.monotonic() < deadline, "the standby did not replay the primary's writes"
            time.sleep(0.2)
        report = run("report", "--from", "2026-01-01", "--to", "2026-12-31", "--site",
                     "POITIERS", "--db", replica)  # fmt: skip
        assert report.returncode == 0 and '"tested": 0' in report.stdout, report.stderr
        write = run("site", "add", "NANTES", "--db", replica)
        assert write.returncode != 0 and "read-only" in write.stderr, write.stderr
        assert "Traceback" not in write.stderr, write.stderr
    finally:
        if standby.exists():
            with contextlib.suppress(RuntimeError):
                primary._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(standby), "-m",
                                      "immediate", "-w", "stop"])  # fmt: skip
        primary.stop()


def test_a_site_b_supervisor_cannot_change_site_a(two_sites: tuple[Ledger, dict[str, Any]]) -> None:
    ledger, ctx = two_sites
    bob = {"Authorization": f"Bearer {ctx['bob']}"}
    asset_a = ledger.count("SELECT id FROM assets WHERE serial = 'SN000001'")
    for body in (
        {"asset_id": asset_a, "kind": "packed"},
        {"asset_tag": "AT-00001", "kind": "packed"},
    ):
        event = httpx.post(ledger.api("/events"), json=body, headers=bob)
        missing = httpx.post(
            ledger.api("/events"), json={**body, "asset_id": 999999, "asset_tag": "AT-NONE"}
            if "asset_id" in body else {**body, "asset_tag": "AT-NONE"}, headers=bob,
        )  # fmt: skip
        assert event.status_code == missing.status_code == 404, event.text
    patch = httpx.patch(ledger.api("/lots/LOT-A"), json={"note": "mine"}, headers=bob)
    none = httpx.patch(ledger.api("/lots/LOT-NONE"), json={"note": "mine"}, headers=bob)
    assert patch.status_code == none.status_code != 200  # lots are the admin's to change
    assert ledger.count("SELECT COUNT(*) FROM lifecycle_events") == 0
    assert ledger.count("SELECT COUNT(*) FROM lots WHERE note = 'mine'") == 0
    # Site A's own supervisor may.
    own = httpx.post(ledger.api("/events"), json={"asset_id": asset_a, "kind": "packed"},
                     headers=ledger.supervisor)  # fmt: skip
    assert own.status_code == 201, own.text
