"""The bench's side of a call for help: tell the ledger's board, then learn when it is answered.

Never raises: an unreachable ledger is an answer too (``reached=False``), and the bench must
then say so and ring by itself instead of pretending the call went out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench_agent.config import AgentSettings
from bench_agent.i18n import _

HELP_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class HelpAnswer:
    reached: bool  # the ledger got the call (or answered about it)
    state: str = "none"  # none | called | acknowledged
    acknowledged_by: str = ""
    problem: str = ""  # why the ledger was not reached, in words


def _request(settings: AgentSettings, method: str, body: dict[str, Any] | None) -> HelpAnswer:
    if not settings.ledger_url or not settings.token:
        return HelpAnswer(False, problem=_("this station is not enrolled with a ledger"))
    try:
        import httpx

        from bench_agent.sync.sender import api_url, auth_headers

        response = httpx.request(
            method,
            api_url(settings, "/help"),
            json=body,
            headers=auth_headers(settings),
            timeout=HELP_TIMEOUT_S,
        )
    except Exception:
        return HelpAnswer(False, problem=_("the ledger does not answer"))
    if response.status_code in (401, 403):
        return HelpAnswer(False, problem=_("the ledger refuses this station's token"))
    if response.status_code != 200:
        return HelpAnswer(
            False,
            problem=_("the ledger answered with an error ({code})", code=response.status_code),
        )
    try:
        data = response.json()
        return HelpAnswer(True, str(data["state"]), str(data.get("acknowledged_by") or ""))
    except (ValueError, KeyError, TypeError):
        return HelpAnswer(False, problem=_("the ledger's answer was not understood"))


def call_supervisor(
    settings: AgentSettings, *, operator: str = "", asset_tag: str = "", step: str = ""
) -> HelpAnswer:
    """Put this station's call for help on the supervisors' board."""
    body = {"operator": operator[:100], "asset_tag": asset_tag[:100], "step": step[:200]}
    return _request(settings, "POST", body)


def help_answer(settings: AgentSettings) -> HelpAnswer:
    """Whether the call was acknowledged (and by whom)."""
    return _request(settings, "GET", None)
