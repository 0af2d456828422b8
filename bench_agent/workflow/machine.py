"""The processing of one machine as a journaled state machine, shared by the TUI and ``run``.

operator → intake → inventory → automatic checks → guided checks → verdict (with the
"done, re-inventory" loop) → wipe plan → wipe → image → record → label → next machine.

Each transition is written to the journal (fsync + atomic replace) before the next step starts.
A destructive step (wipe, image) is marked ``running`` in the journal before the first byte is
written; if the bench finds it still ``running`` at start-up, the step was interrupted: it is
re-run from scratch only after an explicit confirmation, and the record says so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from bench_agent.config import AgentSettings
from bench_agent.durable import atomic_write
from bench_agent.errors import BenchError, InputError
from bench_agent.i18n import _
from bench_agent.models.image import ImageEntry
from bench_agent.models.inventory import Inventory
from bench_agent.models.record import AutoCheck, BenchRecord, GuidedCheck
from bench_agent.models.verdict import Verdict
from bench_agent.progress import ProgressCallback, ignore_progress
from bench_agent.workflow.engines import Engines
from bench_agent.workflow.image_steps import ImageSteps
from bench_agent.workflow.journal import Journal
from bench_agent.workflow.state import STEP_ORDER, MachineState, Step
from bench_agent.workflow.steps_base import (
    GUIDED_ORDER,
    UNATTENDED,
    StepError,
    evidence_digest,
    now,
)
from bench_agent.workflow.wipe_steps import WipeSteps

if TYPE_CHECKING:
    from bench_agent.inventory.profiles import Profile


__all__ = ["GUIDED_ORDER", "UNATTENDED", "StepError", "Workflow", "evidence_digest", "now"]


class Workflow(WipeSteps, ImageSteps):
    """One bench, one machine at a time. Methods block; call them from a worker thread."""

    def __init__(
        self,
        settings: AgentSettings,
        engines: Engines | None = None,
        *,
        profile: str | None = None,
        training: bool = False,
        unattended: bool = False,
        evidence_dir: Path | None = None,
        disks: Iterable[str] = (),
        image: str = "",
        journal_dir: Path | None = None,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.settings = settings
        self.engines = engines or Engines()
        self.clock = clock
        # Own sub-folder: the engines keep their journals in journal_dir too.
        self.journal = Journal(journal_dir or settings.journal_dir / "machine")
        self._profile_obj: Profile | None = None
        self._catalogue: list[ImageEntry] | None = None
        self._lock = threading.Lock()
        # Set to stop the wipe or image in progress. Whoever requests a run clears it first
        # (the bench app, as it marks the step busy): a stop confirmed while the run is still
        # being prepared is then honoured, not cleared away as the engine starts.
        self.cancel_event = threading.Event()
        self.resumed = False
        loaded = self.journal.load()
        if loaded is not None:
            self.state = MachineState.model_validate(loaded)
            self.resumed = True
            self._detect_interruptions()
        else:
            self.state = MachineState(
                station=settings.station,
                profile=profile or settings.profile,
                training=training,
                unattended=unattended,
                evidence_dir=str(evidence_dir) if evidence_dir else "",
                disks=[str(d) for d in disks],
                image_name=image,
                operator=settings.operator if unattended else "",
            )
            self._event("enter", "")
            self._save()

    # Where "back" (Esc) goes from a step; none from the others (a running or finished
    # destructive step is never left backwards, and nothing goes back into one).
    BACK: ClassVar[dict[Step, Step]] = {
        Step.INTAKE: Step.OPERATOR,
        Step.VERDICT: Step.GUIDED,
        Step.WIPE_PLAN: Step.VERDICT,
    }

    def can_go_back(self) -> bool:
        """Whether :meth:`back` would move: the step has a way back and nothing destructive
        has started (an interrupted wipe or image waits for its confirmation instead)."""
        step = self.state.step
        if step not in self.BACK or self.state.pending_interruption:
            return False
        if step is Step.VERDICT:
            return bool(self.state.guided)
        if step is Step.WIPE_PLAN:
            return self.state.wipe_state in ("", "planned") and not self.state.wipes
        return True

    def back(self) -> Step:
        """The operator went back one step (Esc): journaled like every transition.

        Intake → operator login; verdict → the last guided check, asked again; wipe plan →
        verdict, graded again (a reject chosen on the verdict is undone with the plan)."""
        if not self.can_go_back():
            raise StepError(
                _("There is no way back from the step '{step}'.", step=self.state.step.value)
            )
        target = self.BACK[self.state.step]
        if target is Step.OPERATOR:
            self.state.operator = ""
        elif target is Step.GUIDED:
            last = self.state.guided[-1]
            self.state.guided[-1] = GuidedCheck(id=last.id)
            self.state.verdict = None
        else:  # wipe plan → verdict
            self.state.destination = ""
            self.state.wipe_plans = []
            self.state.wipe_skipped = []
            self.state.wipe_state = ""
        self._event("back", "")
        self.state.step = target
        self._event("enter", "")
        if target is Step.VERDICT:
            self._grade()  # also saves
        else:
            self._save()
        self._heartbeat()
        return target

    def _detect_interruptions(self) -> None:
        for name, value in (("wipe", self.state.wipe_state), ("image", self.state.image_state)):
            if value == "running" and not self.state.pending_interruption:
                self.state.pending_interruption = name
                self._event(
                    "interrupted",
                    _("The {step} was interrupted (crash or power cut).", step=name),
                )
                self._save()

    # ----------------------------------------------------------------- operator & intake
    def login(self, operator: str) -> None:
        self._expect(Step.OPERATOR)
        if not operator.strip():
            raise InputError(_("The operator name is empty."), _("Type or choose your name."))
        self.state.operator = operator.strip()
        self._goto(Step.INTAKE)

    def next_asset_tag(self) -> str:
        """A new asset tag for a machine that arrived without one: STATION-YYMMDD-NNN."""
        counter = self.journal.directory / "asset-counter"
        today = self.clock().strftime("%y%m%d")
        last_day, number = "", 0
        if counter.exists():
            parts = counter.read_text().split()
            if len(parts) == 2 and parts[1].isdigit():
                last_day, number = parts[0], int(parts[1])
        number = number + 1 if last_day == today else 1
        atomic_write(counter, f"{today} {number}\n".encode())
        prefix = "".join(c for c in self.state.station.upper() if c.isalnum())[:8] or "BENCH"
        return f"{prefix}-{today}-{number:03d}"

    def intake(self, asset_tag: str = "", lot: str = "") -> str:
        self._expect(Step.INTAKE)
        tag = asset_tag.strip() or self.next_asset_tag()
        self.state.asset_tag = tag
        self.state.lot = lot.strip()
        self.state.started_at = self.clock()
        self._goto(Step.INVENTORY)
        return tag

    # ----------------------------------------------------------------- inventory & checks
    def take_inventory(self) -> Inventory:
        self._expect(Step.INVENTORY)
        if self.state.evidence_dir:
            evidence = Path(self.state.evidence_dir)
            inventory = self.engines.collect_inventory(evidence_dir=evidence)
            self.state.evidence_sha256 = evidence_digest(evidence)
        else:
            saved = self.journal.directory / "evidence" / self.state.machine_id
            inventory = self.engines.collect_inventory(save_evidence=saved)
            if saved.is_dir():
                self.state.evidence_sha256 = evidence_digest(saved)
        from bench_agent.workflow.commands import judge_disks

        judge_disks(inventory, self.profile())  # the profile's limits from here on
        self.state.inventory = inventory
        self._goto(Step.AUTO_CHECKS)
        return self.state.inventory

    def run_auto_checks(
        self,
        *,
        quick: bool = True,
        self_test: bool = False,
        progress: ProgressCallback = ignore_progress,
    ) -> list[AutoCheck]:
        self._expect(Step.AUTO_CHECKS)
        assert self.state.inventory is not None
        if self.state.evidence_dir:
            # A recorded machine: the checks would measure this bench, not the donated PC.
            checks: list[AutoCheck] = []
            self._event("skipped", _("Automatic checks skipped: recorded machine."))
        else:
            checks = self.engines.run_auto_checks(
                self.state.inventory, quick=quick, progress=progress
            )
            if self_test:
                checks += self._self_tests(progress)
        self.state.auto_checks = checks
        self.state.guided = [GuidedCheck(id=cid) for cid in self.guided_ids()]
        self._goto(Step.GUIDED if self.state.guided else Step.VERDICT)
        if self.state.step is Step.VERDICT:
            self._grade()
        return checks

    def _self_tests(self, progress: ProgressCallback) -> list[AutoCheck]:
        """The drives' own SMART short self-test, for disks that answer SMART."""
        assert self.state.inventory is not None
        results: list[AutoCheck] = []
        for disk in self.state.inventory.disks:
            if not disk.smart.available:
                continue
            started = self.clock()
            try:
                verdict = self.engines.self_test(disk.path or f"/dev/{disk.name}", progress)
            except BenchError as exc:
                results.append(
                    AutoCheck(
                        id=f"smart.selftest.{disk.name}", status="skipped", message=exc.message
                    )
                )
                continue
            ok = "without error" in verdict.lower()
            results.append(
                AutoCheck(
                    id=f"smart.selftest.{disk.name}",
                    status="pass" if ok else "fail",
                    measured=verdict,
                    duration_s=(self.clock() - started).total_seconds(),
                )
            )
        return results

    def guided_ids(self) -> list[str]:
        wanted = self.profile().guided_checks
        return [c for c in GUIDED_ORDER if c in wanted]

    def record_guided(
        self, check_id: str, status: str, note: str = "", *, tested: bool | None = None
    ) -> None:
        """The operator's answer; ``tested``: whether the check's test was run before it."""
        self._expect(Step.GUIDED)
        for index, check in enumerate(self.state.guided):
            if check.id == check_id:
                self.state.guided[index] = GuidedCheck.model_validate(
                    {
                        "id": check_id,
                        "status": status,
                        "note": note,
                        "at": self.clock(),
                        "tested": tested,
                    }
                )
                self._save()
                return
        raise InputError(_("Unknown guided check '{check}'.", check=check_id))

    def finish_guided(self) -> Verdict:
        self._expect(Step.GUIDED)
        self._goto(Step.VERDICT)
        return self._grade()

    def _grade(self) -> Verdict:
        assert self.state.inventory is not None
        verdict = self.engines.grade_inventory(
            self.state.inventory,
            self.profile(),
            guided=self.state.guided,
            auto_checks=self.state.auto_checks,
        )
        self.state.verdict = verdict
        self._save()
        return verdict

    # ----------------------------------------------------------------- verdict
    def remediation_done(self) -> None:
        """The operator did the remediation (added RAM, a drive...): inventory again."""
        self._expect(Step.VERDICT)
        self.state.remediation_rounds += 1
        self.state.verdict = None
        self._event("rerun", _("Remediation done: new inventory."))
        self._goto(Step.INVENTORY)

    def reject(self, destination: str = "parts") -> None:
        """The operator rejects the machine whatever the grading said."""
        self._expect(Step.VERDICT)
        if destination not in ("parts", "recycling"):
            raise InputError(_("Unknown destination '{destination}'.", destination=destination))
        assert self.state.verdict is not None
        self.state.verdict = self.state.verdict.model_copy(
            update={"outcome": "rejected", "destination": destination}
        )
        self._accept(destination)

    def accept_verdict(self, destination: str = "") -> None:
        self._expect(Step.VERDICT)
        assert self.state.verdict is not None
        if self.state.verdict.outcome == "rejected":
            chosen = destination or self.state.verdict.destination or "parts"
            if chosen not in ("parts", "recycling"):
                raise InputError(_("Unknown destination '{destination}'.", destination=chosen))
        else:
            chosen = "reuse"
        self._accept(chosen)

    def _accept(self, destination: str) -> None:
        self.state.destination = destination
        self._goto(Step.WIPE_PLAN)
        self.plan_wipes()

    # ----------------------------------------------------------------- record & label
    def build_record(self) -> BenchRecord:
        assert self.state.inventory is not None
        return BenchRecord(
            record_id=self.state.machine_id,
            station=self.state.station,
            operator=self.state.operator,
            asset_tag=self.state.asset_tag,
            lot=self.state.lot,
            profile=self.state.profile,
            training=self.state.training,
            started_at=self.state.started_at,
            finished_at=self.state.finished_at or self.clock(),
            inventory=self.state.inventory,
            verdict=self.state.verdict,
            auto_checks=self.state.auto_checks,
            guided_checks=self.state.guided,
            wipes=self.state.wipes,
            image=self.state.image,
            certificates=self.state.certificates,
            destination=self.state.destination,
            evidence_sha256=self.state.evidence_sha256,
            interruptions=self.state.interruptions,
            remediation_rounds=self.state.remediation_rounds,
            target_devices=self.state.disks,
            extra={
                "wipe_skipped": [s.model_dump() for s in self.state.wipe_skipped],
                "image_reasons": self.state.image_reasons,
                "unattended": self.state.unattended,
            },
        )

    def make_record(self) -> BenchRecord:
        self._expect(Step.RECORD)
        if self.state.finished_at is None:
            # Journaled first: a crash after the outbox took the record and before the next
            # step was saved resubmits the very same document (same id, same bytes).
            self.state.finished_at = self.clock()
            self._save()
        record = self.build_record()
        folder = self.settings.reports_dir / (self.state.asset_tag or self.state.machine_id)
        path = folder / f"record-{record.record_id}.json"
        if self.state.training:
            # Training: nothing reaches the ledger; the record stays beside the reports.
            self.state.record_state = "local"
        else:
            self.engines.submit_record(record, self.settings)
            self.state.record_state = "queued"
        atomic_write(path, record.model_dump_json(indent=1).encode())
        self.state.record_path = str(path)
        self._goto(Step.LABEL)
        return record

    def make_label(self) -> Path:
        self._expect(Step.LABEL)
        from bench_agent.workflow.label import write_label

        folder = self.settings.reports_dir / (self.state.asset_tag or self.state.machine_id)
        path = write_label(self.state, folder)
        self.state.label_path = str(path)
        self._goto(Step.DONE)
        return path

    def next_machine(self, *, start_next: bool = True) -> None:
        """Archive this machine's journal and start the next one with the same operator."""
        self._expect(Step.DONE)
        operator = self.state.operator
        old = self.state
        self.journal.archive(old.asset_tag or old.machine_id)
        if not start_next:
            return
        self._catalogue = None
        self.resumed = False
        self.state = MachineState(
            station=old.station,
            profile=old.profile,
            training=old.training,
            unattended=old.unattended,
            evidence_dir=old.evidence_dir,
            disks=old.disks,
            image_name=old.image_name,
            operator=operator,
            step=Step.INTAKE if operator else Step.OPERATOR,
        )
        self._event("enter", "")
        self._save()

    # ----------------------------------------------------------------- overview
    def steps(self) -> list[tuple[Step, str]]:
        """Each step and its status: done, current, todo."""
        index = STEP_ORDER.index(self.state.step)
        return [
            (step, "done" if i < index else "current" if i == index else "todo")
            for i, step in enumerate(STEP_ORDER)
        ]
