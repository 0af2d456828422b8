"""A bench's live state, as the stations' boards show it: the heartbeat's fields and the words
for a station's status, defined once for the agent, the ledger and the terminal board."""

from __future__ import annotations

from pydantic import Field

from bench_agent.i18n import N_
from bench_agent.models.base import Model


class Heartbeat(Model):
    """What a bench reports of itself every few seconds (anything else goes in ``extra``)."""

    state: str = Field(default="", max_length=64)
    step: str = Field(default="", max_length=200)
    progress: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    rate: float | None = Field(
        default=None, ge=0, le=1e15, allow_inf_nan=False, description="bytes per second"
    )
    eta_s: float | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)
    operator: str = Field(default="", max_length=100)
    asset_tag: str = Field(default="", max_length=100)
    queued: int = Field(default=0, ge=0, le=10_000_000, description="records waiting in the outbox")
    training: bool = False
    message: str = Field(default="", max_length=500)


HEARTBEAT_FIELDS = frozenset(Heartbeat.model_fields)

# A station's status on the boards (from its last heartbeat's age and state).
STATUS_WORDS = {
    "working": N_("working"),
    "idle": N_("idle"),
    "stuck": N_("stuck"),
    "offline": N_("offline"),
    "never": N_("never seen"),
}
