"""The first steps: operator login, asset tag intake, inventory and automatic checks."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.widgets import Input, Label, Static

from bench_agent.i18n import _, format_size, get_language
from bench_agent.tui.contracts import Bench
from bench_agent.tui.operators import list_operators
from bench_agent.tui.step_base import Action, StepScreen
from bench_agent.tui.widgets import TagInput, Tile
from bench_agent.workflow.state import Step


# ---------------------------------------------------------------------------------- operator
class OperatorScreen(StepScreen):
    STEPS = (Step.OPERATOR,)
    # Whoever logs in: Space (a two-switch operator's move switch) moves here as well.
    BINDINGS: ClassVar[list[BindingType]] = [Binding("space", "app.next", show=False)]

    def title_text(self) -> str:
        return _("Who is at the bench? Choose your profile.")

    def actions(self) -> list[Action]:
        self._profiles = {p.name: p for p in list_operators(self.bench.settings.home)}
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
        return [
            ("generate", _("New tag and continue"), True),
            ("continue", _("Continue"), False),
            # The other mode of the bench: disks pulled from machines, wiped in docks or bays.
            ("station", _("Disk station"), False),
        ]

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
        if action_id == "station":
            # Imported when chosen (downwards, never back up): start-up stays lean.
            from bench_agent.tui.station import StationScreen

            self.app.push_screen(StationScreen())
            return
        asset = "" if action_id == "generate" else self.query_one("#asset", Input).value
        lot = self.query_one("#lot", Input).value
        self.bench.run_step("intake", self.bench.wf.intake, asset, lot)


# ---------------------------------------------------------------------------------- inventory
def inventory_tiles(app: Bench) -> list[Tile]:
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
