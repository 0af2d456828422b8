"""``bench-ledger``: migrations, serve on an empty database, admin commands, audit verify."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bench_agent.signing import generate_key
from tests.test_ledger_support import (
    Ledger,
    free_port,
    make_record,
    pg_cluster,
    publish_key,
    signed,
    sqlite_ledger,  # noqa: F401 (the ledger fixture)
    wait_for,
)

LEDGER = [sys.executable, "-m", "bench_agent.ledger.cli"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LEDGER, *args], capture_output=True, text=True, input=stdin)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_create_exactly_the_models(backend: str, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from bench_agent.ledger.db import Store
    from bench_agent.ledger.models import Base

    url = (
        f"sqlite:///{tmp_path / 'm.sqlite'}" if backend == "sqlite" else pg_cluster().new_database()
    )
    result = run("db", "upgrade", "--db", url)
    assert result.returncode == 0, result.stderr
    assert "revision 0007" in result.stdout
    store = Store(url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    store.dispose()
    assert diff == []


def test_admin_commands_and_one_line_errors(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    missing = run("station", "list", "--db", db)
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        f"error: The database {db} has no ledger tables yet.",
        "hint: Run 'bench-ledger db upgrade' first (or start 'bench-ledger serve').",
    ]
    assert run("--db", db, "db", "upgrade").returncode == 0
    added = run("station", "add", "bench-7", "--location", "atelier 2", "--db", db)
    assert added.returncode == 0
    token = added.stdout.splitlines()[1]
    assert token.startswith("bst_") and len(token) > 40
    duplicate = run("station", "add", "bench-7", "--db", db)
    assert duplicate.returncode == 1 and duplicate.stderr.startswith(
        "error: Station 'bench-7' already exists."
    )
    assert run("station", "add", "bad name", "--db", db).returncode == 2
    # The token is stored hashed only.
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        (stored,) = conn.execute("SELECT token_hash FROM stations").fetchone()
    assert token not in stored and len(stored) == 64
    listing = run("station", "list", "--db", db)
    assert "bench-7" in listing.stdout and "atelier 2" in listing.stdout
    short = run("user", "add", "sam", "--db", db, stdin="short\n")
    assert short.returncode == 2 and "too short" in short.stderr
    user = run("user", "add", "sam", "--role", "admin", "--db", db, stdin="a long password\n")
    assert user.returncode == 0, user.stderr
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        (password_hash,) = conn.execute("SELECT password_hash FROM users").fetchone()
    assert password_hash.startswith("$argon2id$")
    lot = run("lot", "add", "ACME-1", "--donor", "ACME", "--received", "2026-03-01", "--db", db)
    assert lot.returncode == 0
    bad_lot = run("lot", "add", "ACME-2", "--received", "yesterday", "--db", db)
    assert bad_lot.returncode == 2 and bad_lot.stderr.startswith(
        "error: Invalid lot field 'received_on'"
    )
    unreachable = run("station", "list", "--db", f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    assert unreachable.returncode == 6 and len(unreachable.stderr.splitlines()) == 2
    assert "Traceback" not in unreachable.stderr
    for result in (missing, duplicate, short, bad_lot, unreachable):
        assert "Traceback" not in result.stderr


def test_serve_upgrades_an_empty_database_and_answers(tmp_path: Path) -> None:
    port = free_port()
    env_home = tmp_path / "ledger-home"
    import os

    env = {**os.environ, "BENCH_LEDGER_HOME": str(env_home)}
    server = subprocess.Popen(
        [*LEDGER, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=30, interval=0.2)
        spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        assert "/api/v1/records" in spec["paths"] and "BenchRecord" in spec["components"]["schemas"]
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert (env_home / "ledger.sqlite").exists()
    # The default database (BENCH_LEDGER_HOME) is used by the other commands too.
    result = subprocess.run([*LEDGER, "station", "list"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_audit_verify_detects_altered_and_deleted_rows(ledger: Ledger, tmp_path: Path) -> None:
    key = generate_key(tmp_path / "k.key")
    publish_key(ledger, "bench-1", key)
    for n in range(3):
        response = httpx.post(
            ledger.api("/records"),
            json=signed(make_record(n=n), key),
            headers=ledger.station_headers(),
        )
        assert response.status_code == 201
    event = {
        "asset_tag": "AT-00001",
        "kind": "given",
        "category": "family",
        "beneficiary_ref": "F-1",
    }
    assert (
        httpx.post(ledger.api("/events"), json=event, headers=ledger.supervisor).status_code == 201
    )
    db_file = tmp_path / "ledger.sqlite"
    db = f"sqlite:///{db_file}"
    ok = run("audit", "verify", "--db", db)
    # Users, two stations, the key (and the station row it changed), three machines, three
    # records, one event.
    assert ok.returncode == 0 and "13 entries" in ok.stdout

    # Only through SQLite: reading or copying the file in this process while the server has
    # it open would drop SQLite's POSIX locks and corrupt the WAL.
    def sql(statement: str) -> None:
        conn = sqlite3.connect(db_file, isolation_level=None)
        try:
            assert conn.execute(statement).rowcount == 1
        finally:
            conn.close()

    def entry(table: str, row_id: int) -> int:
        conn = sqlite3.connect(db_file, isolation_level=None)
        try:
            query = "SELECT MAX(seq) FROM audit_chain WHERE table_name = ? AND row_id = ?"
            return int(conn.execute(query, (table, row_id)).fetchone()[0])
        finally:
            conn.close()

    def tamper(statement: str) -> subprocess.CompletedProcess[str]:
        sql(statement)
        return run("audit", "verify", "--db", db)

    # A record's verdict rewritten by hand.
    result = tamper("UPDATE records SET outcome = 'rejected' WHERE id = 2")
    assert result.returncode == 1
    seq = entry("records", 2)
    assert f"error: records row 2 was altered after it was recorded (audit entry {seq})" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    sql("UPDATE records SET outcome = 'kept' WHERE id = 2")
    assert run("audit", "verify", "--db", db).returncode == 0  # restored: intact again
    # A beneficiary changed on an event.
    result = tamper("UPDATE lifecycle_events SET category = 'school' WHERE id = 1")
    assert result.returncode == 1 and "lifecycle_events row 1 was altered" in result.stderr
    sql("UPDATE lifecycle_events SET category = 'family' WHERE id = 1")
    # A record inserted by hand (copied from another).
    result = tamper(
        "INSERT INTO records (record_id, station_id, station, asset_id, asset_tag, serial, uuid, lot, "
        "operator, outcome, training, finished_at, created_at, body_sha256, key_id, body) "
        "SELECT 'forged', station_id, station, asset_id, asset_tag, serial, uuid, lot, operator, "
        "outcome, training, finished_at, created_at, body_sha256, key_id, body FROM records WHERE id = 1"
    )
    assert result.returncode == 1 and "records row 4 is not in the audit chain" in result.stderr
    sql("DELETE FROM records WHERE id = 4")
    assert run("audit", "verify", "--db", db).returncode == 0
    # A record deleted.
    seq = entry("records", 3)
    result = tamper("DELETE FROM records WHERE id = 3")
    assert result.returncode == 1 and f"records row 3 was deleted (audit entry {seq})" in (
        result.stderr
    )
    # The chain entry deleted too: the links break.
    result = tamper(f"DELETE FROM audit_chain WHERE seq = {seq}")
    assert result.returncode == 1 and f"audit entries {seq}..{seq} are missing" in result.stderr
    # The last entry and its row deleted: the head no longer matches.
    last = entry("lifecycle_events", 1)
    sql("DELETE FROM lifecycle_events WHERE id = 1")
    result = tamper(f"DELETE FROM audit_chain WHERE seq = {last}")
    assert result.returncode == 1 and "the last audit entries were deleted" in result.stderr


def test_unforeseen_database_error_is_one_line(tmp_path: Path) -> None:
    """A file that is not a database reaches the shared runner's converter: no traceback."""
    bad = tmp_path / "bad.db"
    bad.write_text("not a database at all, just text" * 4)
    result = subprocess.run(
        [sys.executable, "-m", "bench_agent.ledger.cli", "--db", f"sqlite:///{bad}",
         "station", "list"],
        capture_output=True, text=True, env={**os.environ, "BENCH_LANG": "en"},
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: database error: file is not a database",
        "hint: Check the database URL and that the server runs.",
    ]


def test_a_checkpoint_that_is_not_an_object_is_said_in_the_readers_language(
    tmp_path: Path,
) -> None:
    from bench_agent.errors import InputError
    from bench_agent.i18n import get_language, set_language
    from bench_agent.ledger.cli import _read_checkpoint

    point = tmp_path / "checkpoint.json"
    point.write_text("[1]\n")
    before = get_language()
    set_language("fr")
    try:
        with pytest.raises(InputError) as caught:
            _read_checkpoint(str(point))
    finally:
        set_language(before)
    assert caught.value.message.endswith(": doit être un objet JSON"), caught.value.message
