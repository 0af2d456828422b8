"""Live board updates: one poller per server, fanned out to every open page by server-sent events.

One background task reads the board (a single small query) every ``poll_interval_s`` — or at
once when a write reaches the ledger (``WakeOnWrite`` middleware sees every successful POST,
heartbeats included) — compares each station with what it last sent, and queues only the rows
that changed to every subscriber. Time-based changes (a station going offline or stuck) are
caught by the periodic pass, so they appear without any new heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from bench_agent.ledger.board_queries import StationView

QUEUE_SIZE = 1000


@dataclass
class Message:
    kind: str  # "station" | "stats" | "summary"
    view: StationView | None = None
    at: float = field(default_factory=time.monotonic)


class Broadcaster:
    """Polls the board and pushes changed rows to subscriber queues."""

    def __init__(
        self,
        load: Callable[[], list[StationView]],
        stats_key: Callable[[], Any],
        poll_interval_s: float,
    ) -> None:
        self._load = load
        self._stats_key = stats_key
        self.poll_interval_s = poll_interval_s
        self.subscribers: set[asyncio.Queue[Message]] = set()
        self.views: dict[str, StationView] = {}
        self._signatures: dict[str, tuple[Any, ...]] = {}
        self._last_stats: Any = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self.passes = 0

    async def subscribe(self) -> asyncio.Queue[Message]:
        queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(queue)
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            await self._pass()  # the snapshot the new page starts from
            self._task = asyncio.create_task(self._run(), name="dashboard-board-poller")
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Message]) -> None:
        self.subscribers.discard(queue)

    def wake(self) -> None:
        """Poll now (thread-safe; a no-op while nobody watches)."""
        loop, event = self._loop, self._wake
        if loop is None or event is None or self._task is None or self._task.done():
            return
        with contextlib.suppress(RuntimeError):  # loop closed at shutdown
            loop.call_soon_threadsafe(event.set)

    async def _run(self) -> None:
        assert self._wake is not None
        idle_since: float | None = None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
            self._wake.clear()
            if not self.subscribers:
                # Nobody watches: stop after a while, restart at the next subscriber.
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 30:
                    return
                continue
            idle_since = None
            try:
                await self._pass()
            except Exception:  # a transient database error must not kill the live board
                await asyncio.sleep(self.poll_interval_s)

    async def _pass(self) -> None:
        views = await run_in_threadpool(self._load)
        self.passes += 1
        changed: list[StationView] = []
        current = {}
        for view in views:
            current[view.name] = view
            signature = view.signature()
            if self._signatures.get(view.name) != signature:
                self._signatures[view.name] = signature
                changed.append(view)
        self.views = current
        messages = [Message("station", view) for view in changed]
        if changed:
            messages.append(Message("summary"))
        self._send(messages)
        # The figures below the board come after the rows: recomputing them (a record arrived)
        # must never delay a heartbeat on its way to the screens.
        stats_key = await run_in_threadpool(self._stats_key)
        if stats_key != self._last_stats:
            self._last_stats = stats_key
            self._send([Message("stats")])

    def _send(self, messages: list[Message]) -> None:
        if not messages:
            return
        for queue in list(self.subscribers):
            for message in messages:
                try:
                    queue.put_nowait(message)
                except asyncio.QueueFull:
                    # A page that stopped reading: drop it; its EventSource reconnects.
                    self.subscribers.discard(queue)
                    break


class WakeOnWrite:
    """ASGI middleware: after any successful POST/PUT outside the dashboard, poll the board now."""

    def __init__(self, app: Any, wake: Callable[[], None]) -> None:
        self.app = app
        self.wake = wake

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("POST", "PUT", "PATCH")
            or scope.get("path", "").startswith("/dashboard")
        ):
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def watch(message: Any) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        if status and 200 <= status[0] < 300:
            self.wake()


Renderer = Callable[[Message, str], Awaitable[str] | str]
