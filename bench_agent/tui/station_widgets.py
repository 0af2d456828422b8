"""The disk station's pieces: a disk's tile, the dialog that ties a disk to a machine or a
lot, and the list of machines and lots the bench knows."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, ProgressBar, Static

from bench_agent.i18n import _, format_size
from bench_agent.progress import ProgressEvent
from bench_agent.tui.contracts import Bench, bench_of
from bench_agent.tui.modals import training_banner
from bench_agent.tui.step_base import fit_button_grid
from bench_agent.tui.widgets import ActionButton, TagInput, status_class, status_text


class Column(VerticalScroll, inherit_bindings=False):
    """A scrolling column whose arrow keys stay the operator's (a plain VerticalScroll takes
    them to scroll, so a four-keys operator's "next" would stop moving between choices).
    It scrolls to whatever gets the focus."""


def tie_words(tie: tuple[str, str] | None) -> str:
    if tie is None:
        return _("not tied yet")
    kind, value = tie
    return _("machine {tag}", tag=value) if kind == "machine" else _("lot {lot}", lot=value)


class DiskTile(Vertical):
    """One disk of the station: what it is, its state in words, its bar and its two choices."""

    def __init__(self, uid: str, event: dict[str, Any]) -> None:
        super().__init__(id=f"tile-{uid}", classes="disk-tile")
        self.uid = uid
        self.kname = str(event.get("kname", ""))
        self.device = str(event.get("device", ""))
        self.model = str(event.get("model", "") or "–")
        self.serial = str(event.get("serial", "") or "")
        # The serial is only the USB bridge's (the drive behind it gave none): said on the tile.
        self.serial_is_bridges = event.get("serial_names_disk", True) is False
        self.size_bytes = int(event.get("size_bytes", 0) or 0)
        self.health = str(event.get("health", "") or "unknown")
        self.health_reasons: list[str] = []
        self.state = "ready"
        self.detail = ""
        self.certificate_id = ""
        self.tie: tuple[str, str] | None = None
        self.unplugged = False

    def compose(self) -> ComposeResult:
        yield Static(self.title(), classes="disk-title", markup=False)
        yield Static(self.facts(), classes="disk-facts", markup=False)
        yield Static(self.state_line(), classes="disk-state", markup=False)
        yield ProgressBar(total=100, show_eta=False, show_percentage=True, classes="disk-bar")
        # Short labels in a grid that fits them whole (side by side when they fit).
        with Grid(classes="disk-actions"):
            yield ActionButton(_("Tie to…"), id=f"tie-{self.uid}", classes="action")
            yield ActionButton(_("Erase… (two inputs)"), id=f"erase-{self.uid}", classes="action")
            # While it runs: never focused by itself, confirmed with two inputs.
            yield ActionButton(_("Stop…"), id=f"stop-{self.uid}", classes="action")

    def on_mount(self) -> None:
        self.show()

    def on_resize(self) -> None:
        self.fit()

    def fit(self) -> None:
        # The tile's frame and padding (4) and the body's padding and scrollbar (4).
        fit_button_grid(self.query_one(".disk-actions", Grid), self.app.size.width - 8)

    def title(self) -> str:
        return f"▣ {self.device} · {self.model} · {format_size(self.size_bytes)}"

    def facts(self) -> str:
        serial = _("Serial {serial}", serial=self.serial) if self.serial else _("No serial")
        if self.serial and self.serial_is_bridges:
            serial += " " + _("(USB bridge)")
        health = status_text(self.health)
        if self.health_reasons:
            smart = _("SMART {health}: {reason}", health=health, reason=self.health_reasons[0])
        else:
            smart = _("SMART {health}", health=health)
        return f"{serial} · {smart}"

    def state_line(self) -> str:
        tied = _("Tied to: {what}", what=tie_words(self.tie))
        if self.state == "ready":
            word = _("○ WAITING") if self.tie is None else _("○ READY TO ERASE")
        elif self.state == "wiping":
            word = _("▶ ERASING")
        elif self.state == "aborted":
            word = _("■ ABORTED — no certificate")
        elif self.state in ("erased", "erased_with_exceptions"):
            word = status_text(self.state) + " · " + _("certificate {id}", id=self.certificate_id)
        else:
            word = status_text(self.state)
        text = f"{word} · {tied}"
        if self.detail and self.state not in ("ready", "wiping", "erased"):
            text += f" · {self.detail}"
        if self.unplugged:
            text += " · " + _("unplugged")
        return text

    @property
    def waiting(self) -> bool:
        return self.state == "ready" and not self.unplugged

    def show(self) -> None:
        try:
            self.query_one(".disk-title", Static).update(self.title())
        except Exception:  # not composed yet
            return
        self.query_one(".disk-facts", Static).update(self.facts())
        state = self.query_one(".disk-state", Static)
        state.update(self.state_line())
        for cls in ("-ok", "-warn", "-bad", "-neutral"):
            state.remove_class(cls)
        state.add_class("-bad" if self.state == "aborted" else status_class(self.state))
        tie = self.query_one(f"#tie-{self.uid}", Button)
        erase = self.query_one(f"#erase-{self.uid}", Button)
        stop = self.query_one(f"#stop-{self.uid}", Button)
        running = self.state == "wiping" and not self.unplugged
        shown = {
            tie: self.waiting,
            erase: self.waiting and self.tie is not None,
            stop: running,
        }
        for button, show in shown.items():
            if button.has_focus and not show:
                self.screen.set_focus(None)  # the next choice is the operator's to make
            button.display = show
        self.query_one(".disk-actions").display = self.waiting or running
        self.fit()
        if self.state in ("erased", "erased_with_exceptions"):
            self.query_one(ProgressBar).update(progress=100)

    def progress(self, event: ProgressEvent) -> None:
        self.query_one(ProgressBar).update(progress=round(event.fraction * 100, 1))


class TieDialog(ModalScreen[tuple[str, str] | None]):
    """Tie a disk to a machine (asset tag) or a donor lot: one of the known ones, or a label
    typed or scanned. Nothing destructive here: the wipe is asked for apart, with two inputs."""

    # A modal screen does not get the app's bindings: the operator's four keys are bound here
    # again (remapped by the same ids), not with priority, so that the label field gets its
    # keys first (a four-keys operator's "back" may be the digit 0, typed in a label).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,down", "app.next", "next", id="bench.next", show=False),
        Binding("left,up", "app.prev", "previous", id="bench.prev", show=False),
        Binding("enter", "app.select", "choose", id="bench.select", show=False),
        Binding("escape", "back", "back", id="bench.back", show=False),
    ]

    def __init__(self, disk: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.disk = disk
        self.choices = choices

    @property
    def bench(self) -> Bench:
        return bench_of(self)

    def compose(self) -> ComposeResult:
        yield from training_banner(self.bench)
        with Column(id="tie"):
            yield Static(_("Tie {disk} to:", disk=self.disk), id="tie-what", markup=False)
            for index, choice in enumerate(self.choices):
                yield ActionButton(tie_words(choice), id=f"choice-{index}", classes="action")
            label = TagInput(id="tie-label", placeholder=_("or scan or type a label"))
            label.cursor_blink = False
            yield label
            with Grid(id="tie-typed"):
                yield ActionButton(
                    _("The label is a machine"), id="typed-machine", classes="action"
                )
                yield ActionButton(_("The label is a lot"), id="typed-lot", classes="action")
                yield ActionButton(_("Back"), id="tie-back", classes="action")
            yield Static("", id="tie-problem")

    def on_mount(self) -> None:
        fit_button_grid(self.query_one("#tie-typed", Grid), self.app.size.width - 6)
        if self.choices:
            self.query_one("#choice-0", Button).focus()
        elif self.bench.operator.scan_mode == "off":
            self.query_one("#tie-label", Input).focus()  # a barcode reader types in it
        else:
            self.query_one("#typed-machine", Button).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # a reader's Enter: the operator says what the label is, next
        self.query_one("#typed-machine", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        if button_id.startswith("choice-"):
            self.dismiss(self.choices[int(button_id.removeprefix("choice-"))])
        elif button_id in ("typed-machine", "typed-lot"):
            value = self.query_one("#tie-label", Input).value.strip()
            if not value:
                self.app.bell()
                self.query_one("#tie-problem", Static).update(_("Scan or type the label first."))
                return
            self.dismiss(("machine" if button_id == "typed-machine" else "lot", value))
        elif button_id == "tie-back":
            self.dismiss(None)

    def action_back(self) -> None:
        self.dismiss(None)


def known_ties(app: Bench, used: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Machines and lots the bench already knows: those just used at the station (newest
    first), the machine on the bench, then the latest records in the outbox, at most six."""
    seen: list[tuple[str, str]] = []
    for kind, value in reversed(used):
        if (kind, value) not in seen:
            seen.append((kind, value))

    def add(kind: str, value: str) -> None:
        if value and (kind, value) not in seen and len(seen) < 6:
            seen.append((kind, value))

    state = app.wf.state
    add("machine", state.asset_tag)
    add("lot", state.lot)
    try:
        from bench_agent.sync.outbox import Outbox

        with Outbox(app.settings.outbox_path) as outbox:
            entries = outbox.entries(("pending", "sent", "quarantined"))
            for entry in reversed(entries[-50:]):
                body = outbox.body(entry.record_id) or {}
                add("lot", str(body.get("lot") or ""))
                if body.get("profile") != "disk-station":
                    add("machine", str(body.get("asset_tag") or ""))
    except Exception:  # a list of suggestions only: typing a label always works
        pass
    return seen
