"""Issue 14: the stations table is in the audit chain (public key, token hash, state).

A station changed through the ledger (created, key published, token rotated, key reset,
revoked) stays "intact"; the same columns changed in SQL are reported by
``bench-ledger audit verify``; a ledger migrated from revision 0004 gets its stations chained
once.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx

from bench_agent.signing import generate_key
from tests.test_ledger_support import (
    Ledger,
    make_record,
    publish_key,
    signed,
    sqlite_ledger,  # noqa: F401 (the ledger fixture)
)


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``bench-ledger ARGS --db`` in this process (a subprocess per call cost 1.5 s each)."""
    import contextlib
    import io

    from bench_agent.ledger.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--db", f"sqlite:///{db}"])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def sql(db: Path, statement: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        assert conn.execute(statement).rowcount == 1, statement
    finally:
        conn.close()


def test_station_rows_are_chained_and_a_change_in_sql_is_caught(
    ledger: Ledger, tmp_path: Path
) -> None:
    db = tmp_path / "ledger.sqlite"
    key = generate_key(tmp_path / "bench-1.key")
    publish_key(ledger, "bench-1", key)
    posted = httpx.post(
        ledger.api("/records"), json=signed(make_record(n=1), key), headers=ledger.station_headers()
    )
    assert posted.status_code == 201  # touches last_seen_at, which changes on its own
    # Every legitimate change goes through the chain.
    for args in (
        ("station", "add", "bench-3"),
        ("station", "rotate-token", "bench-2"),
        ("station", "reset-key", "bench-1"),
        ("station", "revoke", "bench-3"),
    ):
        done = cli(db, *args)
        assert done.returncode == 0, (args, done.stderr)
    publish_key(ledger, "bench-1", generate_key(tmp_path / "bench-1-new.key"))
    verified = cli(db, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    for change, undo in (
        (
            "UPDATE stations SET public_key = 'x' || public_key WHERE name = 'bench-1'",
            "UPDATE stations SET public_key = substr(public_key, 2) WHERE name = 'bench-1'",
        ),
        (
            "UPDATE stations SET token_hash = 'f' || token_hash WHERE name = 'bench-2'",
            "UPDATE stations SET token_hash = substr(token_hash, 2) WHERE name = 'bench-2'",
        ),
        (
            "UPDATE stations SET disabled = 0 WHERE name = 'bench-3'",
            "UPDATE stations SET disabled = 1 WHERE name = 'bench-3'",
        ),
    ):
        sql(db, change)
        result = cli(db, "audit", "verify")
        assert result.returncode == 1 and "stations row" in result.stderr, (change, result.stderr)
        sql(db, undo)
        assert cli(db, "audit", "verify").returncode == 0, undo
    # A station added by hand is not in the chain either.
    sql(db, "INSERT INTO stations (name, token_hash, location, disabled, created_at, created_by) "
            "VALUES ('rogue', 'abc', '', 0, '2026-01-01 00:00:00', 'sql')")  # fmt: skip
    result = cli(db, "audit", "verify")
    assert result.returncode == 1 and "not in the audit chain" in result.stderr


def test_a_ledger_at_0004_gets_its_stations_chained_by_the_migration(tmp_path: Path) -> None:
    from sqlalchemy import text

    from bench_agent.ledger.db import Store
    from bench_agent.ledger.migrations import upgrade

    db = tmp_path / "old.sqlite"
    store = Store(f"sqlite:///{db}")
    upgrade(store.engine, "0004")
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO stations (name, token_hash, location, disabled, created_at, "
                          "created_by) VALUES ('old-bench', 'h1', '', 0, '2026-01-01 00:00:00', "
                          "'cli:x')"))  # fmt: skip
    store.dispose()
    upgraded = cli(db, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    result = cli(db, "audit", "verify")
    assert result.returncode == 0 and "1 entries" in result.stdout, result.stderr
    sql(db, "UPDATE stations SET token_hash = 'h2' WHERE name = 'old-bench'")
    tampered: Any = cli(db, "audit", "verify")
    assert tampered.returncode == 1 and "stations row 1" in tampered.stderr
