#!/usr/bin/env python3
"""Dashboard benchmark: board page render time and live (SSE) fan-out latency.

Seeds an SQLite ledger with 200 stations and 50 000 machines (records, certificates, lifecycle
events over a year), serves it with ``bench-ledger serve`` on 127.0.0.1, then measures:

- the board page (``GET /dashboard/``, 200 station rows + the week's figures) over N requests:
  median and p99, against the same server's bare health endpoint (the baseline);
- the SSE fan-out: with C browsers' worth of event streams open, the time from a heartbeat's
  POST being acknowledged to the LAST stream receiving that station's new row (median of R).

Usage: python scripts/bench/dashboard.py [--stations 200] [--assets 50000] [--requests 300]
       [--clients 50] [--rounds 15]
Last line: speed_ratio=… board_p99_ms=… sse_fanout_ms=… (target: board p99 ≤ 200 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench_agent.ledger.dashboard.seed import seed_demo  # noqa: E402
from bench_agent.ledger.db import Store  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def timed_gets(client: httpx.Client, path: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return times


async def fanout(
    url: str, cookie: str, token: str, station: str, clients: int, rounds: int
) -> list[float]:
    """Per round: ms from the heartbeat's acknowledgement to the last stream showing it."""
    row_id = f'"id": "station-{station}"'
    seen: list[dict[int, float]] = [{} for _ in range(rounds)]
    ready = asyncio.Event()
    connected = 0
    marker_of = [f"bench-round-{r}-{os.getpid()}" for r in range(rounds)]

    async def listen(index: int) -> None:
        nonlocal connected
        async with (
            httpx.AsyncClient(timeout=None, cookies={"bench_session": cookie}) as http,
            http.stream("GET", f"{url}/dashboard/events?lang=en") as response,
        ):
            response.raise_for_status()
            connected += 1
            if connected == clients:
                ready.set()
            async for line in response.aiter_lines():
                if line.startswith("data:") and row_id in line:
                    for r, marker in enumerate(marker_of):
                        if marker in line and index not in seen[r]:
                            seen[r][index] = time.perf_counter()
                if len(seen[-1]) == clients:
                    return

    tasks = [asyncio.create_task(listen(i)) for i in range(clients)]
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(1.5)  # let the initial snapshots drain
    results = []
    async with httpx.AsyncClient(timeout=30) as poster:
        for r in range(rounds):
            response = await poster.post(
                f"{url}/api/v1/heartbeats",
                json={"state": "wiping", "step": marker_of[r], "progress": r / rounds},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()
            acked = time.perf_counter()
            deadline = acked + 10
            while len(seen[r]) < clients and time.perf_counter() < deadline:
                await asyncio.sleep(0.002)
            if len(seen[r]) < clients:
                raise SystemExit(f"round {r}: only {len(seen[r])}/{clients} streams got the update")
            results.append((max(seen[r].values()) - acked) * 1000)
            await asyncio.sleep(0.3)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--assets", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
        db = f"sqlite:///{folder}/ledger.sqlite"
        store = Store(db)
        store.upgrade()
        start = time.perf_counter()
        seeded = seed_demo(store, stations=args.stations, assets=args.assets, days=365, seed=2026)
        print(
            f"seeded {args.stations} stations, {args.assets} machines in {time.perf_counter() - start:.1f} s"
        )
        store.dispose()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "BENCH_LEDGER_HOME": folder, "BENCH_DASHBOARD_OFFLINE_AFTER_S": "3600",
               "BENCH_DASHBOARD_POLL_S": "1"}  # fmt: skip
        cli = Path(sys.executable).parent / "bench-ledger"
        server = subprocess.Popen(
            [str(cli), "serve", "--db", db, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            with httpx.Client(base_url=url, timeout=30) as client:
                name, password = seeded.supervisor
                page = client.get("/dashboard/login").text
                csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                login = client.post(
                    "/dashboard/login", data={"name": name, "password": password, "csrf": csrf}
                )
                assert login.status_code == 303, f"login failed: {login.status_code}"
                cookie = client.cookies.get("bench_session")
                assert cookie, "login gave no session cookie"
                body = client.get("/dashboard/").text
                rows = body.count('<tr id="station-')
                assert rows == args.stations, f"board shows {rows} rows"
                timed_gets(client, "/dashboard/", 10)  # warm-up (caches, first stats pass)
                timed_gets(client, "/api/v1/health", 10)
                board = timed_gets(client, "/dashboard/", args.requests)
                health = timed_gets(client, "/api/v1/health", args.requests)
            station = "bench-001"
            fan = asyncio.run(
                fanout(url, cookie, seeded.tokens[station], station, args.clients, args.rounds)
            )
        finally:
            server.terminate()
            server.wait(15)

    board_p50, board_p99 = statistics.median(board), percentile(board, 0.99)
    health_p50 = statistics.median(health)
    print(
        f"board page: median {board_p50:.1f} ms, p99 {board_p99:.1f} ms over {len(board)} requests"
    )
    print(
        f"health endpoint (baseline): median {health_p50:.2f} ms, p99 {percentile(health, 0.99):.2f} ms"
    )
    print(
        f"SSE fan-out to {args.clients} streams: median {statistics.median(fan):.1f} ms, max {max(fan):.1f} ms over {len(fan)} heartbeats"
    )
    print(
        f"speed_ratio={health_p50 / board_p50:.3f} board_p99_ms={board_p99:.1f} "
        f"sse_fanout_ms={statistics.median(fan):.1f} board_p50_ms={board_p50:.1f} "
        f"baseline_health_p50_ms={health_p50:.2f} sse_fanout_max_ms={max(fan):.1f} "
        f"stations={args.stations} assets={args.assets} sse_clients={args.clients} baseline=health"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
