"""The durable local outbox: every signed record is written here before anything is sent.

A SQLite file (``<home>/outbox.sqlite``) in WAL mode with ``synchronous=FULL``: once
``put`` returns, the record survives a crash or a power cut. The sender marks a record
``sent`` only after the ledger said it is stored (201, or 200 "already stored"), so a record is
never lost and a resend never duplicates it (the ledger is idempotent by ``record_id``).
States: ``pending`` → ``sent`` | ``quarantined`` (the ledger refused it for good: conflict,
invalid; kept with the reason until an operator re-queues or drops it).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_agent.errors import BenchError
from bench_agent.i18n import _

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    record_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    last_attempt_at REAL,
    sent_at REAL,
    ledger_id INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, created_at);
"""


@dataclass(frozen=True)
class OutboxEntry:
    record_id: str
    created_at: float
    state: str
    attempts: int
    last_error: str
    last_attempt_at: float | None
    sent_at: float | None
    ledger_id: int | None
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "created_at": self.created_at,
            "state": self.state,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "last_attempt_at": self.last_attempt_at,
            "sent_at": self.sent_at,
            "ledger_id": self.ledger_id,
            "size": self.size,
        }


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(path), timeout=30, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise BenchError(
                _("Cannot open the outbox {path}: {error}", path=path, error=exc),
                _("Check that the station's home directory is writable and not full."),
            ) from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        # Only a new record needs an fsync before returning. Losing a "sent" mark in a power
        # cut merely resends the record, which the ledger answers with "already stored".
        self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def put(self, record_id: str, document: dict[str, Any]) -> bool:
        """Store a signed record durably; False when that record_id is already queued."""
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO outbox(record_id, body, created_at) VALUES (?, ?, ?)",
                (record_id, body, time.time()),
            )
            return cursor.rowcount == 1

    def pending(self, limit: int = 100) -> list[tuple[str, str]]:
        """(record_id, body) of the oldest records waiting to be sent."""
        rows = self._conn.execute(
            "SELECT record_id, body FROM outbox WHERE state = 'pending' "
            "ORDER BY created_at, record_id LIMIT ?",
            (limit,),
        ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def mark_sent(self, record_id: str, ledger_id: int | None) -> None:
        with self._transaction(durable=False) as conn:
            conn.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, ledger_id = ?, last_error = '', "
                "attempts = attempts + 1, last_attempt_at = ? WHERE record_id = ?",
                (time.time(), ledger_id, time.time(), record_id),
            )

    def mark_failed(self, record_id: str, error: str) -> None:
        with self._transaction(durable=False) as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, last_attempt_at = ? "
                "WHERE record_id = ?",
                (error, time.time(), record_id),
            )

    def quarantine(self, record_id: str, reason: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'quarantined', attempts = attempts + 1, "
                "last_error = ?, last_attempt_at = ? WHERE record_id = ?",
                (reason, time.time(), record_id),
            )

    def requeue(self, record_id: str) -> bool:
        """Put a quarantined record back in the queue (after the ledger side was fixed)."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET state = 'pending', last_error = '' "
                "WHERE record_id = ? AND state = 'quarantined'",
                (record_id,),
            )
            return cursor.rowcount == 1

    def counts(self) -> dict[str, int]:
        result = {"pending": 0, "sent": 0, "quarantined": 0}
        for state, count in self._conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
            result[str(state)] = int(count)
        return result

    def queued(self) -> int:
        row = self._conn.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()
        return int(row[0])

    def entries(self, states: tuple[str, ...] = ("pending", "quarantined")) -> list[OutboxEntry]:
        marks = ",".join("?" for _ in states)
        rows = self._conn.execute(
            "SELECT record_id, created_at, state, attempts, last_error, last_attempt_at, "
            f"sent_at, ledger_id, length(body) FROM outbox WHERE state IN ({marks}) "
            "ORDER BY created_at, record_id",
            states,
        ).fetchall()
        return [OutboxEntry(*row) for row in rows]

    def body(self, record_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT body FROM outbox WHERE record_id = ?", (record_id,)
        ).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        return data


def open_outbox(path: Path) -> Outbox:
    return Outbox(path)
