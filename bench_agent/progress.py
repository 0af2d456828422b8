"""Progress events: the one shape every long engine (wipe, image, self-test) reports in.

Engines call a ``ProgressCallback`` with ``ProgressEvent``s; the TUI, the CLI progress bar and
the ledger heartbeat consume them. Nobody polls an engine's internals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    job: str  # what is being worked on, e.g. the device name "sda"
    phase: str  # e.g. "write", "verify", "firmware", "self-test"
    done: int  # units done (bytes unless stated otherwise)
    total: int
    rate: float = 0.0  # units per second, smoothed
    eta_s: float | None = None
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


ProgressCallback = Callable[[ProgressEvent], None]


def ignore_progress(_event: ProgressEvent) -> None:
    """A callback for callers that do not watch progress."""


class RateMeter:
    """Turns (done, total) samples into events with a smoothed rate and an ETA."""

    def __init__(
        self,
        job: str,
        phase: str,
        total: int,
        callback: ProgressCallback,
        *,
        min_interval_s: float = 0.25,
        smoothing: float = 0.3,
    ) -> None:
        self.job = job
        self.phase = phase
        self.total = total
        self.callback = callback
        self.min_interval_s = min_interval_s
        self.smoothing = smoothing
        self._t0 = time.monotonic()
        self._last_t = self._t0
        self._last_done = 0
        self._rate = 0.0

    def update(self, done: int, *, force: bool = False, message: str = "") -> None:
        now = time.monotonic()
        dt = now - self._last_t
        if not force and dt < self.min_interval_s:
            return
        if dt > 0:
            instant = (done - self._last_done) / dt
            self._rate = (
                instant
                if self._rate == 0
                else (self.smoothing * instant + (1 - self.smoothing) * self._rate)
            )
        self._last_t, self._last_done = now, done
        eta = (self.total - done) / self._rate if self._rate > 0 else None
        self.callback(
            ProgressEvent(self.job, self.phase, done, self.total, self._rate, eta, message)
        )

    def finish(self, done: int | None = None, message: str = "") -> None:
        self.update(self.total if done is None else done, force=True, message=message)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._t0
