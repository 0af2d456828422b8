#!/usr/bin/env python3
"""Ledger benchmark: record ingest rate and heartbeat latency, on SQLite and PostgreSQL.

For each database, serves a fresh ledger with ``bench-ledger serve`` on 127.0.0.1 and measures,
with a lean asyncio HTTP/1.1 client (one keep-alive connection per station, so the client
costs little CPU next to the server):

- baseline: the same server's bare health endpoint (``GET /api/v1/health``) with 20
  concurrent connections — requests/s (median of the rounds);
- ingest: 20 stations posting signed bench records back to back — records/s stored (201),
  median of the rounds;
- heartbeats: 200 stations each posting a heartbeat once a second (staggered) for
  ``--heartbeat-s`` seconds — latency p50 and p99, medians of the rounds;
- login flood: one station posting records one after the other, latency p50 first alone, then
  while 10 clients post wrong passwords for an admin as fast as the server answers
  (``records_p50_ms`` and ``records_p50_under_login_flood_ms``; target: at most twice).

PostgreSQL is a throwaway cluster started with Debian's binaries (as the tests do), with its
default durability settings. Usage:

    python scripts/bench/ledger.py [--rounds 3] [--round-s 4] [--heartbeat-s 5] [--workers 1]
                                   [--no-postgresql]

Last line: speed_ratio=<records/s ÷ health req/s> records_per_s=… heartbeat_p50_ms=…
heartbeat_p99_ms=… records_p50_ms=… records_p50_under_login_flood_ms=… pg_records_per_s=…
pg_heartbeat_p50_ms=… pg_heartbeat_p99_ms=…
Targets on SQLite: ≥ 350 records/s, heartbeat p99 ≤ 50 ms, records p50 under a login flood
at most twice the unloaded p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RECORD_STATIONS = 20
HEARTBEAT_STATIONS = 200
FLOOD_CLIENTS = 10
LATENCY_RECORDS = 300  # per phase (alone, under the flood)
FLOOD_USER = "bench-admin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------ PostgreSQL
class PgCluster:
    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise SystemExit(f"PostgreSQL 15 missing ({PG_BIN}): run scripts/setup --test")
        self.root = Path(tempfile.mkdtemp(prefix="bench-ledger-pg-"))
        os.chmod(self.root, 0o755)
        self.port = free_port()
        self.data = self.root / "data"
        self._run(["chown", "postgres:postgres", str(self.root)], as_postgres=False)
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300"
        )
        self._run(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "log"),
                "-o",
                options,
                "-w",
                "start",
            ]
        )

    def _run(self, cmd: list[str], as_postgres: bool = True) -> None:
        full = ["runuser", "-u", "postgres", "--", *cmd] if as_postgres else cmd
        subprocess.run(full, check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------------------- set-up
def prepare(db_url: str, records_per_station: int) -> dict[str, Any]:
    """Migrate, create the stations (keys enrolled), and sign the records to send."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from bench_agent.ledger.api import create_station
    from bench_agent.ledger.auth import hash_password
    from bench_agent.ledger.db import Store
    from bench_agent.ledger.models import Station, StationKey, User
    from bench_agent.models import BenchRecord, Inventory, System, Verdict
    from bench_agent.signing import (
        key_id,
        public_key_text,
        sign_document,
    )

    store = Store(db_url)
    store.upgrade()
    tokens: dict[str, str] = {}
    keys: dict[str, Any] = {}
    for n in range(HEARTBEAT_STATIONS):
        name = f"bench-{n:03d}"
        tokens[name] = create_station(store, name, "", "bench")
    with store.write() as session:
        session.add(
            User(name=FLOOD_USER, role="admin", password_hash=hash_password("a long passphrase"))
        )
        for n in range(RECORD_STATIONS):
            name = f"bench-{n:03d}"
            key = Ed25519PrivateKey.generate()
            keys[name] = key
            station = session.query(Station).filter_by(name=name).one()
            station.public_key = public_key_text(key.public_key())
            station.key_id = key_id(key.public_key())
            session.add(
                StationKey(
                    station_id=station.id,
                    key_id=station.key_id,
                    public_key=station.public_key,
                )
            )
    store.dispose()
    bodies: dict[str, list[bytes]] = {}
    for n in range(RECORD_STATIONS):
        name = f"bench-{n:03d}"
        bodies[name] = []
        extra = 2 * LATENCY_RECORDS if n == 0 else 0
        for i in range(records_per_station + extra):
            machine = n * 1_000_000 + i
            record = BenchRecord(
                station=name,
                asset_tag=f"AT-{machine}",
                lot="LOT-BENCH",
                operator="bench",
                inventory=Inventory(
                    system=System(
                        vendor="Dell Inc.",
                        product="OptiPlex 755",
                        serial=f"SN{machine}",
                        uuid=f"4c4c4544-0000-1000-8000-{machine:012d}",
                    )
                ),
                verdict=Verdict(outcome="kept"),
            )
            document = sign_document(record.model_dump(mode="json"), keys[name])
            bodies[name].append(json.dumps(document).encode())
    return {"tokens": tokens, "bodies": bodies}


# ------------------------------------------------------------------------------ the client
def build_request(method: str, path: str, token: str | None, body: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    status = int((await reader.readline()).split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def closed_loop(port: int, requests: list[list[bytes]], duration_s: float) -> tuple[int, int]:
    """Each connection sends its requests back to back until the time is up: (ok, errors)."""
    deadline = time.perf_counter() + duration_s
    ok = errors = 0

    async def worker(batch: list[bytes]) -> None:
        nonlocal ok, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for raw in batch:
                if time.perf_counter() >= deadline:
                    break
                status = await exchange(reader, writer, raw)
                if status in (200, 201):
                    ok += 1
                else:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(batch) for batch in requests))
    return ok, errors


def rate(port: int, requests: list[list[bytes]], duration_s: float) -> tuple[float, int]:
    started = time.perf_counter()
    ok, errors = asyncio.run(closed_loop(port, requests, duration_s))
    return ok / (time.perf_counter() - started), errors


async def heartbeat_load(port: int, tokens: list[str], duration_s: float) -> list[float]:
    latencies: list[float] = []
    body = json.dumps(
        {
            "state": "wiping",
            "step": "wipe",
            "progress": 0.5,
            "rate": 9.5e7,
            "eta_s": 600,
            "operator": "bench",
            "asset_tag": "AT-1",
            "queued": 0,
        }
    ).encode()

    async def station(index: int, token: str) -> None:
        raw = build_request("POST", "/api/v1/heartbeats", token, body)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await asyncio.sleep(index / len(tokens))  # stagger over the first second
            start = time.perf_counter()
            beat = 0
            while time.perf_counter() - start < duration_s:
                sent = time.perf_counter()
                status = await exchange(reader, writer, raw)
                if status == 200:
                    latencies.append((time.perf_counter() - sent) * 1000)
                beat += 1
                await asyncio.sleep(max(0.0, start + beat - time.perf_counter()))
        finally:
            writer.close()

    await asyncio.gather(*(station(i, t) for i, t in enumerate(tokens)))
    return latencies


async def record_latencies(
    port: int, token: str, bodies: list[bytes], flood_clients: int
) -> tuple[list[float], int]:
    """Post records one after the other (ms each) while ``flood_clients`` post wrong passwords."""
    stop = asyncio.Event()
    logins = 0
    wrong = build_request(
        "POST",
        "/api/v1/login",
        None,
        json.dumps({"name": FLOOD_USER, "password": "not the password"}).encode(),
    )

    async def flood() -> None:
        nonlocal logins
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not stop.is_set():
                await exchange(reader, writer, wrong)
                logins += 1
        finally:
            writer.close()

    async def records() -> list[float]:
        latencies = []
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for body in bodies:
                raw = build_request("POST", "/api/v1/records", token, body)
                sent = time.perf_counter()
                status = await exchange(reader, writer, raw)
                if status == 201:
                    latencies.append((time.perf_counter() - sent) * 1000)
        finally:
            writer.close()
            stop.set()
        return latencies

    flooders = [asyncio.create_task(flood()) for _ in range(flood_clients)]
    if flood_clients:
        await asyncio.sleep(1.0)  # the flood is under way
    latencies = await records()
    await asyncio.gather(*flooders)
    return latencies, logins


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# ---------------------------------------------------------------------------- one backend
def measure(db_url: str, label: str, args: argparse.Namespace) -> dict[str, float]:
    per_station = max(50, int(1500 * args.round_s / RECORD_STATIONS) + 50) * args.rounds
    print(f"[{label}] preparing {per_station * RECORD_STATIONS} signed records…", flush=True)
    prepared = prepare(db_url, per_station)
    port = free_port()
    home = tempfile.mkdtemp(prefix="bench-ledger-home-")
    env = {**os.environ, "BENCH_LEDGER_HOME": home}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench_agent.ledger.cli",
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"[{label}] the ledger did not start")
            time.sleep(0.2)
        health = build_request("GET", "/api/v1/health", None, None)
        health_rates = []
        for _ in range(args.rounds):
            value, _errors = rate(port, [[health] * 100_000] * RECORD_STATIONS, args.round_s)
            health_rates.append(value)
        tokens = prepared["tokens"]
        bodies = prepared["bodies"]
        record_rates = []
        errors_total = 0
        chunk = per_station // args.rounds
        for r in range(args.rounds):
            batches = [
                [
                    build_request("POST", "/api/v1/records", tokens[name], body)
                    for body in bodies[name][r * chunk : (r + 1) * chunk]
                ]
                for name in sorted(bodies)
            ]
            value, errors = rate(port, batches, args.round_s)
            record_rates.append(value)
            errors_total += errors
        latency_bodies = bodies["bench-000"][per_station:]
        alone, _ = asyncio.run(
            record_latencies(port, tokens["bench-000"], latency_bodies[:LATENCY_RECORDS], 0)
        )
        flooded, logins = asyncio.run(
            record_latencies(
                port, tokens["bench-000"], latency_bodies[LATENCY_RECORDS:], FLOOD_CLIENTS
            )
        )
        p50s, p99s, beats = [], [], 0
        for _ in range(args.rounds):
            latencies = asyncio.run(
                heartbeat_load(port, [tokens[n] for n in sorted(tokens)], args.heartbeat_s)
            )
            p50s.append(percentile(latencies, 0.50))
            p99s.append(percentile(latencies, 0.99))
            beats += len(latencies)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    result = {
        "health_per_s": statistics.median(health_rates),
        "records_per_s": statistics.median(record_rates),
        "record_errors": errors_total,
        "heartbeat_p50_ms": statistics.median(p50s),
        "heartbeat_p99_ms": statistics.median(p99s),
        "heartbeats": beats,
        "records_p50_ms": statistics.median(alone),
        "records_p50_under_login_flood_ms": statistics.median(flooded),
        "flood_logins": logins,
    }
    print(
        f"[{label}] health {result['health_per_s']:.0f} req/s (rounds {[round(x) for x in health_rates]}), "
        f"records {result['records_per_s']:.0f}/s (rounds {[round(x) for x in record_rates]}, "
        f"{errors_total} errors), heartbeats p50 {result['heartbeat_p50_ms']:.1f} ms "
        f"p99 {result['heartbeat_p99_ms']:.1f} ms (rounds {[round(x, 1) for x in p99s]}) "
        f"over {beats}; records one by one p50 {result['records_p50_ms']:.1f} ms alone, "
        f"{result['records_p50_under_login_flood_ms']:.1f} ms under {logins} wrong logins",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--round-s", type=float, default=4.0)
    parser.add_argument("--heartbeat-s", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    try:
        sqlite = measure(f"sqlite:///{work / 'ledger.sqlite'}", "sqlite", args)
        pg: dict[str, float] | None = None
        if not args.no_postgresql:
            cluster = PgCluster()
            try:
                pg = measure(cluster.url, "postgresql", args)
            finally:
                cluster.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fields = [
        f"speed_ratio={sqlite['records_per_s'] / sqlite['health_per_s']:.3f}",
        f"records_per_s={sqlite['records_per_s']:.0f}",
        f"heartbeat_p50_ms={sqlite['heartbeat_p50_ms']:.1f}",
        f"heartbeat_p99_ms={sqlite['heartbeat_p99_ms']:.1f}",
        f"health_req_per_s={sqlite['health_per_s']:.0f}",
        f"records_p50_ms={sqlite['records_p50_ms']:.1f}",
        f"records_p50_under_login_flood_ms={sqlite['records_p50_under_login_flood_ms']:.1f}",
    ]
    if pg is not None:
        fields += [
            f"pg_records_per_s={pg['records_per_s']:.0f}",
            f"pg_heartbeat_p50_ms={pg['heartbeat_p50_ms']:.1f}",
            f"pg_heartbeat_p99_ms={pg['heartbeat_p99_ms']:.1f}",
            f"pg_health_req_per_s={pg['health_per_s']:.0f}",
        ]
    print(" ".join(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
