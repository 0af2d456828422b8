"""Real peers for the ledger tests: a throwaway PostgreSQL cluster and a uvicorn server.

PostgreSQL comes from Debian's packages (``scripts/setup --test`` installs ``postgresql``); the
cluster is created with ``initdb`` as the ``postgres`` user in a temporary directory, listens on
127.0.0.1 and a free port, and is removed when the test process ends. Missing binaries fail the
tests loudly, never skip them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """A PostgreSQL cluster owned by this process (data in a temp dir, trust auth on 127.0.0.1)."""

    def __init__(self, *, fast: bool = True) -> None:
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BIN / tool).exists():
                raise RuntimeError(
                    f"PostgreSQL 15 is not installed ({PG_BIN / tool} missing): "
                    "run scripts/setup --test (Debian package 'postgresql')"
                )
        if shutil.which("runuser") is None:
            raise RuntimeError("runuser (util-linux) is missing")
        self.root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        os.chmod(self.root, 0o755)
        subprocess.run(["chown", "postgres:postgres", str(self.root)], check=True)
        self._as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300"
        )
        if fast:  # tests only: the benchmark measures with the defaults
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        self._databases = 0
        atexit.register(self.stop)

    def _as_postgres(self, cmd: list[str]) -> None:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True
        )
        if result.returncode != 0:
            log = self.root / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{cmd[0]} failed: {result.stderr}{result.stdout}{tail}")

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        import psycopg

        self._databases += 1
        name = f"ledger_{os.getpid()}_{self._databases}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.data.exists():
            with contextlib.suppress(RuntimeError):
                self._as_postgres(
                    [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
                )
        shutil.rmtree(self.root, ignore_errors=True)


_cluster: PgCluster | None = None


def pg_cluster() -> PgCluster:
    """The test process's PostgreSQL cluster, started on first use."""
    global _cluster
    if _cluster is None:
        try:
            _cluster = PgCluster()
        except RuntimeError as exc:
            pytest.fail(str(exc))
    return _cluster


class ServerThread:
    """uvicorn serving an app on 127.0.0.1 in a thread; stop() and start() again on the same port."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the ledger server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=20)
            self._server = None


@dataclass
class Ledger:
    """A running ledger with one admin, one supervisor and two stations."""

    backend: str
    store: Any
    server: ServerThread
    tokens: dict[str, str]
    admin_token: str
    supervisor_token: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, path: str) -> str:
        return f"{self.url}/api/v1{path}"

    def station_headers(self, name: str = "bench-1") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def supervisor(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.supervisor_token}"}

    def count(self, sql: str) -> int:
        from sqlalchemy import text

        with self.store.engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())


def database_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return pg_cluster().new_database()


def start_ledger(backend: str, tmp_path: Path, **app_options: Any) -> Ledger:
    from bench_agent.ledger.api import create_station
    from bench_agent.ledger.app import create_app
    from bench_agent.ledger.auth import create_session, hash_password, station_cache
    from bench_agent.ledger.db import Store
    from bench_agent.ledger.models import User

    station_cache.clear()
    store = Store(database_url(backend, tmp_path))
    store.upgrade()
    tokens = {name: create_station(store, name, "", "cli:test") for name in ("bench-1", "bench-2")}
    from bench_agent.ledger import audit

    with store.write() as session:
        for name, role in (("alice", "admin"), ("sam", "supervisor")):
            user = User(name=name, role=role, password_hash=hash_password(f"{name}-password"))
            session.add(user)
            audit.append(session, user, "cli:test")
    admin = create_session(store, "alice", "alice-password")
    supervisor = create_session(store, "sam", "sam-password")
    assert admin is not None and supervisor is not None
    app_options.setdefault("images_dir", tmp_path / "images")
    server = ServerThread(create_app(store, **app_options))
    server.start()
    return Ledger(backend, store, server, tokens, admin[0], supervisor[0])


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(interval)


@pytest.fixture(name="ledger")
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A fresh SQLite ledger in ``tmp_path`` (its ``ledger.sqlite``), stopped after the test;
    modules import it as a fixture."""
    running = start_ledger("sqlite", tmp_path)
    try:
        yield running
    finally:
        running.server.stop()
        running.store.dispose()


def test_server_thread_answers_health(tmp_path: Path) -> None:
    ledger = start_ledger("sqlite", tmp_path)
    try:
        response = httpx.get(ledger.api("/health"))
        assert response.status_code == 200 and response.json()["status"] == "ok"
    finally:
        ledger.server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(ledger.api("/health"), timeout=2)


def make_record(station: str = "bench-1", n: int = 0, **fields: Any) -> Any:
    """A small but real bench record of machine ``n`` (serial, DMI UUID, asset tag)."""
    from bench_agent.models import BenchRecord, Inventory, System, Verdict

    system = System(
        vendor="Dell Inc.",
        product="OptiPlex 755",
        serial=f"SN{n:06d}",
        uuid=f"4c4c4544-0000-1000-8000-{n:012d}",
    )
    values: dict[str, Any] = {
        "station": station,
        "asset_tag": f"AT-{n:05d}",
        "lot": "LOT-1",
        "operator": "Lea",
        "inventory": Inventory(system=system),
        "verdict": Verdict(outcome="kept") if "verdict" not in fields else fields.pop("verdict"),
    }
    values.update(fields)
    return BenchRecord(**values)


def signed(record: Any, key: Any) -> dict[str, Any]:
    from bench_agent.signing import sign_document

    document: dict[str, Any] = sign_document(record.model_dump(mode="json"), key)
    return document


def publish_key(ledger: Ledger, station: str, key: Any) -> None:
    from bench_agent.signing import public_key_text

    response = httpx.post(
        ledger.api(f"/stations/{station}/key"),
        json={"public_key": public_key_text(key.public_key())},
        headers=ledger.station_headers(station),
    )
    assert response.status_code == 200, response.text


def dashboard_login(client: Any, name: str, password: str, **fields: str) -> Any:
    """Log in through the dashboard's form as a browser does: the page first (its CSRF token)."""
    import re

    page = client.get("/dashboard/login")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, "the login page has no CSRF token"
    data = {"name": name, "password": password, "csrf": match.group(1), **fields}
    return client.post("/dashboard/login", data=data, follow_redirects=False)
