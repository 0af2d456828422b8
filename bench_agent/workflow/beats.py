"""Heartbeats leave one at a time, newest last: the board must end on the bench's latest step.

A heartbeat is best effort and must never hold up the workflow, so it is sent from a thread.
One thread per heartbeat let a slow "label" arrive after the "done" that followed it, and the
board then showed the finished bench still labelling. Here one sender thread at a time posts the
newest pending state; states that were overtaken while it was busy are dropped (the board only
shows the latest), and the order of what is sent is the order of the steps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class LatestSender:
    """Post states in order from one background thread, coalescing those overtaken meanwhile."""

    def __init__(self, post: Callable[[dict[str, Any]], object]) -> None:
        self._post = post
        self._lock = threading.Lock()
        self._pending: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None

    def send(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._pending = state
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                state, self._pending = self._pending, None
                if state is None:
                    self._thread = None
                    return
            try:
                self._post(state)
            except Exception:  # best effort: the ledger's liveness view, never the record
                continue

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until everything pending was posted (tests, and a clean exit)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        with self._lock:
            return self._thread is None
