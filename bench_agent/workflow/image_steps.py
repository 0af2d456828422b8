"""The image step of the machine's workflow: which wiped disk, which master, and the write."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bench_agent.errors import BenchError, InputError
from bench_agent.i18n import _
from bench_agent.models.image import ImageEntry, ImageReport
from bench_agent.progress import ProgressCallback, ignore_progress
from bench_agent.workflow.engines import station_catalogue
from bench_agent.workflow.state import Step
from bench_agent.workflow.steps_base import StepError, StepsBase

if TYPE_CHECKING:
    from bench_agent.imaging.personalise import Personalisation


class ImageSteps(StepsBase):
    """The image target and master, chosen when the wipe ends; the write."""

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
            planned = [p.device for p in self.state.wipe_plans]
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
        for t in self.state.wipe_plans:
            if t.device == device and t.size_bytes:
                return t.size_bytes
        try:
            with open(device, "rb") as handle:
                return handle.seek(0, os.SEEK_END)
        except OSError:
            return None

    def _choose_image(self, target: str) -> tuple[ImageEntry | None, list[str]]:
        if self._catalogue is None:
            load = self.engines.load_catalogue
            self._catalogue = load() if load else station_catalogue(self.settings)
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
                settings=self.settings,
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
