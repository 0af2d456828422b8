"""Call the supervisor, from any screen: the help key asks, "choose" confirms (two inputs).

The call goes to the ledger's board at once; the screen then waits for the supervisor's
answer and says help is coming. When the ledger cannot be reached the screen says so and the
bench rings by itself (again and again until closed) instead of pretending the call went out.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from bench_agent.i18n import _
from bench_agent.sync.help_call import HelpAnswer, call_supervisor, help_answer
from bench_agent.tui.contracts import Bench, bench_of

POLL_S = 2.0
RING_S = 5.0


class HelpCallScreen(ModalScreen[None]):
    """Asks, calls, then waits for the answer; choose or back closes it at any time after."""

    DEFAULT_CSS = """
    HelpCallScreen { align: center middle; }
    #help-call {
        width: 90%; max-width: 72; height: auto; padding: 1 2;
        border: heavy $foreground; background: $background;
    }
    #help-call.-alarm { border: double $error; }
    #help-title { text-style: bold; }
    #help-targets { height: auto; margin: 1 0 0 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "call", id="bench.select", show=False, priority=True),
        Binding("escape", "close", "back", id="bench.back", show=False, priority=True),
        # Switch users answer on two targets, "Call" and "Back": two switches move with their
        # move switch, one switch (auto-scan) waits for the scan.
        Binding("right,down", "other_answer", "other", id="bench.next", show=False, priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.phase = "ask"  # ask | calling | waiting | answered | unreachable
        self.answer: HelpAnswer | None = None
        self._poll: Any = None
        self._ring: Any = None
        # The key that opened the dialog (a switch user's "choose" on the help target): held
        # down, its repeats never confirm the call.
        self._opened_by = ""
        self.target = "call"  # switch users: the highlighted answer while asked

    @property
    def bench(self) -> Bench:
        return bench_of(self)

    @property
    def switches(self) -> bool:
        return self.bench.operator.scan_mode in ("two-switch", "auto-scan")

    def on_mount(self) -> None:
        self._opened_by = self.bench.last_key_name
        self._update()
        if self.bench.operator.scan_mode == "auto-scan":
            self.bench.restart_scan()  # it scans "Call" and "Back" (scan_next), from now

    def compose(self) -> ComposeResult:
        with Vertical(id="help-call"):
            yield Label(_("Call the supervisor"), id="help-title")
            yield Static(self.text(), id="help-state")
            if self.switches:
                with Horizontal(id="help-targets"):
                    yield Label(_("Call"), id="target-call", classes="target")
                    yield Label(_("Back"), id="target-back", classes="target")

    def text(self) -> str:
        choose = self.bench.key_for("bench.select")
        back = self.bench.key_for("bench.back")
        if self.phase == "ask" and self.switches:
            return _(
                "Call the supervisor to this bench? {choose} on 'Call': yes, call. {choose} on "
                "'Back': no.",
                choose=choose,
            )
        if self.phase == "ask":
            return _(
                "Call the supervisor to this bench? {choose}: yes, call. {back}: no.",
                choose=choose,
                back=back,
            )
        if self.phase == "calling":
            return _("Calling…")
        if self.phase == "waiting":
            return _(
                "✔ Your call is on the supervisor's board. Stay here: this screen says when "
                "they answer. {choose}: close (the call stays).",
                choose=choose,
            )
        if self.phase == "answered" and self.answer is not None:
            return _(
                "✔ Help is coming: {name} saw your call. {choose}: close.",
                name=self.answer.acknowledged_by or _("the supervisor"),
                choose=choose,
            )
        problem = self.answer.problem if self.answer is not None else ""
        return _(
            "✘ Nobody was called: {problem}. Call out loud or raise your hand; this bench "
            "rings until you close this. {choose}: close.",
            problem=problem,
            choose=choose,
        )

    def _update(self) -> None:
        self.query_one("#help-state", Static).update(self.text())
        self.query_one("#help-call", Vertical).set_class(self.phase == "unreachable", "-alarm")
        if self.switches:
            targets = self.query_one("#help-targets", Horizontal)
            targets.display = self.phase == "ask"
            for name, text in (("call", _("Call")), ("back", _("Back"))):
                label = self.query_one(f"#target-{name}", Label)
                on = self.target == name
                label.update(f"» {text} «" if on else f"  {text}  ")
                label.set_class(on, "-highlight")

    def scan_next(self) -> None:
        """The other answer: the auto-scan's tick, or a two-switch user's move switch."""
        if self.phase == "ask":
            self.target = "back" if self.target == "call" else "call"
            self._update()

    def action_other_answer(self) -> None:
        if self.bench.operator.scan_mode == "two-switch":
            self.scan_next()

    def _repeat_of_opening_key(self) -> bool:
        app = self.bench
        return app.last_key_name == self._opened_by and app.silence_ms < app.confirm_silence_ms

    def action_choose(self) -> None:
        if self._repeat_of_opening_key():
            return  # a held switch: its repeats are not a second input
        self._opened_by = ""
        if self.phase == "ask" and self.switches and self.target == "back":
            self.action_close()
        elif self.phase == "ask":
            self.phase = "calling"
            self._update()
            self._call()
        elif self.phase != "calling":
            self.action_close()

    def action_close(self) -> None:
        if self.phase == "calling":
            return  # the answer is on its way; it says whether the call went out
        for timer in (self._poll, self._ring):
            if timer is not None:
                timer.stop()
        self.dismiss(None)

    @work(thread=True, exclusive=True, group="help")
    def _call(self) -> None:
        wf = self.bench.wf
        answer = call_supervisor(
            self.bench.settings,
            operator=self.bench.operator.label,
            asset_tag=wf.state.asset_tag,
            step=str(wf.step.value),
        )
        self.app.call_from_thread(self._called, answer)

    def _called(self, answer: HelpAnswer) -> None:
        self.answer = answer
        if not answer.reached:
            self.phase = "unreachable"
            self._alarm()
            self._ring = self.set_interval(RING_S, self._alarm)
        elif answer.state == "acknowledged":
            self.phase = "answered"
            self.bench.cue()
        else:
            self.phase = "waiting"
            self._poll = self.set_interval(POLL_S, self._check)
        self._update()

    def _alarm(self) -> None:
        self.bench.cue(attention=True)

    @work(thread=True, exclusive=True, group="help")
    def _check(self) -> None:
        answer = help_answer(self.bench.settings)
        self.app.call_from_thread(self._checked, answer)

    def _checked(self, answer: HelpAnswer) -> None:
        if self.phase != "waiting" or not answer.reached or answer.state != "acknowledged":
            return  # still waiting (a missed poll is retried; the call is on the board)
        self.answer = answer
        self.phase = "answered"
        if self._poll is not None:
            self._poll.stop()
        self.bench.cue()
        self._update()
