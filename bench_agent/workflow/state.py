"""The journaled state of the machine on the bench: which step, and what each step produced."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from bench_agent.i18n import N_
from bench_agent.models.base import Model
from bench_agent.models.image import ImageReport
from bench_agent.models.inventory import Inventory
from bench_agent.models.record import AutoCheck, GuidedCheck, Interruption
from bench_agent.models.verdict import Verdict
from bench_agent.models.wipe import WipePlan, WipeReport


class Step(StrEnum):
    OPERATOR = "operator"
    INTAKE = "intake"
    INVENTORY = "inventory"
    AUTO_CHECKS = "auto_checks"
    GUIDED = "guided"
    VERDICT = "verdict"
    WIPE_PLAN = "wipe_plan"
    WIPE = "wipe"
    IMAGE = "image"
    RECORD = "record"
    LABEL = "label"
    DONE = "done"


STEP_ORDER: list[Step] = list(Step)

# Step titles, translated where shown.
STEP_TITLES: dict[Step, str] = {
    Step.OPERATOR: N_("Operator"),
    Step.INTAKE: N_("Intake"),
    Step.INVENTORY: N_("Inventory"),
    Step.AUTO_CHECKS: N_("Automatic checks"),
    Step.GUIDED: N_("Guided checks"),
    Step.VERDICT: N_("Verdict"),
    Step.WIPE_PLAN: N_("Wipe plan"),
    Step.WIPE: N_("Wipe"),
    Step.IMAGE: N_("Image"),
    Step.RECORD: N_("Record"),
    Step.LABEL: N_("Label"),
    Step.DONE: N_("Done"),
}

# "" not started; planned: shown; confirmed: the operator said yes; running: written to the
# journal before the first byte is touched, so a crash leaves "running" behind.
DestructiveState = Literal["", "planned", "confirmed", "running", "done", "aborted", "skipped"]


class SkippedDevice(Model):
    device: str
    reason: str


class StepEvent(Model):
    at: datetime
    step: str
    kind: str  # enter, done, back, interrupted, rerun, skipped, aborted, error
    message: str = ""


class MachineState(Model):
    machine_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    step: Step = Step.OPERATOR
    station: str = ""
    operator: str = ""
    asset_tag: str = ""
    lot: str = ""
    profile: str = ""
    training: bool = False
    unattended: bool = False
    evidence_dir: str = ""
    disks: list[str] = Field(default_factory=list)
    image_name: str = ""
    started_at: datetime | None = None
    # Fixed before the record is first submitted, so a resubmission is byte-identical.
    finished_at: datetime | None = None
    evidence_sha256: str = ""
    inventory: Inventory | None = None
    auto_checks: list[AutoCheck] = Field(default_factory=list)
    guided: list[GuidedCheck] = Field(default_factory=list)
    verdict: Verdict | None = None
    remediation_rounds: int = 0
    destination: str = ""
    # The plan shown and confirmed, as it will run: after a restart the same plan runs.
    wipe_plans: list[WipePlan] = Field(default_factory=list)
    # A journal from before plans were journaled, confirmed: plan the same disks again first.
    wipe_replan: bool = False
    wipe_skipped: list[SkippedDevice] = Field(default_factory=list)
    wipe_state: DestructiveState = ""
    wipes: list[WipeReport] = Field(default_factory=list)
    certificates: list[dict[str, Any]] = Field(default_factory=list)
    image_target: str = ""
    image_choice: str = ""
    image_reasons: list[str] = Field(default_factory=list)
    image_state: DestructiveState = ""
    image: ImageReport | None = None
    interruptions: list[Interruption] = Field(default_factory=list)
    # A destructive step found "running" at start-up: it waits for a confirmation.
    pending_interruption: str = ""
    record_state: Literal["", "queued", "local"] = ""
    record_path: str = ""
    label_path: str = ""
    events: list[StepEvent] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _older_journal(cls, data: Any) -> Any:
        """Journals written before the plan was journaled keep only its summary
        (``wipe_targets``): a plan shown is planned again (the screen offers it), a confirmed
        one is planned again before the first byte is written, as those versions did."""
        if not isinstance(data, dict) or "wipe_targets" not in data:
            return data
        data = dict(data)
        targets = data.pop("wipe_targets")
        if targets and not data.get("wipe_plans"):
            if data.get("wipe_state") == "planned":
                data["wipe_state"] = ""
            else:
                data["wipe_replan"] = True
        return data

    @property
    def percent_done(self) -> int:
        index = STEP_ORDER.index(self.step)
        return round(100 * index / (len(STEP_ORDER) - 1))
