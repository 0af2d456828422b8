"""What every step of the machine's workflow shares: its state and journal, the step checks,
the heartbeat, the device policy and how a destructive step is stopped."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_agent.config import AgentSettings
from bench_agent.errors import BenchError, InputError
from bench_agent.i18n import _
from bench_agent.models.image import ImageEntry
from bench_agent.models.record import Interruption
from bench_agent.progress import ProgressCallback, ProgressEvent
from bench_agent.workflow.beats import LatestSender
from bench_agent.workflow.engines import Engines
from bench_agent.workflow.journal import Journal
from bench_agent.workflow.state import MachineState, Step, StepEvent

if TYPE_CHECKING:
    from bench_agent.devices.guard import GuardPolicy
    from bench_agent.inventory.profiles import Profile


GUIDED_ORDER = ("sound", "optical", "keyboard", "screen", "mouse")
UNATTENDED = "unattended-policy"


def now() -> datetime:
    return datetime.now(UTC)


def evidence_digest(directory: Path) -> str:
    """SHA-256 over the bundle's files (relative path and content, in sorted order)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class StepError(InputError):
    """An action was asked at the wrong step (a bug in the caller, or a stale screen)."""


class StepsBase:
    """The workflow's state and the helpers its steps share (see :class:`Workflow`)."""

    settings: AgentSettings
    engines: Engines
    clock: Callable[[], datetime]
    journal: Journal
    state: MachineState
    cancel_event: threading.Event
    _profile_obj: Profile | None
    _catalogue: list[ImageEntry] | None
    _beats: LatestSender | None = None  # made at the first heartbeat

    # ----------------------------------------------------------------- journal & helpers
    @property
    def step(self) -> Step:
        return self.state.step

    def _event(self, kind: str, message: str) -> None:
        self.state.events.append(
            StepEvent(at=self.clock(), step=self.state.step.value, kind=kind, message=message)
        )

    def _save(self) -> None:
        self.journal.save(self.state.model_dump(mode="json"))

    def _goto(self, step: Step) -> None:
        self._event("done", "")
        self.state.step = step
        self._event("enter", "")
        self._save()
        self._heartbeat()

    def _expect(self, *steps: Step) -> None:
        if self.state.step not in steps:
            raise StepError(
                _(
                    "This action belongs to the step '{expected}', the bench is at '{step}'.",
                    expected=", ".join(s.value for s in steps),
                    step=self.state.step.value,
                )
            )

    def profile(self) -> Profile:
        if self._profile_obj is None:
            self._profile_obj = self.engines.load_profile(self.state.profile)
        return self._profile_obj

    def heartbeat_state(self, event: ProgressEvent | None = None) -> dict[str, Any]:
        """What the supervisors' board shows for this bench (per step, or per engine event)."""
        waiting = self.state.step in (Step.OPERATOR, Step.INTAKE, Step.DONE)
        state: dict[str, Any] = {
            "station": self.state.station,
            "state": "idle" if waiting else "working",
            "operator": self.state.operator,
            "asset_tag": self.state.asset_tag,
            "step": self.state.step.value,
            "progress": self.state.percent_done / 100,
            "training": self.state.training,
        }
        if self.state.pending_interruption:
            state["state"] = "attention"
            state["message"] = f"{self.state.pending_interruption} interrupted"
        if event is not None:
            state.update(
                progress=event.fraction, rate=event.rate, eta_s=event.eta_s, message=event.phase
            )
        return state

    def _heartbeat(self, event: ProgressEvent | None = None) -> None:
        if self.state.training or not self.settings.ledger_url:
            return
        if self._beats is None:
            self._beats = LatestSender(
                lambda state: self.engines.post_heartbeat(state, self.settings)
            )
        self._beats.send(self.heartbeat_state(event))

    def flush_heartbeats(self, timeout_s: float = 5.0) -> None:
        """Let the last heartbeat leave before the process ends: a sender thread still in a
        request while the interpreter shuts down can crash it (exit 139 seen on the live bench)."""
        if self._beats is not None:
            self._beats.wait_idle(timeout_s)

    @property
    def rejected(self) -> bool:
        return self.state.verdict is not None and self.state.verdict.outcome == "rejected"

    def _policy(self) -> GuardPolicy:
        from bench_agent.workflow.commands import device_policy

        # The CLI commands' policy too: a loop device only when named with --disks.
        return device_policy(self.profile(), self.settings, named=bool(self.state.disks))

    def _refuse_if_pending(self) -> None:
        if self.state.pending_interruption:
            raise StepError(
                _(
                    "The {step} was interrupted: confirm that it is re-run from scratch first.",
                    step=self.state.pending_interruption,
                )
            )

    def _operator_stopped(self, step: str) -> None:
        # A stop is part of the machine's history: the record says it and that the step was
        # (to be) re-run from scratch, since nothing is certified for a stopped run.
        self.state.interruptions.append(
            Interruption(
                step=step,
                detected_at=self.clock(),
                action="rerun_from_scratch",
                confirmed_by=self.state.operator,
                note="stopped by the operator",
            )
        )

    def _stopped(self, step: str, error: BenchError) -> None:
        if step == "wipe":
            self.state.wipe_state = "aborted"
        else:
            self.state.image_state = "aborted"
        self._event("error", error.message)
        self._save()

    def _with_heartbeat(self, progress: ProgressCallback) -> ProgressCallback:
        last = [0.0]

        def callback(event: ProgressEvent) -> None:
            progress(event)
            stamp = self.clock().timestamp()
            if stamp - last[0] >= 5:
                last[0] = stamp
                self._heartbeat(event)

        return callback

    def _plan_image(self) -> None:
        raise NotImplementedError  # the image steps
