"""The board ends on the bench's latest step: heartbeats leave in order, one at a time.

The post is the real one (httpx to a real HTTP server) with a server that answers the first
heartbeats slowly, as a busy ledger does; before this, each heartbeat had its own thread and a
slow "label" landed after the "done" that followed it (seen in a full-cycle pilot test)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx

from bench_agent.workflow.beats import LatestSender


class _Ledger(BaseHTTPRequestHandler):
    received: ClassVar[list[str]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["step"] == "label":
            time.sleep(0.4)  # the busy ledger: this one is slow to land
        with self.lock:
            self.received.append(body["step"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_the_last_step_sent_is_the_last_one_the_ledger_stores() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ledger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/beat"
    concurrent = 0
    most = 0
    guard = threading.Lock()

    def post(state: dict[str, Any]) -> None:
        nonlocal concurrent, most
        with guard:
            concurrent += 1
            most = max(most, concurrent)
        try:
            httpx.post(url, json=state, timeout=5)
        finally:
            with guard:
                concurrent -= 1

    try:
        sender = LatestSender(post)
        for step in ("wipe", "image", "label", "done"):
            sender.send({"step": step})
            time.sleep(0.05)
        assert sender.wait_idle(10)
        assert _Ledger.received[-1] == "done", _Ledger.received
        assert most == 1  # one at a time: never two in flight
        # Overtaken states may be dropped, but what is sent keeps the steps' order.
        order = ["wipe", "image", "label", "done"]
        assert _Ledger.received == sorted(_Ledger.received, key=order.index)
        # A failing post does not stop the next heartbeats.
        broken = LatestSender(lambda state: httpx.post("http://127.0.0.1:9/x", timeout=0.5))
        broken.send({"step": "wipe"})
        assert broken.wait_idle(10)
        sender.send({"step": "intake"})
        assert sender.wait_idle(10) and _Ledger.received[-1] == "intake"
    finally:
        server.shutdown()
