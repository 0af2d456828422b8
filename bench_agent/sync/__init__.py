"""Agent side of the ledger: enrolment, durable outbox, sender, heartbeats.

Public API (the workflow and the TUI call these; none imports a web framework):

Each takes the station's settings (loaded once at the edge: CLI command, TUI, workflow).

- ``submit_record(record, settings) -> str``: sign the record with the station key and
  store it durably in the outbox (then try to deliver it in the background); returns the
  record_id. Never loses the record, even if the ledger is down for days.
- ``post_heartbeat(state, settings) -> bool``: best effort, short timeout, never raises.
- ``ledger_status(settings) -> (online, queued)``: for the TUI header (cached a few s).
- ``enroll(ledger_url, token, station=None, *, settings)``: store the ledger config, create
  the station key and publish its public key.
- ``sync_once(settings) -> SyncReport``: one delivery pass over the outbox.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench_agent.config import AgentSettings
    from bench_agent.models.record import BenchRecord
    from bench_agent.sync.outbox import Outbox
    from bench_agent.sync.sender import Sender, SyncReport


# Imported on first use (PEP 562): the wipe-only path of CPUs without SSE2 writes to the
# outbox (``bench_agent.sync.outbox``, standard library only) and must not pull pydantic
# (settings, record models) or httpx in with it.
def __getattr__(name: str) -> Any:
    module: Any
    if name == "Outbox":
        from bench_agent.sync import outbox as module
    elif name in ("Sender", "SyncReport"):
        from bench_agent.sync import sender as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "Outbox",
    "Sender",
    "SyncReport",
    "enroll",
    "ledger_status",
    "post_heartbeat",
    "submit_record",
    "sync_once",
]

HEARTBEAT_TIMEOUT_S = 2.0
STATUS_TTL_S = 5.0

_background_lock = threading.Lock()
_status_cache: dict[str, tuple[float, tuple[bool, int]]] = {}


def sign_record(record: BenchRecord, settings: AgentSettings) -> dict[str, Any]:
    from bench_agent.signing import load_or_create_key, sign_document

    key = load_or_create_key(settings.key_path)
    return sign_document(record.model_dump(mode="json", exclude={"signature"}), key)


def submit_record(record: BenchRecord, settings: AgentSettings, *, send_now: bool = True) -> str:
    """Sign ``record`` and put it durably in the outbox; return its record_id.

    When the station is enrolled, a background thread then tries to deliver the queue at once
    (``bench-agent sync`` delivers whatever that attempt leaves behind).
    """
    from bench_agent.sync.outbox import Outbox

    document = sign_record(record, settings)
    with Outbox(settings.outbox_path) as outbox:
        outbox.put(record.record_id, document)
    if send_now and settings.ledger_url and settings.token:
        threading.Thread(
            target=_deliver_quietly, args=(settings,), name="outbox-sender", daemon=True
        ).start()
    return record.record_id


def _deliver_quietly(settings: AgentSettings) -> None:
    if not _background_lock.acquire(blocking=False):
        return  # another thread is already sending
    try:
        sync_once(settings)
    except Exception:  # the outbox keeps the record; 'bench-agent sync' reports errors
        return
    finally:
        _background_lock.release()


def sync_once(settings: AgentSettings) -> SyncReport:
    from bench_agent.sync.outbox import Outbox
    from bench_agent.sync.sender import Sender

    with Outbox(settings.outbox_path) as outbox:
        sender = Sender(settings, outbox)
        try:
            return sender.run_pass()
        finally:
            sender.close()


def queued_records(settings: AgentSettings) -> int:
    from bench_agent.sync.outbox import Outbox

    if not settings.outbox_path.exists():
        return 0
    try:
        with Outbox(settings.outbox_path) as outbox:
            return outbox.queued()
    except Exception:
        return 0


def post_heartbeat(state: dict[str, Any], settings: AgentSettings) -> bool:
    """Send the station's live state; False on any failure (never raises)."""
    try:
        import httpx

        from bench_agent.models.heartbeat import HEARTBEAT_FIELDS
        from bench_agent.sync.sender import api_url, auth_headers

        if not settings.ledger_url or not settings.token:
            return False
        body: dict[str, Any] = {"station": settings.station, "extra": {}}
        for key, value in state.items():
            if key in HEARTBEAT_FIELDS:
                body[key] = value
            elif key != "station":
                body["extra"][key] = value
        if isinstance(body.get("progress"), int | float):
            body["progress"] = min(1.0, max(0.0, float(body["progress"])))
        body.setdefault("queued", queued_records(settings))
        response = httpx.post(
            api_url(settings, "/heartbeats"),
            json=body,
            headers=auth_headers(settings),
            timeout=HEARTBEAT_TIMEOUT_S,
        )
        return response.status_code == 200
    except Exception:
        return False


def ledger_status(settings: AgentSettings) -> tuple[bool, int]:
    """(ledger reachable, records waiting in the outbox); cached for a few seconds."""
    queued = queued_records(settings)
    if not settings.ledger_url:
        return False, queued
    cached = _status_cache.get(settings.ledger_url)
    now = time.monotonic()
    if cached is not None and now - cached[0] < STATUS_TTL_S:
        return cached[1][0], queued
    online = False
    try:
        import httpx

        from bench_agent.sync.sender import api_url

        online = httpx.get(api_url(settings, "/health"), timeout=1.5).status_code == 200
    except Exception:
        online = False
    _status_cache[settings.ledger_url] = (now, (online, queued))
    return online, queued


def enroll(
    ledger_url: str, token: str, station: str | None = None, *, settings: AgentSettings
) -> dict[str, str]:
    from bench_agent.sync.enroll import enroll as _enroll

    return _enroll(ledger_url, token, station, settings=settings)
