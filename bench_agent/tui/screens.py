"""One screen per step of the workflow, plus the modal dialogs (confirmation, tests, errors).

Every screen has the same shape: header, step trail, body, a row of large action buttons, and a
line saying which keys do what. Every action is a button, so next/previous + choose reach all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Digits, Input, Label, Static

from bench_agent.errors import BenchError
from bench_agent.i18n import _, format_size, get_language, pgettext
from bench_agent.progress import ProgressEvent
from bench_agent.tui.guided_tests import KeyboardTestScreen, MouseTestScreen, RecentKeys
from bench_agent.tui.widgets import (
    ActionButton,
    BenchHeader,
    JobProgress,
    StepTrail,
    Tile,
    status_class,
    status_text,
)
from bench_agent.workflow.guided import (
    CHECK_QUESTIONS,
    CHECK_TITLES,
    SCREEN_FILLS,
)
from bench_agent.workflow.state import Step
from bench_agent.workflow.words import criterion_words, method_words, verification_words

if TYPE_CHECKING:
    from bench_agent.tui.app import BenchApp

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


def training_banner(app: BenchApp) -> ComposeResult:
    """Over a modal the header is dimmed: training says so again, in full colour."""
    if app.wf.state.training:
        yield Label(_("▲ TRAINING ▲"), classes="training-banner")


def step_word(step: str) -> str:
    # "l'image", "l'effacement" in a sentence; the bare word "image" heads the images table.
    return pgettext("step", "image") if step == "image" else pgettext("step", "wipe")


class StepScreen(Screen[None]):
    """Base of the step screens."""

    STEPS: ClassVar[tuple[Step, ...]] = ()
    # Actions that are never the pre-focused button (they ask a two-input confirmation).
    DESTRUCTIVE: ClassVar[frozenset[str]] = frozenset()
    autostart = True  # False when shown after an error: wait for the operator

    @property
    def bench(self) -> BenchApp:
        return self.app  # type: ignore[return-value]

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
        app = self.bench
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
        if not self.can_go_back():
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


# ---------------------------------------------------------------------------------- operator
class OperatorScreen(StepScreen):
    STEPS = (Step.OPERATOR,)
    # Whoever logs in: Space (a two-switch operator's move switch) moves here as well.
    BINDINGS: ClassVar[list[BindingType]] = [Binding("space", "app.next", show=False)]

    def title_text(self) -> str:
        return _("Who is at the bench? Choose your profile.")

    def actions(self) -> list[Action]:
        from bench_agent.workflow.operators import list_operators

        self._profiles = {p.name: p for p in list_operators()}
        # The station's current profile (set at start-up) is the one chosen by default.
        current = self.bench.operator.name
        primary = current if current in self._profiles else next(iter(self._profiles), "")
        return [(f"op-{name}", p.label, name == primary) for name, p in self._profiles.items()]

    def body(self) -> ComposeResult:
        yield Static(
            _("Your profile sets the language, the colours, the keys and the pace of the bench."),
            classes="explain",
        )

    def act(self, action_id: str) -> None:
        profile = self._profiles[action_id.removeprefix("op-")]
        self.bench.apply_operator(profile)
        self.bench.run_step("login", self.bench.wf.login, profile.label)


# ---------------------------------------------------------------------------------- intake
class TagInput(Input):
    """A tag field: a keyboard or barcode reader types in it; the operator's move keys (arrows,
    numpad, a two-switch operator's Space) still move to the next or previous choice."""

    async def _on_key(self, event: events.Key) -> None:
        move = self.bench_app.move_action_for(event.key, event.is_printable)
        if move is not None:
            event.stop()
            event.prevent_default()
            move()
            return
        await super()._on_key(event)

    @property
    def bench_app(self) -> BenchApp:
        return self.app  # type: ignore[return-value]


class IntakeScreen(StepScreen):
    STEPS = (Step.INTAKE,)

    def title_text(self) -> str:
        return _("New machine: scan its asset tag")

    def body(self) -> ComposeResult:
        yield Static(_("Asset tag (barcode reader, or Enter alone for a new tag)"))
        # A steady cursor: blinking distracts, and nothing on the bench moves by itself.
        asset = TagInput(id="asset", placeholder=_("scan or type"))
        asset.cursor_blink = False
        yield asset
        yield Static(_("Donor lot (optional)"))
        lot = TagInput(id="lot", placeholder=_("e.g. LOT-2026-014"))
        lot.cursor_blink = False
        yield lot

    def actions(self) -> list[Action]:
        return [("generate", _("New tag and continue"), True), ("continue", _("Continue"), False)]

    def focus_primary(self) -> None:
        # A barcode reader types like a keyboard: the tag field takes the focus, unless the
        # operator uses scan switches (then the buttons do).
        if self.bench.operator.scan_mode == "off":
            self.query_one("#asset", Input).focus()
        else:
            super().focus_primary()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.act("continue")

    def act(self, action_id: str) -> None:
        asset = "" if action_id == "generate" else self.query_one("#asset", Input).value
        lot = self.query_one("#lot", Input).value
        self.bench.run_step("intake", self.bench.wf.intake, asset, lot)


# ---------------------------------------------------------------------------------- inventory
def inventory_tiles(app: BenchApp) -> list[Tile]:
    inv = app.wf.state.inventory
    if inv is None:
        return []
    tiles = [
        Tile(
            _("Processor"),
            "pass" if inv.cpu.model else "unknown",
            [
                inv.cpu.model or "–",
                _("{n} CPU, {mhz} MHz", n=inv.cpu.logical_cpus, mhz=int(inv.cpu.mhz or 0)),
                _("64-bit: {yes}", yes=_("yes") if inv.cpu.is_64bit else _("no")),
            ],
        ),
        Tile(
            _("Memory"),
            "pass" if inv.memory.total_bytes else "unknown",
            [_("{mb} MB", mb=inv.memory.total_bytes // (1024 * 1024))],
        ),
    ]
    for disk in inv.disks:
        tiles.append(
            Tile(
                _("Disk {name}", name=disk.name),
                disk.health,
                [
                    disk.model or "–",
                    format_size(disk.size_bytes),
                    *(disk.health_reasons_i18n.get(get_language()) or disk.health_reasons)[:2],
                ],
            )
        )
    if not inv.disks:
        tiles.append(Tile(_("Disk"), "missing", [_("no disk found")]))
    tiles.append(
        Tile(
            _("Optical drive"),
            "pass" if inv.optical else "missing",
            [d.model or d.name for d in inv.optical] or [_("none found")],
        )
    )
    tiles.append(
        Tile(
            _("Sound"),
            "pass" if inv.sound else "missing",
            [c.name or c.id for c in inv.sound] or [_("none found")],
        )
    )
    tiles.append(
        Tile(
            _("Network"),
            "pass" if inv.network else "missing",
            [n.name for n in inv.network][:3] or [_("none found")],
        )
    )
    system = " ".join(x for x in (inv.system.vendor, inv.system.product) if x)
    tiles.append(
        Tile(_("System"), "pass" if system else "unknown", [system or "–", inv.system.serial])
    )
    for check in app.wf.state.auto_checks:
        tiles.append(Tile(check.id, check.status, [check.measured, check.message]))
    return tiles


class InventoryScreen(StepScreen):
    STEPS = (Step.INVENTORY, Step.AUTO_CHECKS)

    def title_text(self) -> str:
        if self.bench.wf.step is Step.INVENTORY:
            return _("Inventory in progress…")
        return _("What the bench found")

    def body(self) -> ComposeResult:
        if self.bench.wf.step is Step.INVENTORY:
            yield Static(_("Reading the processor, memory, disks and devices."), classes="explain")
            return
        with Grid(id="tiles"):
            yield from inventory_tiles(self.bench)

    def actions(self) -> list[Action]:
        if self.bench.wf.step is Step.INVENTORY:
            return [] if self.bench.busy else [("inventory", _("Take the inventory"), True)]
        return [("checks", _("Continue: automatic checks"), True)]

    def start(self) -> None:
        if self.bench.wf.step is Step.INVENTORY and self.bench.autostart:
            self.act("inventory")

    def page_body(self, step: int) -> bool:
        """The operator's next/previous keys page through the tiles when they do not fit (a
        short console, huge tiles): next brings the first tile not wholly shown to the top,
        until the last, then moves on to the choices; previous pages back. Its one answer
        stays on screen throughout."""
        try:
            body = self.query_one("#body", VerticalScroll)
        except Exception:  # recomposing
            return False
        if self.bench.wf.step is not Step.AUTO_CHECKS or body.max_scroll_y <= 0:
            return False
        top, height = round(body.scroll_y), body.scrollable_content_region.height
        # Each tile's rows in the body's content (the same for the tiles of one grid row).
        rows = sorted(
            {
                (t.region.y - body.scrollable_content_region.y + top, t.region.bottom)
                for t in self.query(Tile)
            }
        )
        if step > 0:
            below = [
                y
                for y, bottom in rows
                if bottom > body.scrollable_content_region.bottom and y > top
            ]
            if below and top < body.max_scroll_y:
                body.scroll_to(y=min(below[0], body.max_scroll_y), animate=False)
                return True
            body.scroll_home(animate=False, immediate=True)  # round again from the first page
            return False
        if top > 0:
            above = [y for y, _bottom in rows if y >= top - height]
            body.scroll_to(y=above[0] if above else 0, animate=False)
            return True
        return False

    def act(self, action_id: str) -> None:
        wf = self.bench.wf
        if action_id == "inventory":
            self.bench.run_step("inventory", wf.take_inventory)
        elif action_id == "checks":
            self.query_one("#title", Label).update(_("Automatic checks in progress…"))
            self.bench.run_step(
                "checks", lambda: wf.run_auto_checks(quick=True, progress=self.bench.progress)
            )


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
        from bench_agent.workflow import guided

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
            self.run_worker(lambda: self._thread_result(guided.play_tones(inventory)), thread=True)
        elif inventory is not None and cid == "optical":
            devices = guided.optical_devices(inventory)
            self._show(_("Working…"))

            def optical() -> None:
                results = []
                for device in devices:
                    results += [
                        guided.eject(device),
                        guided.close_tray(device),
                        guided.read_test(device),
                    ]
                if not devices:
                    results.append(guided.ActionResult(False, _("No optical drive was detected.")))
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

    def actions(self) -> list[Action]:
        verdict = self.bench.wf.state.verdict
        if verdict is None:
            return []
        if verdict.outcome == "kept":
            return [("accept", _("Continue: wipe the disks"), True)]
        if verdict.outcome == "remediate":
            # Redo and reject are confirmed with two inputs and never the pre-focused button.
            return [
                ("accept", _("Keep, remediate later"), True),
                ("redo", _("Done, re-inventory…"), False),
                ("parts", _("Reject: parts…"), False),
            ]
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


# ---------------------------------------------------------------------------------- wipe plan
class WipePlanScreen(StepScreen):
    STEPS = (Step.WIPE_PLAN,)

    def title_text(self) -> str:
        return _("Wipe plan: these disks will be erased")

    def body(self) -> ComposeResult:
        state = self.bench.wf.state
        for target in state.wipe_targets:
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
        elif not state.wipe_targets:
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
        if self.bench.wf.state.wipe_targets:
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
        devices = ", ".join(t.device for t in wf.state.wipe_targets)
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
            for target in state.wipe_targets:
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

    def actions(self) -> list[Action]:
        if self.bench.wf.step is Step.DONE:
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
        if action_id == "next":
            self.bench.show_resume_notice = False
            self.bench.run_step("next", self.bench.wf.next_machine)


SCREENS: dict[Step, type[StepScreen]] = {}
for _cls in (
    OperatorScreen,
    IntakeScreen,
    InventoryScreen,
    GuidedScreen,
    VerdictScreen,
    WipePlanScreen,
    WorkScreen,
    FinishScreen,
):
    for _step in _cls.STEPS:
        SCREENS[_step] = _cls


def screen_for(step: Step) -> StepScreen:
    return SCREENS[step]()


# ---------------------------------------------------------------------------------- modals
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
    def bench(self) -> BenchApp:
        return self.app  # type: ignore[return-value]

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
            self.bench.bell()

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
        yield from training_banner(self.app)  # type: ignore[arg-type]
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
