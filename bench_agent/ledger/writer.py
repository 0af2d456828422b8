"""One writer thread per process, committing queued writes in groups.

Records and heartbeats arrive from many stations at once. Instead of one transaction per
request (threads queueing on the database's write lock, one commit each), requests put a write
function in a queue; the writer thread runs every function waiting, each in its own savepoint
(so one refusal does not undo the others), then commits them together and only then answers
each request. The audit chain needs its appends serialised anyway.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection

from bench_agent.ledger.db import Store

WriteFunction = Callable[[Connection], Any]
MAX_BATCH = 256


class WriteQueue:
    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[WriteFunction, Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, function: WriteFunction) -> Future[Any]:
        """Queue ``function(conn)``; the future resolves after the commit that includes it."""
        future: Future[Any] = Future()
        self._queue.put((function, future))
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="ledger-writer", daemon=True
                    )
                    self._thread.start()
        return future

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[tuple[WriteFunction, Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], bool, Any]] = []
        try:
            with self.store.write_connection() as conn:
                for function, future in batch:
                    if not future.set_running_or_notify_cancel():
                        continue
                    savepoint = conn.begin_nested()
                    try:
                        value = function(conn)
                    except Exception as exc:
                        savepoint.rollback()
                        outcomes.append((future, False, exc))
                    else:
                        savepoint.commit()
                        outcomes.append((future, True, value))
        except Exception as exc:  # the commit itself failed: nobody's write is stored
            for _function, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, ok, value in outcomes:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


class HeartbeatBuffer:
    """The latest heartbeat of each station, waiting for the writer (coalesced).

    A heartbeat is a station's current state, not a record: when the disk stalls, newer states
    replace older ones still waiting instead of queueing behind them, and the station gets its
    answer without waiting for the stall to end (see ``HEARTBEAT_WAIT_S`` in the API).
    """

    def __init__(
        self, writer: WriteQueue, write: Callable[[Connection, int, dict[str, Any]], None]
    ):
        self.writer = writer
        self._write = write
        self._lock = threading.Lock()
        self._pending: dict[int, dict[str, Any]] = {}
        self._flush: Future[Any] | None = None

    def put(self, station_id: int, values: dict[str, Any]) -> Future[Any]:
        """Queue the state; the future resolves when a commit has stored it (or a newer one)."""
        with self._lock:
            self._pending[station_id] = values
            if self._flush is None:
                self._flush = self.writer.submit(self._write_pending)
            return self._flush

    def _write_pending(self, conn: Connection) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._flush = None
        for station_id, values in pending.items():
            self._write(conn, station_id, values)
        return len(pending)
