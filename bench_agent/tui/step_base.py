"""The base of every step screen: header, step trail, body, action buttons, key line.

Every screen has the same shape: header, step trail, body, a row of large action buttons, and a
line saying which keys do what. Every action is a button, so next/previous + choose reach all.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Label

from bench_agent.i18n import _, pgettext
from bench_agent.tui.contracts import Bench, bench_of
from bench_agent.tui.modals import ConfirmDestructive
from bench_agent.tui.widgets import (
    ActionButton,
    BenchHeader,
    StepTrail,
)
from bench_agent.workflow.state import Step

Action = tuple[str, str, bool]  # id, label, primary


def fit_button_grid(grid: Grid, screen_width: int) -> None:
    """Columns for a grid of action buttons: each label whole (with its focus marker)."""
    from rich.cells import cell_len

    buttons = list(grid.query(ActionButton))
    if not buttons:
        grid.styles.grid_size_columns = 1
        return
    room = max(1, screen_width - 2)
    # label + focus marker "» " + frame (2) + a gutter (1)
    need = max(cell_len(b.plain_label) for b in buttons) + 5
    columns = max(1, min(len(buttons), room // need))
    rows = -(-len(buttons) // columns)
    grid.styles.grid_size_columns = -(-len(buttons) // rows)


def step_word(step: str) -> str:
    # "l'image", "l'effacement" in a sentence; the bare word "image" heads the images table.
    return pgettext("step", "image") if step == "image" else pgettext("step", "wipe")


def key_hint(app: Bench, *, back: bool = True) -> str:
    """The keys line under a screen's choices, for the operator's scan mode."""
    if app.operator.scan_mode == "auto-scan":
        return _(
            "The highlight moves by itself · {choose}: choose",
            choose=app.key_for("bench.select"),
        )
    if app.operator.scan_mode == "two-switch":
        return _(
            "{move}: next choice · {choose}: choose",
            move=app.key_for("bench.next"),
            choose=app.key_for("bench.select"),
        )
    if not back:
        return _(
            "{prev} {next}: move · {choose}: choose",
            prev=app.key_for("bench.prev"),
            next=app.key_for("bench.next"),
            choose=app.key_for("bench.select"),
        )
    return _(
        "{prev} {next}: move · {choose}: choose · {back}: back",
        prev=app.key_for("bench.prev"),
        next=app.key_for("bench.next"),
        choose=app.key_for("bench.select"),
        back=app.key_for("bench.back"),
    )


class StepScreen(Screen[None]):
    """Base of the step screens."""

    STEPS: ClassVar[tuple[Step, ...]] = ()
    # Actions that are never the pre-focused button (they ask a two-input confirmation).
    DESTRUCTIVE: ClassVar[frozenset[str]] = frozenset()
    autostart = True  # False when shown after an error: wait for the operator

    @property
    def bench(self) -> Bench:
        return bench_of(self)

    def handles(self, step: Step) -> bool:
        return step in self.STEPS

    def title_text(self) -> str:
        return ""

    def body(self) -> ComposeResult:
        yield from ()

    def actions(self) -> list[Action]:
        return []

    def compose(self) -> ComposeResult:
        yield BenchHeader(id="header")
        yield StepTrail(id="trail")
        if self.bench.resume_notice:
            yield Label("⟲ " + self.bench.resume_notice, id="resume-notice")
        yield Label(self.title_text(), id="title")
        with VerticalScroll(id="body", can_focus=False):
            yield from self.body()
        actions = self.actions()
        if self.bench.operator.layout.handed == "left":
            actions = sorted(actions, key=lambda a: not a[2])
        else:
            actions = sorted(actions, key=lambda a: a[2])
        if self.bench.operator.scan_mode in ("two-switch", "auto-scan"):
            # Switch users have no help key: the call is a target of the scan on every
            # screen, always last, confirmed in the help dialog (two inputs).
            actions.append(("help", _("? Call the supervisor…"), False))
        # The answers sit in a grid below the body, never in it: all of them are on screen at
        # every size, so the same keys give the same answers everywhere.
        with Grid(id="actions"):
            for action_id, label, primary in actions:
                yield ActionButton(
                    label,
                    id=f"act-{action_id}",
                    classes="action -primary" if primary else "action",
                )
        yield Label(self.key_hint(), id="keys")

    def key_hint(self) -> str:
        return key_hint(self.bench, back=self.can_go_back())

    def on_mount(self) -> None:
        self.fit_actions()
        self.focus_primary()
        if self.autostart:
            self.start()

    def on_resize(self, event: events.Resize) -> None:
        self.fit_actions()

    def fit_actions(self) -> None:
        """As many buttons a row as fit without cutting a label, in balanced rows."""
        try:
            grid = self.query_one("#actions", Grid)
        except Exception:  # recomposing
            return
        fit_button_grid(grid, self.app.size.width)

    def start(self) -> None:
        """Start the step's automatic work, if any."""

    def focus_primary(self) -> None:
        primary = self.query(".action.-primary")
        if primary:
            primary.first().focus()
            return
        for button in self.query(Button):
            if (button.id or "").removeprefix("act-") not in {*self.DESTRUCTIVE, "help"}:
                button.focus()
                return
        self.set_focus(None)  # only destructive choices: the operator moves to one first

    def refresh_view(self, *, start: bool = True) -> None:
        """Redraw for the workflow's state; ``start=False`` after an error (no retry loop)."""

        async def redo() -> None:
            await self.recompose()
            self.fit_actions()
            self.focus_primary()
            if start:
                self.start()

        self.call_later(redo)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button_id = event.button.id or ""
        if button_id == "act-help":  # also while a wipe or image runs
            event.stop()
            self.bench.action_call_help()
            return
        if button_id.startswith("act-") and not self.bench.busy:
            event.stop()
            self.act(button_id.removeprefix("act-"))

    def act(self, action_id: str) -> None:
        """Do what the action button says."""

    def can_go_back(self) -> bool:
        """Whether "back" does something here (the key line only offers it then)."""
        return not self.bench.busy and self.bench.wf.can_go_back()

    def action_back(self) -> None:
        """Esc: the workflow's way back (intake → login, verdict → last guided check, wipe
        plan → verdict), journaled; none from the other steps, so it never stops a running
        wipe or image."""
        if self.can_go_back():
            self.bench.run_step("back", self.bench.wf.back)

    def confirm(self, what: str, details: str, then: Any) -> None:
        """Ask for the two-input confirmation of a destructive or irreversible action."""

        def done(ok: bool | None) -> None:
            if ok:
                then()

        self.app.push_screen(ConfirmDestructive(what, details), done)
