"""The guided checks and the verdict."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Static

from bench_agent.adapters.guided_actions import SYSTEM_ACTIONS
from bench_agent.i18n import _, get_language
from bench_agent.tui.guided_tests import KeyboardTestScreen, MouseTestScreen, RecentKeys
from bench_agent.tui.modals import ColourFill
from bench_agent.tui.parts_bin import (
    fit_then_reinventory,
    fitted_line,
    look_up,
    needs_lookup,
    part_to_fit,
    suggestion_line,
)
from bench_agent.tui.step_base import Action, StepScreen
from bench_agent.tui.widgets import (
    status_class,
    status_text,
)
from bench_agent.workflow.guided import (
    CHECK_QUESTIONS,
    CHECK_TITLES,
    ActionResult,
    GuidedActions,
    optical_devices,
)
from bench_agent.workflow.state import Step
from bench_agent.workflow.words import criterion_words


# ---------------------------------------------------------------------------------- guided
def guided_action_label(check_id: str) -> str:
    return {
        "sound": _("Play the tone"),
        "optical": _("Open, close and read"),
        "keyboard": _("Start the key test"),
        "screen": _("Show the colours"),
        "mouse": _("Start the mouse test"),
    }[check_id]


class GuidedScreen(StepScreen):
    STEPS = (Step.GUIDED,)
    # The tone and the disc: the real tools unless a test gives other actions.
    guided_actions: ClassVar[GuidedActions] = SYSTEM_ACTIONS

    def __init__(self) -> None:
        super().__init__()
        self.result_text = ""
        self.tested = False  # the current check's test was run before its answer
        # Which input device pressed last: the operator's, when a key or mouse test opens.
        self.recent = RecentKeys()
        self.recent.start()

    def on_unmount(self) -> None:
        self.recent.stop()

    @property
    def current(self) -> str:
        for check in self.bench.wf.state.guided:
            if check.status == "not_done":
                return check.id
        return ""

    def title_text(self) -> str:
        cid = self.current
        done = sum(1 for c in self.bench.wf.state.guided if c.status != "not_done")
        total = len(self.bench.wf.state.guided)
        if not cid:
            return _("Guided checks done")
        return _(
            "Guided check {n} of {total}: {name}",
            n=done + 1,
            total=total,
            name=_(CHECK_TITLES[cid]),
        )

    def body(self) -> ComposeResult:
        cid = self.current
        # The question and the test's result first: they are what the answer depends on (on a
        # short screen the list of checks is what goes below the fold).
        if cid:
            yield Static(_(CHECK_QUESTIONS[cid]), id="question")
            yield Static(self.result_text, id="result", markup=False)
        for check in self.bench.wf.state.guided:
            yield Label(
                f"{status_text(check.status)}  {_(CHECK_TITLES[check.id])}"
                + (
                    _(" (answered without its test)")
                    if check.status == "pass" and check.tested is False
                    else ""
                ),
                classes=f"guided-row {status_class(check.status)}",
            )

    def actions(self) -> list[Action]:
        cid = self.current
        if not cid:
            return [("finish", _("Continue: verdict"), True)]
        return [
            ("try", guided_action_label(cid), True),
            ("pass", _("✔ Yes, it works"), False),
            ("fail", _("✘ No, it does not"), False),
            ("na", _("– Not applicable"), False),
        ]

    def act(self, action_id: str) -> None:
        wf = self.bench.wf
        cid = self.current
        if action_id == "finish":
            self.bench.run_step("verdict", wf.finish_guided)
            return
        if action_id == "try":
            self.try_check(cid)
            return
        status = {"pass": "pass", "fail": "fail", "na": "not_applicable"}[action_id]
        wf.record_guided(cid, status, self.result_text, tested=self.tested)
        self.result_text = ""
        self.tested = False
        self.bench.cue()
        self.refresh_view()

    def can_go_back(self) -> bool:
        return any(c.status != "not_done" for c in self.bench.wf.state.guided)

    def action_back(self) -> None:
        """Esc: back to the previous check, its answer undone (asked again)."""
        if self.bench.busy:
            return
        cid = self.current
        answered = [c.id for c in self.bench.wf.state.guided if c.status != "not_done"]
        if not answered:
            return
        ids = [c.id for c in self.bench.wf.state.guided]
        before = [a for a in answered if not cid or ids.index(a) < ids.index(cid)]
        self.bench.wf.record_guided((before or answered)[-1], "not_done")
        self.result_text = ""
        self.tested = False
        self.refresh_view(start=False)

    def try_check(self, cid: str) -> None:
        inventory = self.bench.wf.state.inventory
        self.tested = True
        operator_device = self.recent.operator_device()
        if cid == "screen":
            self.app.push_screen(ColourFill())
        elif cid == "keyboard":
            screen: KeyboardTestScreen | MouseTestScreen = KeyboardTestScreen(
                self.recent.devices, operator_device
            )
            self.app.push_screen(screen, self._after_test)
        elif cid == "mouse":
            screen = MouseTestScreen(self.recent.devices, operator_device)
            self.app.push_screen(screen, self._after_test)
        elif inventory is not None and cid == "sound":
            self._show(_("Playing…"))
            self.run_worker(
                lambda: self._thread_result(self.guided_actions.play_tones(inventory)), thread=True
            )
        elif inventory is not None and cid == "optical":
            devices = optical_devices(inventory)
            self._show(_("Working…"))

            def optical() -> None:
                results = []
                for device in devices:
                    results += [
                        self.guided_actions.eject(device),
                        self.guided_actions.close_tray(device),
                        self.guided_actions.read_test(device),
                    ]
                if not devices:
                    results.append(ActionResult(False, _("No optical drive was detected.")))
                self._thread_result(results)

            self.run_worker(optical, thread=True)

    def _thread_result(self, results: list[Any]) -> None:
        text = "\n".join(("✔ " if r.ok else "✘ ") + (r.message or r.detail) for r in results)
        self.app.call_from_thread(self._show, text)

    def _show(self, text: str) -> None:
        self.result_text = text
        try:
            self.query_one("#result", Static).update(text)
        except Exception:
            return

    def _after_test(self, summary: str | None) -> None:
        if summary:
            self._show(summary)


# ---------------------------------------------------------------------------------- verdict
class VerdictScreen(StepScreen):
    STEPS = (Step.VERDICT,)
    DESTRUCTIVE: ClassVar[frozenset[str]] = frozenset({"redo", "parts", "recycling"})

    def title_text(self) -> str:
        return _("Verdict")

    def body(self) -> ComposeResult:
        verdict = self.bench.wf.state.verdict
        if verdict is None:
            yield Static(_("Grading…"))
            return
        passed = sum(1 for c in verdict.criteria if c.status == "pass")
        with Horizontal(id="verdict-row"):
            yield Label(
                status_text(verdict.outcome),
                id="verdict-word",
                classes=status_class(verdict.outcome),
            )
            # Words, not big digits: "13:14" read like a clock.
            yield Label(
                _("{passed} of {total} criteria met", passed=passed, total=len(verdict.criteria)),
                id="verdict-count",
            )
        lang = get_language()
        summary = verdict.summaries.get(lang) or verdict.summary
        if summary:
            yield Static(summary, classes="explain")
        for criterion in verdict.criteria:
            action = criterion.actions.get(lang) or criterion.action
            if action:
                yield Label("⚒ " + action, classes="remediation")
        for widget_id, line in (
            ("bin-fitted", fitted_line(self.bench)),
            ("bin-suggestion", suggestion_line(self.bench)),
        ):
            if line:
                yield Static(line, id=widget_id, classes="remediation")
        for criterion in verdict.criteria:
            if criterion.status != "pass":
                message = criterion.messages.get(lang) or criterion.message
                yield Static(
                    f"{status_text(criterion.status)}  {criterion_words(criterion.id)}: {message}",
                    classes=f"criterion {status_class(criterion.status)}",
                )
        ok = [criterion_words(c.id) for c in verdict.criteria if c.status == "pass"]
        if ok:
            yield Static(_("✔ OK: {ids}", ids=", ".join(ok)), classes="criterion -ok")

    def start(self) -> None:
        if needs_lookup(self.bench):
            self.look_in_bin()

    @work(thread=True, exclusive=True, group="parts-bin")
    def look_in_bin(self) -> None:
        look_up(self.bench)
        self.app.call_from_thread(self.refresh_view, start=False)  # the fit answer may appear

    def actions(self) -> list[Action]:
        verdict = self.bench.wf.state.verdict
        if verdict is None:
            return []
        if verdict.outcome == "kept":
            return [("accept", _("Continue: wipe the disks"), True)]
        if verdict.outcome == "remediate":
            # Redo and reject are confirmed with two inputs and never the pre-focused button.
            actions: list[Action] = [
                ("accept", _("Keep, remediate later"), True),
                ("redo", _("Done, re-inventory…"), False),
                ("parts", _("Reject: parts…"), False),
            ]
            fit = part_to_fit(self.bench)
            if fit is not None:
                actions.insert(
                    1, ("fit", _("Fit {code} from bin {bin}…", code=fit[0], bin=fit[2]), False)
                )
            return actions
        return [
            ("parts", _("Reject: parts…"), False),
            ("recycling", _("Reject: recycling…"), False),
        ]

    def act(self, action_id: str) -> None:
        wf = self.bench.wf
        if action_id == "redo":
            self.confirm(
                _("Re-inventory this machine"),
                _("The inventory, the automatic checks and every guided check start again."),
                lambda: self.bench.run_step("reinventory", wf.remediation_done),
            )
        elif action_id == "fit":
            fit = part_to_fit(self.bench)
            if fit is None:
                return
            code, part, bin_ = fit
            self.confirm(
                _("Fit {code} ({part}) from bin {bin}", code=code, part=part, bin=bin_),
                _(
                    "Take the module labelled {code} from bin {bin} and fit it; "
                    "the machine is then inventoried again.",
                    code=code,
                    bin=bin_,
                ),
                lambda: self.bench.run_step("reinventory", fit_then_reinventory, self.bench, code),
            )
        elif action_id == "accept":
            self.bench.run_step("plan", wf.accept_verdict)
        elif action_id in ("parts", "recycling"):
            assert wf.state.verdict is not None
            fn = wf.accept_verdict if wf.state.verdict.outcome == "rejected" else wf.reject
            word = _("parts") if action_id == "parts" else _("recycling")
            self.confirm(
                _("Reject this machine: {destination}", destination=word),
                _("Its disks are wiped and it gets no image."),
                lambda: self.bench.run_step("plan", fn, action_id),
            )
