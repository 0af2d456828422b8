"""Delivering the outbox to the ledger: exactly once, whatever the network does.

The sender posts the oldest pending record first. 201 (stored) and 200 (already stored: an
earlier attempt got through but its answer was lost) both mean delivered. 409 (the ledger
holds another record under that id), 413 and 422 cannot get better by retrying: the record is
quarantined with the ledger's reason, and so is a 403 about that record only (it names
another station, or was signed with a key the station no longer has). Other 401/403 mean the
station's token or key is not accepted: the sender stops and says so. Anything else (ledger
down, 5xx, timeout) waits as ``bench_agent.retry.outbox_delay`` says (exponential back-off with
jitter), then tries again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench_agent import retry
from bench_agent.config import AgentSettings
from bench_agent.errors import EXIT_UNAVAILABLE, BenchError
from bench_agent.i18n import _
from bench_agent.sync.outbox import Outbox

RECORD_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def api_url(settings: AgentSettings, path: str) -> str:
    return settings.ledger_url.rstrip("/") + "/api/v1" + path


def auth_headers(settings: AgentSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.token}"}


def require_enrolled(settings: AgentSettings) -> None:
    if not settings.ledger_url or not settings.token:
        raise BenchError(
            _("This station is not enrolled with a ledger."),
            _("Run 'bench-agent enroll --ledger URL --token TOKEN' first."),
            exit_code=EXIT_UNAVAILABLE,
        )


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    detail = data.get("detail") if isinstance(data, dict) else data
    if isinstance(detail, list):
        parts = []
        for item in detail[:3]:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}")
        return "; ".join(parts)
    return str(detail)[:300]


class AccessRefused(BenchError):
    """The ledger refused the station's credentials: retrying cannot help."""

    exit_code = EXIT_UNAVAILABLE


@dataclass
class SyncReport:
    sent: int = 0
    already_stored: int = 0
    quarantined: int = 0
    failed: int = 0
    remaining: int = 0
    error: str = ""
    quarantined_ids: list[str] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return self.sent + self.already_stored


class Sender:
    """Sends pending records; keeps its back-off state between passes."""

    def __init__(
        self,
        settings: AgentSettings,
        outbox: Outbox,
        client: httpx.Client | None = None,
    ) -> None:
        require_enrolled(settings)
        self.settings = settings
        self.outbox = outbox
        self.client = client or httpx.Client(timeout=RECORD_TIMEOUT)
        self.failures = 0
        self.next_try_at = 0.0

    def close(self) -> None:
        self.client.close()

    def send_one(self, record_id: str, body: str, report: SyncReport) -> bool:
        """Try one record; False when the ledger cannot be reached (stop the pass)."""
        try:
            response = self.client.post(
                api_url(self.settings, "/records"),
                content=body.encode("utf-8"),
                headers={**auth_headers(self.settings), "Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            self.outbox.mark_failed(record_id, str(exc) or type(exc).__name__)
            report.failed += 1
            report.error = _(
                "The ledger {url} cannot be reached: {error}",
                url=self.settings.ledger_url,
                error=str(exc) or type(exc).__name__,
            )
            return False
        code = response.status_code
        if code in (200, 201):
            ledger_id: int | None = None
            try:
                ledger_id = int(response.json().get("id"))
            except (ValueError, TypeError, AttributeError):
                ledger_id = None
            self.outbox.mark_sent(record_id, ledger_id)
            if code == 201:
                report.sent += 1
            else:
                report.already_stored += 1
            return True
        record_only = response.headers.get("x-bench-refusal") in (
            "station-mismatch",
            "key-mismatch",
        )
        if code in (409, 413, 422) or (code == 403 and record_only):
            reason = _(
                "The ledger refused record {record_id} ({code}): {detail}",
                record_id=record_id,
                code=code,
                detail=_detail(response),
            )
            self.outbox.quarantine(record_id, reason)
            report.quarantined += 1
            report.quarantined_ids.append(record_id)
            return True
        if code in (401, 403):
            detail = _detail(response)
            self.outbox.mark_failed(record_id, detail)
            raise AccessRefused(
                _(
                    "The ledger refused this station ({code}): {detail}",
                    code=code,
                    detail=detail,
                ),
                _(
                    "Enrol the station again with a valid token: bench-agent enroll --ledger URL --token TOKEN."
                ),
            )
        self.outbox.mark_failed(record_id, f"HTTP {code}: {_detail(response)}")
        report.failed += 1
        report.error = _(
            "The ledger answered {code}: {detail}", code=code, detail=_detail(response)
        )
        return False

    def run_pass(self, *, batch: int = 200) -> SyncReport:
        """Send everything pending until the queue is empty or the ledger stops answering."""
        report = SyncReport()
        while True:
            items = self.outbox.pending(batch)
            if not items:
                break
            progressed = False
            for record_id, body in items:
                if not self.send_one(record_id, body, report):
                    self.failures += 1
                    self.next_try_at = time.monotonic() + retry.outbox_delay(self.failures)
                    report.remaining = self.outbox.queued()
                    return report
                progressed = True
            if not progressed:
                break
        self.failures = 0
        self.next_try_at = 0.0
        report.remaining = self.outbox.queued()
        return report

    def run_forever(
        self,
        *,
        poll_s: float = 5.0,
        on_report: Callable[[SyncReport], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        while not should_stop():
            now = time.monotonic()
            if now >= self.next_try_at and self.outbox.queued():
                report = self.run_pass()
                if on_report is not None and (
                    report.delivered or report.quarantined or report.error
                ):
                    on_report(report)
            wait = poll_s
            if self.next_try_at > time.monotonic():
                wait = min(poll_s, max(0.05, self.next_try_at - time.monotonic()))
            time.sleep(wait)


def record_document(body: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    return data
