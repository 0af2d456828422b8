"""The modal dialogs: the two-input confirmation, errors, the screen colours."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from bench_agent.errors import BenchError
from bench_agent.i18n import _
from bench_agent.tui.contracts import Bench, bench_of
from bench_agent.workflow.guided import (
    SCREEN_FILLS,
)


def training_banner(app: Bench) -> ComposeResult:
    """Over a modal the header is dimmed: training says so again, in full colour."""
    if app.wf.state.training:
        yield Label(_("▲ TRAINING ▲"), classes="training-banner")


class ConfirmDestructive(ModalScreen[bool]):
    """A destructive or irreversible action: two different inputs, never one key held.

    With keys or two switches, "next" arms and then "choose" confirms (in two-switch mode "next"
    cycles armed -> cancel -> armed so that both are reachable). With one switch (auto-scan) the
    scan moves the highlight between "Cancel" and "Arm"; choosing "Arm" arms and puts the
    highlight back on "Cancel", so "Confirm" is only reached after the scan moves again, and
    each press must follow the operator's bounce time of silence (a held switch is a stream of
    repeats: it never gets past its first press). The highlight starts on "Cancel".
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,down", "arm", "arm", id="bench.next", show=False, priority=True),
        Binding("left,up", "disarm", "disarm", id="bench.prev", show=False, priority=True),
        Binding("enter", "choose", "confirm", id="bench.select", show=False, priority=True),
        Binding("escape", "cancel", "cancel", id="bench.back", show=False, priority=True),
    ]

    def __init__(self, what: str, details: str = "") -> None:
        super().__init__()
        self.what = what
        self.details = details
        self.armed = False
        self.cancel_highlighted = False
        # Auto-scan: which target the scan highlights ("cancel", "arm" or "confirm").
        self.target = "cancel"

    @property
    def bench(self) -> Bench:
        return bench_of(self)

    @property
    def auto_scan(self) -> bool:
        return self.bench.operator.scan_mode == "auto-scan"

    def compose(self) -> ComposeResult:
        yield from training_banner(self.bench)
        with Vertical(id="confirm"):
            yield Static("⚠ " + self.what, id="confirm-what", markup=False)
            if self.details:
                yield Static(self.details, id="confirm-details")
            yield Static(self.instructions(), id="confirm-how")
            if self.auto_scan:
                with Horizontal(id="confirm-targets"):
                    yield Label(_("Cancel"), id="target-cancel", classes="target")
                    yield Label(_("Arm"), id="target-arm", classes="target")
            yield Label(self.state_text(), id="confirm-state")

    def on_mount(self) -> None:
        self._update()
        if self.auto_scan:
            self.bench.restart_scan()  # a whole scan period on "Cancel" first

    def instructions(self) -> str:
        app = self.bench
        choose = app.key_for("bench.select")
        if self.auto_scan:
            return _(
                "To confirm press {choose} when 'Arm' is highlighted, then again when 'Confirm' "
                "is highlighted. {choose} on 'Cancel' goes back.",
                choose=choose,
            )
        if app.operator.scan_mode == "two-switch":
            return _(
                "To confirm press {first}, then {second}. {first} twice highlights Cancel.",
                first=app.key_for("bench.next"),
                second=choose,
            )
        return _(
            "To confirm press {first}, then {second}. {back} cancels.",
            first=app.key_for("bench.next"),
            second=choose,
            back=app.key_for("bench.back"),
        )

    def state_text(self) -> str:
        if self.armed:
            return _(
                "▶ ARMED: press {second} to confirm.", second=self.bench.key_for("bench.select")
            )
        if self.cancel_highlighted:
            return _(
                "▶ CANCEL: press {second} to go back without doing it.",
                second=self.bench.key_for("bench.select"),
            )
        return _("○ Not armed.")

    def _update(self) -> None:
        self.query_one("#confirm-state", Label).update(self.state_text())
        self.query_one("#confirm", Vertical).set_class(self.armed, "-armed")
        if self.auto_scan:
            for widget_id, name, text in (
                ("#target-cancel", "cancel", _("Cancel")),
                ("#target-arm", *(("confirm", _("Confirm")) if self.armed else ("arm", _("Arm")))),
            ):
                label = self.query_one(widget_id, Label)
                on = self.target == name
                label.update(f"» {text} «" if on else f"  {text}  ")
                label.set_class(on, "-highlight")

    def _quiet_enough(self) -> bool:
        """One switch: a press counts only after the bounce time of silence (held = repeats)."""
        return self.bench.silence_ms >= self.bench.confirm_silence_ms

    def scan_next(self) -> None:
        """The auto-scan's tick while this dialog is on top: the highlight to the other target."""
        if self.target == "cancel":
            self.target = "confirm" if self.armed else "arm"
        else:
            self.target = "cancel"
        self._update()

    def action_arm(self) -> None:
        if self.auto_scan:
            return  # one switch: only the scan moves
        # In two-switch mode "next" cycles: armed -> cancel -> armed, so both are reachable.
        if self.armed:
            self.armed, self.cancel_highlighted = False, True
        else:
            self.armed, self.cancel_highlighted = True, False
        self._update()

    def action_disarm(self) -> None:
        if self.auto_scan:
            return
        self.armed, self.cancel_highlighted = False, False
        self._update()

    def action_choose(self) -> None:
        if self.auto_scan:
            if not self._quiet_enough():
                return
            if self.target == "cancel":
                self.dismiss(False)
            elif self.target == "arm":
                self.armed, self.target = True, "cancel"
                self._update()
            elif self.armed:
                self.dismiss(True)
            return
        if self.armed:
            self.dismiss(True)
        elif self.cancel_highlighted:
            self.dismiss(False)
        else:
            self.app.bell()

    def action_cancel(self) -> None:
        self.dismiss(False)


class ErrorModal(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "close", "ok", id="bench.select", show=False, priority=True),
        Binding("escape", "close", "ok", id="bench.back", show=False, priority=True),
    ]

    def __init__(self, error: BenchError) -> None:
        super().__init__()
        self.error = error

    def compose(self) -> ComposeResult:
        yield from training_banner(bench_of(self))
        with Vertical(id="error"):
            yield Label(_("✘ Problem"), id="error-title")
            # Tool output may hold "[...]": shown as text, never read as markup (a crash).
            yield Static(self.error.message, id="error-message", markup=False)
            if self.error.hint:
                yield Static(
                    _("What to do: {hint}", hint=self.error.hint), id="error-hint", markup=False
                )
            yield Button(_("OK"), id="error-ok", classes="action -primary")

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class ColourFill(ModalScreen[None]):
    """Full-screen colours for dead pixels and backlight: next changes colour, back returns."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,down", "next_colour", "next", id="bench.next", show=False, priority=True),
        Binding("left,up", "prev_colour", "previous", id="bench.prev", show=False, priority=True),
        Binding("enter", "next_colour", "next", id="bench.select", show=False, priority=True),
        Binding("escape", "close", "back", id="bench.back", show=False, priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.index = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="fill")

    def on_mount(self) -> None:
        self._paint()

    def _paint(self) -> None:
        colour, name = SCREEN_FILLS[self.index]
        fill = self.query_one("#fill", Static)
        fill.styles.background = colour
        fill.styles.color = "black" if colour in ("white", "green") else "white"
        if self.index == len(SCREEN_FILLS) - 1:
            fill.update(
                _(
                    "{n}/{total} {colour} — next key: back to the questions",
                    n=self.index + 1,
                    total=len(SCREEN_FILLS),
                    colour=_(name),
                )
            )
        else:
            fill.update(f"{self.index + 1}/{len(SCREEN_FILLS)} {_(name)}")

    def action_next_colour(self) -> None:
        if self.index == len(SCREEN_FILLS) - 1:
            self.dismiss(None)
            return
        self.index += 1
        self._paint()

    def action_prev_colour(self) -> None:
        self.index = max(0, self.index - 1)
        self._paint()

    def action_close(self) -> None:
        self.dismiss(None)
