"""Issue 14: the login throttle holds across server processes (``serve --workers N``).

The failure counts and delays live in the database, so a flood spread over several processes
gets no more password checks than against one (the one-hash-at-a-time limit stays per process).
Real ``bench-ledger serve`` processes on one SQLite ledger.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench_agent.ledger.throttle import FREE_FAILURES
from tests.test_ledger_support import free_port

WRONG = {"name": "sam", "password": "not-the-password"}


def make_ledger(folder: Path) -> str:
    from bench_agent.ledger import audit
    from bench_agent.ledger.auth import hash_password
    from bench_agent.ledger.db import Store
    from bench_agent.ledger.models import User

    url = f"sqlite:///{folder / 'ledger.sqlite'}"
    store = Store(url)
    store.upgrade()
    with store.write() as session:
        user = User(name="sam", role="supervisor", password_hash=hash_password("sam-password-1"))
        session.add(user)
        audit.append(session, user, "cli:test")
    store.dispose()
    return url


def serve(folder: Path, url: str, workers: int) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    log = open(folder / f"server-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    command = [sys.executable, "-m", "bench_agent.ledger.cli", "serve", "--db", url]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(
        command,
        env={**os.environ, "BENCH_LEDGER_HOME": str(folder / "home")},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return base, process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the ledger did not start:\n{(folder / f'server-{port}.log').read_text()}")
        time.sleep(0.1)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def login(base: str, body: dict[str, str] = WRONG) -> int:
    return httpx.post(f"{base}/api/v1/login", json=body, timeout=30).status_code


def test_two_server_processes_share_the_failure_counts(
    tmp_path: Path, servers: list[subprocess.Popen[bytes]]
) -> None:
    url = make_ledger(tmp_path)
    a, process_a = serve(tmp_path, url, 1)
    servers.append(process_a)
    b, process_b = serve(tmp_path, url, 1)
    servers.append(process_b)
    # Five wrong passwords spread over the two processes: each saw fewer than five.
    answers = [login(a), login(b), login(a), login(b), login(a)]
    assert answers == [401] * FREE_FAILURES
    # B saw two of them, yet makes the next attempt wait (429, unchecked).
    assert login(b) == 429
    time.sleep(1.2)  # the first delay (1 s) is over: one more attempt is checked, at A
    assert login(a) == 401
    # Now two seconds, on both processes, even for the right password.
    right = httpx.post(
        f"{b}/api/v1/login", json={"name": "sam", "password": "sam-password-1"}, timeout=30
    )
    assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1


def test_a_flood_over_two_workers_gets_no_more_checks_than_one_server(
    tmp_path: Path, servers: list[subprocess.Popen[bytes]]
) -> None:
    url = make_ledger(tmp_path)
    base, process = serve(tmp_path, url, 2)
    servers.append(process)
    answers: list[int] = []
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            # A new connection each time: the kernel hands it to either worker.
            answers.append(login(base))

    started = time.monotonic()
    threads = [threading.Thread(target=flood) for _ in range(10)]
    for thread in threads:
        thread.start()
    time.sleep(3.0)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    # As against one process: five checks, then one more after each delay (1 s, 2 s, 4 s …).
    checked = FREE_FAILURES + math.ceil(math.log2(elapsed + 1)) + 1
    assert FREE_FAILURES <= answers.count(401) <= checked, (elapsed, answers)
    assert set(answers) == {401, 429}
