#!/usr/bin/env python3
"""Programme scale benchmark (issue 16 item 4; run outside CI): one PostgreSQL ledger holding a
large programme — 20 sites, 200 stations, 200 000 machines and 2 000 000 lifecycle events over
ten years (one bench record per machine) — then:

- ``report_site_s``: the programme report (``board_queries.load_report``, what the report page,
  its CSV/PDF and ``bench-ledger report`` compute) for one site over one year, in that site's
  scope (``sites.site_scope``: the query scoping a site supervisor gets); median of 3;
- ``report_programme_s``: the same year for the whole programme (the administrator's);
- ``board_p99_ms``: the board page (``GET /dashboard/``) served by ``bench-ledger serve`` to a
  site supervisor (its 10 stations), p99 over N requests; ``board_programme_p99_ms`` the same
  for the administrator (200 stations); the baseline is the same server's health endpoint.

Rows are loaded with COPY (psycopg), not through the API: the audit chain is not built for
them (``bench-ledger audit verify`` is not meaningful on this database). ``--scale 0.1`` seeds a
tenth of the volume for a quick run. Without ``--db`` a throwaway PostgreSQL 15 cluster is
created in a temporary directory (as the tests do: Debian's postgresql package, run as root).

Usage: python scripts/bench/programme.py [--scale 1.0] [--db postgresql://…] [--requests 200]
Last line: speed_ratio=… report_site_s=… report_programme_s=… board_p99_ms=… (targets: report
≤ 2 s for a site-year, board p99 ≤ 200 ms).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dashboard import free_port, percentile  # noqa: E402 (beside this file)

from bench_agent.ledger.db import Store  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SITES, STATIONS, MACHINES, EVENTS = 20, 200, 200_000, 2_000_000
YEARS = 10
FIRST_DAY = datetime(2016, 1, 1, tzinfo=UTC)
KINDS = (
    "received",
    "tested",
    "tested",
    "wiped",
    "wiped",
    "imaged",
    "packed",
    "given",
    "returned",
    "recycled",
)
OUTCOMES = ("kept", "kept", "kept", "rejected", "remediate")


class TempCluster:
    """A throwaway PostgreSQL 15 cluster (initdb as the postgres user, trust auth on 127.0.0.1)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bench-programme-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust",
                           "-U", "postgres", "--no-sync"])  # fmt: skip
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} -c fsync=off -c shared_buffers=256MB -c max_wal_size=4GB"
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
                           "-l", str(self.root / "log"), "-w", "start"])  # fmt: skip
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, cmd: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True)

    def stop(self) -> None:
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                           "-w", "stop"])  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def record_template() -> dict[str, Any]:
    from bench_agent.models import BenchRecord, Inventory, System, Verdict

    system = System(vendor="Dell Inc.", product="OptiPlex 755", serial="S", uuid="U")
    record = BenchRecord(
        station="bench",
        asset_tag="T",
        lot="L",
        operator="Lea",
        inventory=Inventory(system=system),
        verdict=Verdict(outcome="kept"),
    )
    data: dict[str, Any] = json.loads(record.model_dump_json())
    return data


def seed(url: str, scale: float) -> dict[str, Any]:
    import psycopg

    from bench_agent.ledger.auth import create_session, hash_password
    from bench_agent.ledger.models import User

    machines, events = max(int(MACHINES * scale), SITES), max(int(EVENTS * scale), SITES)
    per_machine = max(1, events // machines)
    store = Store(url)
    store.upgrade()
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    now = datetime.now(UTC)
    template = record_template()
    span = timedelta(days=365 * YEARS)
    with psycopg.connect(plain) as conn, conn.cursor() as cur:
        for n in range(2, SITES + 1):
            cur.execute(
                "INSERT INTO sites (id, code, name, created_at, created_by) "
                "VALUES (%s, %s, %s, %s, 'bench')",
                (n, f"S{n:02d}", f"Site {n}", now),
            )
        cur.execute("SELECT setval('sites_id_seq', %s)", (SITES,))
        with cur.copy(
            "COPY stations (id, name, token_hash, location, disabled, created_at, created_by,"
            " site_id) FROM STDIN"
        ) as copy:
            for s in range(1, STATIONS + 1):
                token = hashlib.sha256(secrets.token_bytes(16)).hexdigest()
                site = (s - 1) % SITES + 1
                copy.write_row((s, f"bench-{s:03d}", token, "", False, now, "bench", site))
        cur.execute("SELECT setval('stations_id_seq', %s)", (STATIONS,))
        with cur.copy(
            "COPY heartbeats (station_id, received_at, state, step, operator, asset_tag, queued,"
            " body) FROM STDIN"
        ) as copy:
            for s in range(1, STATIONS + 1):
                copy.write_row((s, now, "wiping", "wipe", "Lea", "", 0, "{}"))
        started = time.perf_counter()
        with cur.copy(
            "COPY assets (id, asset_tag, serial, uuid, vendor, product, lot, first_seen_at,"
            " last_seen_at, site_id) FROM STDIN"
        ) as copy:
            for m in range(1, machines + 1):
                station = (m - 1) % STATIONS + 1
                site = (station - 1) % SITES + 1
                prefix = "" if site == 1 else f"S{site:02d}-"
                at = FIRST_DAY + span * (m / machines)
                copy.write_row((m, f"{prefix}AT-{m:07d}", f"SN{m:09d}", str(uuid.UUID(int=m)),
                                "Dell Inc.", "OptiPlex 755", f"LOT-{site:02d}-{at.year}", at, at,
                                site))  # fmt: skip
        cur.execute("SELECT setval('assets_id_seq', %s)", (machines,))
        with cur.copy(
            "COPY records (record_id, station_id, station, asset_id, asset_tag, serial, uuid,"
            " lot, operator, outcome, training, finished_at, created_at, body_sha256, key_id,"
            " body) FROM STDIN"
        ) as copy:
            for m in range(1, machines + 1):
                station = (m - 1) % STATIONS + 1
                site = (station - 1) % SITES + 1
                prefix = "" if site == 1 else f"S{site:02d}-"
                at = FIRST_DAY + span * (m / machines)
                doc = dict(template)
                rid = str(uuid.UUID(int=(1 << 64) + m))
                tag, serial, lot = f"{prefix}AT-{m:07d}", f"SN{m:09d}", f"LOT-{site:02d}-{at.year}"
                outcome = OUTCOMES[m % len(OUTCOMES)]
                doc.update(record_id=rid, station=f"bench-{station:03d}", asset_tag=tag, lot=lot,
                           started_at=at.isoformat(), finished_at=at.isoformat(),
                           verdict={**template["verdict"], "outcome": outcome})  # fmt: skip
                doc["inventory"] = {
                    **template["inventory"],
                    "system": {
                        **template["inventory"]["system"],
                        "serial": serial,
                        "uuid": str(uuid.UUID(int=m)),
                    },
                }
                body = json.dumps(doc, separators=(",", ":"), sort_keys=True)
                digest = hashlib.sha256(body.encode()).hexdigest()
                copy.write_row((rid, station, f"bench-{station:03d}", m, tag, serial,
                                str(uuid.UUID(int=m)), lot, "Lea", outcome, False, at, at,
                                digest, "", body))  # fmt: skip
        with cur.copy(
            "COPY lifecycle_events (asset_id, kind, at, category, beneficiary_ref, note,"
            " created_at, created_by) FROM STDIN"
        ) as copy:
            written = 0
            for m in range(1, machines + 1):
                at = FIRST_DAY + span * (m / machines)
                for k in range(per_machine):
                    kind = KINDS[k % len(KINDS)]
                    when = at + timedelta(days=k)
                    category = "school" if kind in ("given", "returned") else ""
                    copy.write_row((m, kind, when, category, "", "", when, "bench"))
                    written += 1
        print(f"loaded {machines} machines, {machines} records, {written} events "
              f"in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
    with store.write() as session:
        session.add(User(name="admin", role="admin", password_hash=hash_password("admin-pw-1234")))
        session.add(User(name="sup01", role="supervisor", site_id=1,
                         password_hash=hash_password("sup01-pw-1234")))  # fmt: skip
    sessions = {
        name: create_session(store, name, f"{name}-pw-1234")[0]  # type: ignore[index]
        for name in ("admin", "sup01")
    }
    store.dispose()
    return {"machines": machines, "events": written, "sessions": sessions}


def time_reports(url: str, year: int) -> tuple[float, float]:
    from bench_agent.ledger.board_queries import load_report
    from bench_agent.ledger.sites import site_scope

    store = Store(url)
    start, end = date(year, 1, 1), date(year, 12, 31)
    site_runs, programme_runs = [], []
    for _ in range(3):
        with site_scope(1):
            began = time.perf_counter()
            site_report = load_report(store, start, end)
            site_runs.append(time.perf_counter() - began)
    for _ in range(2):
        with site_scope(None):
            began = time.perf_counter()
            programme = load_report(store, start, end)
            programme_runs.append(time.perf_counter() - began)
    print(f"report {year}: site MAIN tested {site_report.tested}, programme tested "
          f"{programme.tested}", flush=True)  # fmt: skip
    assert 0 < site_report.tested < programme.tested
    store.dispose()
    return statistics.median(site_runs), statistics.median(programme_runs)


def time_board(url: str, sessions: dict[str, str], requests: int) -> dict[str, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    home = tempfile.mkdtemp(prefix="bench-programme-home-")
    env = {**os.environ, "BENCH_LEDGER_HOME": home, "BENCH_DASHBOARD_OFFLINE_AFTER_S": "36000"}
    cli = Path(sys.executable).parent / "bench-ledger"
    server = subprocess.Popen(
        [str(cli), "serve", "--db", url, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    figures: dict[str, float] = {}
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        for who, key in (("sup01", "board"), ("admin", "board_programme")):
            with httpx.Client(
                base_url=base, timeout=60, cookies={"bench_session": sessions[who]}
            ) as client:
                page = client.get("/dashboard/")
                assert page.status_code == 200, page.status_code
                rows = page.text.count('<tr id="station-')
                print(f"board for {who}: {rows} station rows", flush=True)
                for _ in range(5):
                    client.get("/dashboard/")
                times = []
                for _ in range(requests):
                    began = time.perf_counter()
                    assert client.get("/dashboard/").status_code == 200
                    times.append((time.perf_counter() - began) * 1000)
                figures[f"{key}_p50_ms"] = statistics.median(times)
                figures[f"{key}_p99_ms"] = percentile(times, 0.99)
                if who == "sup01":
                    health = []
                    for _ in range(requests):
                        began = time.perf_counter()
                        client.get("/api/v1/health")
                        health.append((time.perf_counter() - began) * 1000)
                    figures["health_p50_ms"] = statistics.median(health)
    finally:
        server.terminate()
        server.wait(15)
        shutil.rmtree(home, ignore_errors=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full volume")
    parser.add_argument("--db", help="an EMPTY PostgreSQL database (default: a throwaway cluster)")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    cluster = None if args.db else TempCluster()
    url = args.db or (cluster.url if cluster else "")
    try:
        began = time.perf_counter()
        seeded = seed(url, args.scale)
        seed_s = time.perf_counter() - began
        print(f"seeded in {seed_s:.1f} s", flush=True)
        report_site_s, report_programme_s = time_reports(url, FIRST_DAY.year + YEARS - 2)
        board = time_board(url, seeded["sessions"], args.requests)
    finally:
        if cluster is not None:
            cluster.stop()
    print(
        f"speed_ratio={board['health_p50_ms'] / board['board_p50_ms']:.3f} "
        f"report_site_s={report_site_s:.2f} report_programme_s={report_programme_s:.2f} "
        f"board_p99_ms={board['board_p99_ms']:.1f} "
        f"board_programme_p99_ms={board['board_programme_p99_ms']:.1f} "
        f"board_p50_ms={board['board_p50_ms']:.1f} baseline_health_p50_ms="
        f"{board['health_p50_ms']:.2f} machines={seeded['machines']} events={seeded['events']} "
        f"sites={SITES} stations={STATIONS} scale={args.scale} seed_s={seed_s:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
