"""Database access for the ledger: where the data lives, the engine, sessions, migrations.

``Store(url)`` wraps one SQLAlchemy engine; ``store.session()`` opens a read session and
``store.write()`` a write transaction (on SQLite ``BEGIN IMMEDIATE``, so concurrent writers
queue on the busy timeout instead of failing). The default URL is the embedded SQLite file
``<data dir>/ledger.sqlite``; ``BENCH_LEDGER_DB`` or ``--db`` choose another (PostgreSQL:
``postgresql+psycopg://user:pass@host/db``, or a plain ``postgresql://`` URL).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bench_agent.errors import EXIT_UNAVAILABLE, BenchError, InputError
from bench_agent.i18n import _
from bench_agent.ledger.settings import ledger_settings

SQLITE_BUSY_TIMEOUT_MS = 30_000


def ledger_home() -> Path:
    home = ledger_settings().home
    if home is not None:
        return home
    if os.geteuid() == 0:
        return Path("/var/lib/bench-ledger")
    return Path.home() / ".local" / "share" / "bench-ledger"


def default_url() -> str:
    url = ledger_settings().db
    if url:
        return url
    return f"sqlite:///{ledger_home() / 'ledger.sqlite'}"


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs; a bare path as SQLite."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if "://" not in url:
        url = f"sqlite:///{Path(url).resolve()}"
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not open transactions itself: the "begin" hook below does it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # WAL + NORMAL: a commit survives an application crash; only an OS crash may lose the
    # last transactions (the agent's outbox still holds those records and resends them).
    cursor.execute("PRAGMA synchronous=NORMAL")
    # The background checkpointer (Store.start_checkpointer) copies the WAL into the database
    # file and fsyncs it off the request path; the commit that passes 1000 WAL pages then
    # finds nothing left to copy and the next transaction rewinds the WAL.
    cursor.execute("PRAGMA wal_autocheckpoint=1000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    if conn.get_execution_options().get("ledger_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


class Store:
    """One database: engine, session factory, and schema migrations."""

    def __init__(self, url: str | None = None, *, pool_size: int = 10) -> None:
        self.url = normalize_url(url or default_url())
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise InputError(
                _("Invalid database URL '{url}'.", url=self.url),
                _("Use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE."),
            ) from exc
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 30
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 30
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except (ArgumentError, ImportError) as exc:
            raise InputError(
                _("Cannot use the database URL '{url}': {error}", url=self.url, error=exc),
                _("Use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE."),
            ) from exc
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = threading.Lock()
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = None

    @property
    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def session(self) -> Session:
        """A session for reading (and writing that needs no serialisation)."""
        return self._sessions()

    @contextmanager
    def _writer(self) -> Iterator[None]:
        # SQLite has one writer at a time and its busy handler sleeps up to 100 ms between
        # retries: queue this process's writers on a lock instead, so they take turns at once.
        if self.is_sqlite:
            with self._write_lock:
                yield
        else:
            yield

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed on success and rolled back on error."""
        with self._writer():
            yield from self._write_session()

    def _write_session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            session.connection(execution_options={"ledger_write": True})
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A Core connection in a write transaction (the fast path of record ingest)."""
        with self._writer(), self.engine.connect() as conn:
            conn = conn.execution_options(ledger_write=True)
            with conn.begin():
                yield conn

    def check_connection(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except OperationalError as exc:
            raise BenchError(
                _(
                    "Cannot connect to the database {url}: {error}",
                    url=self.display_url,
                    error=str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
                ),
                _("Check that the database server runs and the URL, user and password are right."),
                exit_code=EXIT_UNAVAILABLE,
            ) from exc

    def is_empty(self) -> bool:
        return not inspect(self.engine).has_table("records")

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (Alembic, shipped in the package)."""
        from bench_agent.ledger.migrations import upgrade

        self.check_connection()
        upgrade(self.engine)

    def start_checkpointer(self, interval_s: float = 0.5) -> None:
        """SQLite: copy the WAL into the database file twice a second, off the request path."""
        if not self.is_sqlite or self._checkpointer is not None:
            return
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval_s):
                try:
                    with self.engine.connect() as conn:
                        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                except Exception:  # the next round tries again; a failure loses nothing
                    continue

        thread = threading.Thread(target=run, name="sqlite-checkpoint", daemon=True)
        self._checkpointer = (thread, stop)
        thread.start()

    def dispose(self) -> None:
        if self._checkpointer is not None:
            thread, stop = self._checkpointer
            stop.set()
            thread.join(timeout=10)
            self._checkpointer = None
        self.engine.dispose()
