"""The wipe plan, the wipe or image at work, and the finished machine."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Digits, Label, Static

from bench_agent.i18n import _, format_size
from bench_agent.progress import ProgressEvent
from bench_agent.tui.parts_bin import keep_parts, kept_lines, parts_to_keep
from bench_agent.tui.step_base import Action, StepScreen, step_word
from bench_agent.tui.widgets import (
    JobProgress,
    status_class,
    status_text,
)
from bench_agent.workflow.state import Step
from bench_agent.workflow.words import method_words, verification_words


# ---------------------------------------------------------------------------------- wipe plan
class WipePlanScreen(StepScreen):
    STEPS = (Step.WIPE_PLAN,)

    def title_text(self) -> str:
        return _("Wipe plan: these disks will be erased")

    def body(self) -> ComposeResult:
        state = self.bench.wf.state
        for target in state.wipe_plans:
            yield Static(
                _(
                    "▣ {device} · {model} · {size} · method {method} · verify {verify}",
                    device=target.device,
                    model=target.model or "–",
                    size=format_size(target.size_bytes),
                    method=method_words(target.method),
                    verify=verification_words(target.verify),
                ),
                classes="plan-row",
            )
        if state.wipe_state != "planned":
            yield Static(_("The wipe could not be planned (see the message)."), classes="plan-row")
        elif not state.wipe_plans:
            yield Static(_("No disk will be erased."), classes="plan-row")
        for skipped in state.wipe_skipped:
            yield Static(
                _(
                    "– {device}: not erased ({reason})",
                    device=skipped.device,
                    reason=skipped.reason,
                ),
                classes="plan-skip",
            )

    def actions(self) -> list[Action]:
        if self.bench.wf.state.wipe_state != "planned":
            return [("replan", _("Plan the wipe again"), True)]
        if self.bench.wf.state.wipe_plans:
            return [("erase", _("Erase… (confirm with two keys)"), True)]
        return [("skip", _("Continue"), True)]

    def act(self, action_id: str) -> None:
        wf = self.bench.wf
        if action_id == "replan":
            self.bench.run_step("plan", wf.plan_wipes)
            return
        if action_id == "skip":
            self.bench.run_step("wipe", wf.confirm_wipe)
            return
        devices = ", ".join(t.device for t in wf.state.wipe_plans)
        self.confirm(
            _("Erase for good: {devices}", devices=devices),
            _("Everything on these disks is lost; there is no undo."),
            lambda: self.bench.run_step("confirm", wf.confirm_wipe),
        )


# ---------------------------------------------------------------------------------- wipe/image
class WorkScreen(StepScreen):
    """The wipe or the image: per-disk progress bars with rate and ETA, big percent."""

    STEPS = (Step.WIPE, Step.IMAGE)

    def __init__(self) -> None:
        super().__init__()
        self.step = Step.WIPE
        self.jobs: dict[str, JobProgress] = {}
        self.fractions: dict[str, float] = {}

    def handles(self, step: Step) -> bool:
        return step is self.step

    def compose(self) -> ComposeResult:
        self.step = self.bench.wf.step
        yield from super().compose()

    def title_text(self) -> str:
        wf = self.bench.wf
        if wf.state.pending_interruption:
            return _("⚠ The {step} was interrupted", step=step_word(wf.state.pending_interruption))
        if self.step is Step.WIPE:
            return _("Wipe in progress")
        return _("Image: {name}", name=wf.state.image_choice or "–")

    def body(self) -> ComposeResult:
        wf = self.bench.wf
        state = wf.state
        if state.pending_interruption:
            yield Static(
                _(
                    "The bench stopped during the {step} (crash or power cut). It must be re-run "
                    "from scratch: nothing was certified for it.",
                    step=step_word(state.pending_interruption),
                ),
                id="interrupted",
            )
            return
        with Horizontal(id="percent-row"):
            yield Digits("0", id="percent")
            yield Label("%", id="percent-sign")
        self.jobs = {}
        if self.step is Step.WIPE:
            for target in state.wipe_plans:
                name = target.device.rsplit("/", 1)[-1]
                job = JobProgress(
                    name, f"{target.device} · {target.model or '–'} · {method_words(target.method)}"
                )
                self.jobs[name] = job
                yield job
            for report in state.wipes:
                yield Label(f"{status_text(report.status)}  {report.device}", classes="done-row")
        else:
            if state.image_state == "skipped":
                yield Static("\n".join(state.image_reasons) or _("No image for this machine."))
            else:
                name = state.image_target.rsplit("/", 1)[-1]
                job = JobProgress(name, f"{state.image_target} · {state.image_choice}")
                self.jobs[name] = job
                yield job

    def actions(self) -> list[Action]:
        state = self.bench.wf.state
        if state.pending_interruption:
            return [("rerun", _("Re-run from scratch… (two keys)"), True)]
        own = state.wipe_state if self.step is Step.WIPE else state.image_state
        if own == "aborted":
            return [("again", _("Start again… (two keys)"), True)]
        if own == "skipped" and self.step is Step.IMAGE:
            return [("go", _("Continue"), True)]
        return [("stop", _("Stop"), False)]

    def start(self) -> None:
        wf = self.bench.wf
        state = wf.state
        if state.pending_interruption or not self.bench.autostart or self.bench.busy:
            return
        own = state.wipe_state if self.step is Step.WIPE else state.image_state
        if own == "confirmed":
            self.begin()

    def begin(self) -> None:
        wf = self.bench.wf
        if self.step is Step.WIPE:
            self.bench.run_step("wipe", lambda: wf.run_wipe(progress=self.bench.progress))
        else:
            self.bench.run_step("image", lambda: wf.run_image(progress=self.bench.progress))

    def act(self, action_id: str) -> None:
        wf = self.bench.wf
        if action_id == "go":
            self.begin()
        elif action_id == "stop":
            self.ask_stop()
        elif action_id in ("rerun", "again"):
            what = wf.state.pending_interruption or self.step.value

            def confirmed() -> None:
                self.bench.show_resume_notice = False
                if wf.state.pending_interruption:
                    wf.confirm_rerun(by=wf.state.operator)
                    self.refresh_view()  # starts the confirmed step
                else:
                    self.begin()  # stopped or failed before: run it again

            self.confirm(_("Re-run the {step} from scratch", step=step_word(what)), "", confirmed)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        # "Stop" must work while the worker runs.
        # (Textual also calls StepScreen.on_button_pressed, unless the default is prevented.)
        if event.button.id == "act-stop":
            event.stop()
            event.prevent_default()
            self.ask_stop()

    def ask_stop(self) -> None:
        """A stray key never stops a wipe or an image: stopping is confirmed with two inputs."""
        what = self.bench.busy
        if what not in ("wipe", "image"):
            return

        def stop() -> None:
            if self.bench.busy == what:  # still running (it may have finished meanwhile)
                self.bench.wf.cancel_event.set()

        self.confirm(
            _("Stop the {step}", step=step_word(what)),
            _("Nothing is certified for it; it must be re-run from scratch."),
            stop,
        )

    def show_progress(self, event: ProgressEvent) -> None:
        job = self.jobs.get(event.job) or self.jobs.get(event.job.rsplit("/", 1)[-1])
        if job is None and len(self.jobs) == 1:
            job = next(iter(self.jobs.values()))
        if job is None:
            return
        job.show(event)
        self.fractions[job.job] = event.fraction
        if self.jobs:
            overall = sum(self.fractions.get(k, 0.0) for k in self.jobs) / len(self.jobs)
            self.query_one("#percent", Digits).update(f"{int(overall * 100)}")


# ---------------------------------------------------------------------------------- finish
class FinishScreen(StepScreen):
    STEPS = (Step.RECORD, Step.LABEL, Step.DONE)

    def title_text(self) -> str:
        if self.bench.wf.step is Step.DONE:
            return _("Machine done")
        return _("Saving the record…")

    def body(self) -> ComposeResult:
        from bench_agent.workflow.label import label_lines

        state = self.bench.wf.state
        if state.step is not Step.DONE:
            yield Static(_("Signing the record and putting it in the outbox."), classes="explain")
            return
        # The label first: it is what the operator sticks on the machine now.
        with Vertical(id="label-box"):
            for line in label_lines(state):
                yield Static(line, markup=False)
        if state.verdict:
            yield Static(
                status_text(state.verdict.outcome),
                id="verdict-word",
                classes=status_class(state.verdict.outcome) + " -inline",
            )
        for wipe in state.wipes:
            yield Label(
                f"{status_text(wipe.status)}  {_('Wipe')} {wipe.device}",
                classes=status_class(wipe.status),
            )
        if state.image:
            yield Label(
                f"{status_text(state.image.status)}  {_('Image')} {state.image.image}",
                classes=status_class(state.image.status),
            )
        if state.record_state == "queued":
            yield Label(_("✉ Record signed and queued for the ledger."))
        elif state.record_state == "local":
            yield Label(_("✉ Training record kept on this bench only."))
        for line in kept_lines(self.bench):
            yield Static(line, classes="remediation", markup=False)

    def actions(self) -> list[Action]:
        if self.bench.wf.step is Step.DONE:
            keep = parts_to_keep(self.bench)
            if keep:
                label = _("Keep its parts ({count})…", count=len(keep))
                return [("keep-parts", label, False), ("next", _("Next machine"), True)]
            return [("next", _("Next machine"), True)]
        return []

    def start(self) -> None:
        wf = self.bench.wf
        if not self.bench.autostart or self.bench.busy:
            return
        if wf.step is Step.RECORD:
            self.bench.run_step("record", wf.make_record)
        elif wf.step is Step.LABEL:
            self.bench.run_step("label", wf.make_label)

    def act(self, action_id: str) -> None:
        if action_id == "keep-parts":
            keep = parts_to_keep(self.bench)
            self.confirm(
                _("Keep {count} parts of this machine", count=len(keep)),
                ", ".join(p.description for p in keep),
                lambda: self.bench.run_step("parts", keep_parts, self.bench),
            )
        elif action_id == "next":
            self.bench.show_resume_notice = False
            self.bench.run_step("next", self.bench.wf.next_machine)
