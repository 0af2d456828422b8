"""The processing of one machine as a journaled state machine, shared by the TUI and ``run``.

operator → intake → inventory → automatic checks → guided checks → verdict (with the
"done, re-inventory" loop) → wipe plan → wipe → image → record → label → next machine.

Each transition is written to the journal (fsync + atomic replace) before the next step starts.
A destructive step (wipe, image) is marked ``running`` in the journal before the first byte is
written; if the bench finds it still ``running`` at start-up, the step was interrupted: it is
re-run from scratch only after an explicit confirmation, and the record says so.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bench_agent.config import AgentSettings
from bench_agent.durable import atomic_write
from bench_agent.errors import BenchError, DeviceRefused, InputError
from bench_agent.i18n import _
from bench_agent.models.image import ImageEntry, ImageReport
from bench_agent.models.inventory import Inventory
from bench_agent.models.record import AutoCheck, BenchRecord, GuidedCheck, Interruption
from bench_agent.models.verdict import Verdict
from bench_agent.models.wipe import WipePlan, WipeReport
from bench_agent.progress import ProgressCallback, ProgressEvent, ignore_progress
from bench_agent.workflow.engines import Engines
from bench_agent.workflow.journal import Journal
from bench_agent.workflow.state import (
    STEP_ORDER,
    MachineState,
    SkippedDevice,
    Step,
    StepEvent,
    WipeTarget,
)

if TYPE_CHECKING:
    from bench_agent.devices.guard import GuardPolicy
    from bench_agent.imaging.personalise import Personalisation
    from bench_agent.inventory.profiles import Profile
    from bench_agent.sanitize.validation import ValidationOptions

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


class Workflow:
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
            self.state.wipe_targets = []
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

    def _expect(self, *steps: Step) -> None:
        if self.state.step not in steps:
            raise StepError(
                _(
                    "This action belongs to the step '{expected}', the bench is at '{step}'.",
                    expected=", ".join(s.value for s in steps),
                    step=self.state.step.value,
                )
            )

    def _detect_interruptions(self) -> None:
        for name, value in (("wipe", self.state.wipe_state), ("image", self.state.image_state)):
            if value == "running" and not self.state.pending_interruption:
                self.state.pending_interruption = name
                self._event(
                    "interrupted",
                    _("The {step} was interrupted (crash or power cut).", step=name),
                )
                self._save()

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
        state = self.heartbeat_state(event)

        def send() -> None:
            try:
                self.engines.post_heartbeat(state, self.settings)
            except Exception:  # best effort: the ledger's liveness view, never the record
                return

        threading.Thread(target=send, name="heartbeat", daemon=True).start()

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
        from bench_agent.inventory.health import judge_disk

        # One health value per disk: the grading profile's limits, from here on (shown, graded,
        # and deciding which disk gets the image).
        for disk in inventory.disks:
            judge_disk(disk, self.profile().health)
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

    @property
    def rejected(self) -> bool:
        return self.state.verdict is not None and self.state.verdict.outcome == "rejected"

    # ----------------------------------------------------------------- wipe
    def _policy(self) -> GuardPolicy:
        from bench_agent.devices.guard import GuardPolicy

        # The one guard-policy builder: a loop device only when named with --disks.
        return GuardPolicy.for_profile(
            self.profile(),
            station_allows_removable=bool(self.settings.allow_removable),
            named=bool(self.state.disks),
        )

    def _candidate_devices(self) -> tuple[list[str], list[SkippedDevice]]:
        skipped: list[SkippedDevice] = []
        if self.state.disks:
            return [str(d) for d in self.state.disks], skipped
        if self.state.evidence_dir:
            skipped.append(
                SkippedDevice(
                    device="*",
                    reason=_("Recorded machine: its disks are not attached to this bench."),
                )
            )
            return [], skipped
        assert self.state.inventory is not None
        devices: list[str] = []
        policy = self._policy()
        for disk in self.state.inventory.disks:
            path = disk.path or f"/dev/{disk.name}"
            if disk.kind != "disk" or disk.transport == "loop":
                # Loop devices are never a donated disk; name them with --disks to wipe them.
                skipped.append(SkippedDevice(device=path, reason=_("not a physical disk")))
                continue
            try:
                self.engines.check_target(path, policy)
            except DeviceRefused as refused:
                skipped.append(SkippedDevice(device=path, reason=refused.message))
                continue
            devices.append(path)
        return devices, skipped

    def wipe_wanted(self) -> bool:
        if not self.rejected:
            return True
        return self.profile().wipe.wipe_rejected

    def plan_wipes(self) -> list[WipeTarget]:
        self._expect(Step.WIPE_PLAN)
        if not self.wipe_wanted():
            self.state.wipe_plans = []
            self.state.wipe_targets = []
            self.state.wipe_skipped = [
                SkippedDevice(device="*", reason=_("The profile does not wipe rejected machines."))
            ]
            self._save()
            return []
        devices, skipped = self._candidate_devices()
        plans: list[WipePlan] = []
        if devices:
            wipe = self.profile().wipe
            plans = self.engines.plan_wipes(
                devices,
                method="auto",
                verify=wipe.verify,
                allowed_methods=list(wipe.methods) or None,
                policy=self._policy(),
            )
        # Journaled: after a restart, the plan the operator confirmed is the one that runs.
        self.state.wipe_plans = plans
        self.state.wipe_targets = [WipeTarget.of(plan) for plan in plans]
        self.state.wipe_skipped = skipped
        self.state.wipe_state = "planned"
        self._save()
        return self.state.wipe_targets

    def confirm_wipe(self) -> None:
        """The operator confirmed the plan (the UI asks for two distinct keys)."""
        self._expect(Step.WIPE_PLAN)
        if self.state.wipe_state != "planned":
            # No plan (planning failed): never skip the wipe for want of one.
            raise StepError(_("There is no wipe plan yet: plan the wipe again."))
        if not self.state.wipe_targets:
            self.state.wipe_state = "skipped"
            self._event("skipped", _("No disk to wipe."))
            self._goto(Step.WIPE)
            self._after_wipe()
            return
        self.state.wipe_state = "confirmed"
        self._goto(Step.WIPE)

    def confirm_rerun(self, by: str = "") -> None:
        """Confirm re-running an interrupted destructive step from scratch."""
        step = self.state.pending_interruption
        if not step:
            raise StepError(_("No interrupted step waits for a confirmation."))
        self.state.interruptions.append(
            Interruption(
                step=step,
                detected_at=self.clock(),
                action="rerun_from_scratch",
                confirmed_by=by or self.state.operator,
            )
        )
        self.state.pending_interruption = ""
        if step == "wipe":
            self.state.wipe_state = "confirmed"
        else:
            self.state.image_state = "confirmed"
        self._event("rerun", _("The {step} is re-run from scratch.", step=step))
        self._save()

    def _refuse_if_pending(self) -> None:
        if self.state.pending_interruption:
            raise StepError(
                _(
                    "The {step} was interrupted: confirm that it is re-run from scratch first.",
                    step=self.state.pending_interruption,
                )
            )

    def run_wipe(self, *, progress: ProgressCallback = ignore_progress) -> list[WipeReport]:
        self._expect(Step.WIPE)
        self._refuse_if_pending()
        if self.state.wipe_state not in ("confirmed", "aborted"):
            raise StepError(_("The wipe has not been confirmed."))
        if self.state.wipe_targets and not self.state.wipe_plans:
            # A journal written before plans were journaled: plan the same disks again.
            self.state.step = Step.WIPE_PLAN
            self.plan_wipes()
            self.state.step = Step.WIPE
        self.state.wipe_state = "running"
        self._event("running", "")
        self._save()  # before the first byte is written
        self._heartbeat()
        from bench_agent.sanitize.certificate import CertificateContext

        context = CertificateContext(
            operator=self.state.operator,
            station=self.state.station,
            location=self.settings.location,
            asset_tag=self.state.asset_tag,
            lot=self.state.lot,
            destination=self.state.destination or self.settings.post_sanitization_destination,
        )
        report_dir = self.settings.reports_dir / (self.state.asset_tag or self.state.machine_id)
        try:
            results = self.engines.run_wipes(
                self.state.wipe_plans,
                context=context,
                progress=self._with_heartbeat(progress),
                cancel=self.cancel_event,
                report_dir=report_dir,
                validation=self._validation_options(),
            )
        except BenchError as exc:
            # The engine refused or broke before finishing: nothing is certified; running it
            # again needs a new confirmation.
            self._stopped("wipe", exc)
            raise
        reports = [report for report, _certificate in results]
        certificates = [c for _report, c in results if c is not None]
        self.state.wipes = reports
        self.state.certificates = certificates
        if any(r.status == "aborted" for r in reports):
            self.state.wipe_state = "aborted"
            self._operator_stopped("wipe")
            self._event("aborted", _("The wipe was stopped by the operator."))
            self._save()
            return reports
        if any((r.extra.get("validation") or {}).get("result") == "failed" for r in reports):
            # A failed validation revokes the certificate: the disk goes back to "to wipe".
            self.state.wipe_state = "aborted"
            self._event(
                "error", _("Validation failed: the certificate is revoked; wipe the disk again.")
            )
            self._save()
            return reports
        self.state.wipe_state = "done"
        self._after_wipe()
        return reports

    def _validation_options(self) -> ValidationOptions:
        """Validation right after the wipe, before imaging, at the rate the ledger published."""
        from bench_agent.sanitize.validation import ValidationOptions, ValidationPolicy

        return ValidationOptions(
            policy=ValidationPolicy.load(self.settings.home),
            validator=self.state.operator,
            station=self.state.station,
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

    def _after_wipe(self) -> None:
        self._goto(Step.IMAGE)
        self._plan_image()

    def _with_heartbeat(self, progress: ProgressCallback) -> ProgressCallback:
        last = [0.0]

        def callback(event: ProgressEvent) -> None:
            progress(event)
            stamp = self.clock().timestamp()
            if stamp - last[0] >= 5:
                last[0] = stamp
                self._heartbeat(event)

        return callback

    # ----------------------------------------------------------------- image
    def _plan_image(self) -> None:
        reasons: list[str] = []
        target = ""
        if self.rejected or self.state.destination in ("parts", "recycling"):
            reasons.append(_("Rejected machine: no image."))
        else:
            erased = [
                r.device
                for r in self.state.wipes
                if r.status in ("erased", "erased_with_exceptions")
            ]
            planned = [t.device for t in self.state.wipe_targets]
            candidates = erased or ([] if self.state.wipes else planned)
            # A disk judged failing (with the profile's limits) gets the image only if it is
            # the only one.
            failing = {
                d.path or f"/dev/{d.name}"
                for d in (self.state.inventory.disks if self.state.inventory else [])
                if d.health == "fail"
            }
            candidates = [c for c in candidates if c not in failing] or candidates
            if not candidates:
                reasons.append(_("No wiped disk to write the image on."))
            else:
                target = candidates[0]
        self.state.image_target = target
        if not target:
            self.state.image_state = "skipped"
            self.state.image_reasons = reasons
            self._save()
            return
        entry, why = self._choose_image(target)
        self.state.image_reasons = [str(r) for r in why]
        if entry is None:
            self.state.image_state = "skipped"
            self.state.image_choice = ""
        else:
            self.state.image_choice = entry.name
            self.state.image_state = "confirmed"  # the wipe confirmation covers the image
        self._save()

    def _target_size(self, device: str) -> int | None:
        for t in self.state.wipe_targets:
            if t.device == device and t.size_bytes:
                return t.size_bytes
        try:
            with open(device, "rb") as handle:
                return handle.seek(0, os.SEEK_END)
        except OSError:
            return None

    def _choose_image(self, target: str) -> tuple[ImageEntry | None, list[str]]:
        if self._catalogue is None:
            self._catalogue = list(self.engines.load_catalogue())
        if self.state.image_name:
            for entry in self._catalogue:
                if entry.name == self.state.image_name:
                    return entry, [_("Image chosen by the operator.")]
            raise InputError(
                _("No image named '{name}' in the catalogue.", name=self.state.image_name),
                _("Build it (scripts/build-test-master) or choose one of 'bench-agent images'."),
            )
        assert self.state.inventory is not None
        return self.engines.choose_image(
            self.state.inventory,
            self.profile(),
            self._catalogue,
            target_disk_bytes=self._target_size(target),
        )

    def _personalisation(self) -> Personalisation:
        """What an education master gets written into it: this machine's tag and lot, the
        station's workshop, contact and language."""
        from bench_agent.imaging.personalise import Personalisation

        return Personalisation.for_station(
            self.settings, self.state.asset_tag or self.state.machine_id, self.state.lot
        )

    def run_image(self, *, progress: ProgressCallback = ignore_progress) -> ImageReport | None:
        self._expect(Step.IMAGE)
        self._refuse_if_pending()
        if self.state.image_state == "":  # planning failed before (e.g. catalogue missing)
            self._plan_image()
        if self.state.image_state == "skipped":
            self._event("skipped", "; ".join(self.state.image_reasons))
            self._goto(Step.RECORD)
            return None
        if self.state.image_state not in ("confirmed", "aborted"):
            raise StepError(_("The image has not been confirmed."))
        entry, _why = self._choose_image(self.state.image_target)
        if entry is None:
            raise BenchError(_("No image suits this machine any more."))
        self.state.image_state = "running"
        self._event("running", "")
        self._save()
        self._heartbeat()
        try:
            report = self.engines.write_image(
                entry,
                self.state.image_target,
                grow=True,
                progress=self._with_heartbeat(progress),
                cancel=self.cancel_event,
                policy=self._policy(),
                personalisation=self._personalisation(),
            )
        except BenchError as exc:
            self._stopped("image", exc)
            raise
        self.state.image = report
        if self.state.image.status == "aborted":
            self.state.image_state = "aborted"
            self._operator_stopped("image")
            self._save()
            return self.state.image
        self.state.image_state = "done"
        self._goto(Step.RECORD)
        return self.state.image

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
