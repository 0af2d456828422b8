"""The wipe steps of the machine's workflow: which disks, the plan the operator confirms
(journaled, so the same plan runs after a restart), and the wipe itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_agent.errors import BenchError, DeviceRefused
from bench_agent.i18n import _
from bench_agent.models.record import Interruption
from bench_agent.models.wipe import WipePlan, WipeReport
from bench_agent.progress import ProgressCallback, ignore_progress
from bench_agent.workflow.commands import wipe_rules
from bench_agent.workflow.state import SkippedDevice, Step
from bench_agent.workflow.steps_base import StepError, StepsBase

if TYPE_CHECKING:
    from bench_agent.sanitize.validation import ValidationOptions


class WipeSteps(StepsBase):
    """Wipe plan → confirmation → wipe (and its validation)."""

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

    def plan_wipes(self) -> list[WipePlan]:
        self._expect(Step.WIPE_PLAN)
        if not self.wipe_wanted():
            self.state.wipe_plans = []
            self.state.wipe_replan = False
            self.state.wipe_skipped = [
                SkippedDevice(device="*", reason=_("The profile does not wipe rejected machines."))
            ]
            self._save()
            return []
        devices, skipped = self._candidate_devices()
        plans: list[WipePlan] = []
        if devices:
            # The same rules as `bench-agent wipe`: the profile's methods and read-back.
            rules = wipe_rules(self.profile(), self.settings, named=bool(self.state.disks))
            plans = self.engines.plan_wipes(
                devices,
                method="auto",
                verify=rules.verify,
                allowed_methods=rules.methods,
                policy=rules.policy,
            )
        # Journaled: after a restart, the plan the operator confirmed is the one that runs.
        self.state.wipe_plans = plans
        self.state.wipe_replan = False
        self.state.wipe_skipped = skipped
        self.state.wipe_state = "planned"
        self._save()
        return plans

    def confirm_wipe(self) -> None:
        """The operator confirmed the plan (the UI asks for two distinct keys)."""
        self._expect(Step.WIPE_PLAN)
        if self.state.wipe_state != "planned":
            # No plan (planning failed): never skip the wipe for want of one.
            raise StepError(_("There is no wipe plan yet: plan the wipe again."))
        if not self.state.wipe_plans:
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

    def run_wipe(self, *, progress: ProgressCallback = ignore_progress) -> list[WipeReport]:
        self._expect(Step.WIPE)
        self._refuse_if_pending()
        if self.state.wipe_state not in ("confirmed", "aborted"):
            raise StepError(_("The wipe has not been confirmed."))
        if self.state.wipe_replan:
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
                settings=self.settings,
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

    def _after_wipe(self) -> None:
        self._goto(Step.IMAGE)
        self._plan_image()
