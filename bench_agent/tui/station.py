"""The app's "Disk station" mode (issue 15 item 3): disks pulled from rejected machines are
wiped in docks or hot-swap bays, with the operator's own keys.

The engine is the headless station's (:class:`bench_agent.sanitize.station.DiskStation`) in
hold mode: a disk that arrives is checked by the guard and planned, and waits as a tile
(model, serial, size, SMART health, state, a progress bar). The operator ties it to a machine's
asset tag or a donor lot (chosen from a list or typed/scanned), then starts its wipe with the
same two-input confirmation as the bench's. Several disks run at once; a disk pulled out
mid-wipe is said aborted, with no certificate; the system disk and whatever the guard refuses
are never offered (one line says why).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, ProgressBar, Static

from bench_agent.i18n import _, format_size, get_language, ngettext, pgettext
from bench_agent.progress import ProgressEvent
from bench_agent.tui.modals import ConfirmDestructive, training_banner
from bench_agent.tui.screens_start import TagInput
from bench_agent.tui.step_base import fit_button_grid
from bench_agent.tui.widgets import ActionButton, BenchHeader, status_class, status_text

if TYPE_CHECKING:
    from bench_agent.sanitize.station import DiskStation, StationDisk
    from bench_agent.tui.app import BenchApp

# Progress shown at most this often per disk (the engine reports far more often).
PROGRESS_EVERY_S = 0.25


class Column(VerticalScroll, inherit_bindings=False):
    """A scrolling column whose arrow keys stay the operator's (a plain VerticalScroll takes
    them to scroll, so a four-keys operator's "next" would stop moving between choices).
    It scrolls to whatever gets the focus."""


class StationEvent(Message):
    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__()
        self.event = event


class StationProgress(Message):
    def __init__(self, event: ProgressEvent) -> None:
        super().__init__()
        self.event = event


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
        self.size_bytes = int(event.get("size_bytes", 0) or 0)
        self.health = str(event.get("health", "") or "unknown")
        self.health_reasons: list[str] = []
        self.state = "ready"
        self.detail = ""
        self.certificate_id = ""
        self.tie: tuple[str, str] | None = None
        self.unplugged = False

    def compose(self) -> ComposeResult:
        yield Label(self.title(), classes="disk-title", markup=False)
        yield Static(self.facts(), classes="disk-facts", markup=False)
        yield Label(self.state_line(), classes="disk-state", markup=False)
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
            self.query_one(".disk-title", Label).update(self.title())
        except Exception:  # not composed yet
            return
        self.query_one(".disk-facts", Static).update(self.facts())
        state = self.query_one(".disk-state", Label)
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
    def bench(self) -> BenchApp:
        return self.app  # type: ignore[return-value]

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
            yield Label("", id="tie-problem")

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
                self.query_one("#tie-problem", Label).update(_("Scan or type the label first."))
                return
            self.dismiss(("machine" if button_id == "typed-machine" else "lot", value))
        elif button_id == "tie-back":
            self.dismiss(None)

    def action_back(self) -> None:
        self.dismiss(None)


def known_ties(app: BenchApp, used: list[tuple[str, str]]) -> list[tuple[str, str]]:
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


class StationScreen(Screen[None]):
    """Poste d'effacement / Disk station."""

    def __init__(self) -> None:
        super().__init__()
        self.tiles: dict[str, DiskTile] = {}  # by uid
        self.current: dict[str, str] = {}  # kernel name -> uid of the disk there now
        self.pulled: dict[str, str] = {}  # kernel name -> uid of a disk pulled mid-wipe
        self.refusals: list[str] = []
        self._count = 0
        self._last_progress: dict[str, float] = {}
        self.stop = threading.Event()
        self.station: DiskStation | None = None
        self.thread: threading.Thread | None = None

    @property
    def bench(self) -> BenchApp:
        return self.app  # type: ignore[return-value]

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield BenchHeader(id="header")
        yield Label(_("Disk station: plug in the disks to wipe"), id="title")
        with Column(id="body", can_focus=False):
            yield Static(
                _("Starting the station…"), id="station-status", classes="explain", markup=False
            )
            yield Vertical(id="station-tiles")
            yield Static("", id="station-refused", markup=False)
        with Grid(id="actions"):
            yield ActionButton(_("Back to the bench"), id="act-leave", classes="action")
            if self.bench.operator.scan_mode in ("two-switch", "auto-scan"):
                yield ActionButton(_("? Call the supervisor…"), id="act-help", classes="action")
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
        return _(
            "{prev} {next}: move · {choose}: choose · {back}: back",
            prev=app.key_for("bench.prev"),
            next=app.key_for("bench.next"),
            choose=app.key_for("bench.select"),
            back=app.key_for("bench.back"),
        )

    def on_mount(self) -> None:
        fit_button_grid(self.query_one("#actions", Grid), self.app.size.width)
        self.set_focus(None)  # nothing is chosen before the operator moves
        try:
            self.station = self.make_station()
        except Exception as exc:  # shown in words; the operator goes back to the bench
            self.say(_("The station cannot start: {error}", error=str(exc)))
            return
        self.thread = threading.Thread(target=self._run, name="disk-station", daemon=True)
        self.thread.start()

    def on_resize(self) -> None:
        fit_button_grid(self.query_one("#actions", Grid), self.app.size.width)

    def on_unmount(self) -> None:
        self.stop.set()

    # -- the engine --------------------------------------------------------------------------
    def make_station(self) -> DiskStation:
        from bench_agent.cli.station_cmd import udevd_running
        from bench_agent.devices.guard import GuardPolicy
        from bench_agent.sanitize.certificate import CertificateContext
        from bench_agent.sanitize.station import DiskStation
        from bench_agent.sanitize.validation import ValidationOptions, ValidationPolicy

        app = self.bench
        settings = app.settings
        state = app.wf.state
        profile = app.wf.profile()
        wipe = getattr(profile, "wipe", None)
        methods = [str(m) for m in getattr(wipe, "methods", [])] or None
        verify = str(getattr(wipe, "verify", "sample"))
        training = state.training
        # Disks arrive unnamed: a loop device only under the directory named for it.
        policy = GuardPolicy.for_profile(
            profile, station_allows_removable=bool(settings.allow_removable), named=False
        )
        context = CertificateContext(
            operator=state.operator or settings.operator,
            station=state.station or settings.station,
            location=settings.location,
            destination=settings.post_sanitization_destination,
        )
        return DiskStation(
            context=context,
            policy=policy,
            allowed_methods=methods,
            verify=verify if verify in ("full", "sample") else "sample",
            report_dir=settings.reports_dir / "station",
            validation=ValidationOptions(
                policy=ValidationPolicy.load(settings.home),
                validator=context.operator,
                station=context.station,
            ),
            loop_backing_dir=app.station_loop_dir,
            listener=self._listen,
            progress=self._progress,
            source="udev" if udevd_running() else "kernel",
            on_finished=None if training else self._queue,
            heartbeat=None if training else _post_heartbeat,
            hold=True,
        )

    def _run(self) -> None:
        assert self.station is not None
        try:
            self.station.run(self.stop)
        except Exception as exc:  # pyudev missing, no netlink: in words, never a traceback
            self.post_message(StationEvent({"event": "broken", "detail": str(exc)}))

    def _listen(self, event: dict[str, Any]) -> None:
        self.post_message(StationEvent(event))  # thread-safe: the screen handles it

    def _progress(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if (
            event.fraction < 1.0
            and now - self._last_progress.get(event.job, 0.0) < PROGRESS_EVERY_S
        ):
            return
        self._last_progress[event.job] = now
        self.post_message(StationProgress(event))

    def _queue(self, disk: StationDisk) -> None:
        """Each finished disk is a signed record in the outbox, like the headless station's."""
        from bench_agent.models.inventory import Inventory
        from bench_agent.models.record import BenchRecord
        from bench_agent.sync import submit_record

        report = disk.report
        assert report is not None
        context = disk.context or (self.station.context if self.station else None)
        assert context is not None
        record = BenchRecord(
            station=context.station,
            operator=context.operator,
            asset_tag=context.asset_tag,
            lot=context.lot,
            profile="disk-station",
            started_at=report.started_at,
            finished_at=report.finished_at,
            inventory=Inventory(),
            wipes=[report],
            certificates=[disk.certificate] if disk.certificate else [],
            destination=context.destination,
            target_devices=[disk.device],
            extra={"source": "disk station", "arrived_at": disk.arrived_at},
        )
        submit_record(record, self.bench.settings)

    # -- events from the engine --------------------------------------------------------------
    def say(self, text: str) -> None:
        self.query_one("#station-status", Static).update(text)

    def on_station_event(self, message: StationEvent) -> None:
        event = message.event
        kind = event["event"]
        kname = str(event.get("kname", ""))
        if kind == "watching":
            self.say(_("Watching for disks. Plug a disk into a dock or bay."))
        elif kind == "broken":
            self.say(_("The station stopped: {error}", error=event.get("detail", "")))
        elif kind == "refused":
            self.refusals = [
                *self.refusals[-2:],
                _(
                    "{device}: not offered ({reason})",
                    device=event["device"],
                    reason=event["detail"],
                ),
            ]
            self.query_one("#station-refused", Static).update("\n".join(self.refusals))
        elif kind == "ready":
            self.add_tile(event)
        elif kind == "wiping":
            tile = self.tile_for(kname)
            if tile is not None:
                tile.state = "wiping"
                tile.show()
        elif kind == "removed-mid-wipe":
            uid = self.current.pop(kname, None)
            if uid is not None:
                self.pulled[kname] = uid
                tile = self.tiles[uid]
                tile.state, tile.unplugged = "aborted", True
                tile.detail = _("the disk was pulled out during the wipe")
                tile.show()
        elif kind == "finished":
            uid = self.pulled.pop(kname, None) or self.current.get(kname)
            tile = self.tiles.get(uid or "")
            if tile is not None:
                tile.state = str(event.get("state", "failed"))
                tile.certificate_id = str(event.get("certificate_id", ""))
                if tile.state == "aborted" and tile.unplugged:
                    tile.detail = _("the disk was pulled out during the wipe")
                elif tile.state == "aborted" and tile.detail:
                    pass  # stopped by the operator: said so
                elif tile.state not in ("erased",):
                    tile.detail = str(event.get("detail", ""))
                tile.show()
            self.bench.cue(attention=tile is None or tile.state != "erased")
        elif kind == "left":
            uid = self.current.pop(kname, None)
            tile = self.tiles.get(uid or "")
            if tile is not None:
                if tile.state == "ready":  # never started: the tile goes with the disk
                    del self.tiles[tile.uid]
                    tile.remove()
                else:
                    tile.unplugged = True
                    tile.show()

    def tile_for(self, kname: str) -> DiskTile | None:
        uid = self.current.get(kname)
        return self.tiles.get(uid) if uid else None

    def add_tile(self, event: dict[str, Any]) -> None:
        self._count += 1
        uid = str(self._count)
        tile = DiskTile(uid, event)
        station = self.station
        disk = station.disks.get(tile.kname) if station else None
        if disk is not None:
            tile.health_reasons = disk.health_reasons.get(get_language()) or []
        self.tiles[uid] = tile
        self.current[tile.kname] = uid
        self.query_one("#station-tiles", Vertical).mount(tile)
        self.bench.cue()

    def on_station_progress(self, message: StationProgress) -> None:
        tile = self.tile_for(message.event.job)
        if tile is not None:
            tile.progress(message.event)

    # -- the operator's choices --------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        if button_id == "act-help":
            self.bench.action_call_help()
        elif button_id == "act-leave":
            self.action_back()
        elif button_id.startswith("tie-"):
            self.ask_tie(self.tiles.get(button_id.removeprefix("tie-")))
        elif button_id.startswith("erase-"):
            self.ask_erase(self.tiles.get(button_id.removeprefix("erase-")))
        elif button_id.startswith("stop-"):
            self.ask_stop(self.tiles.get(button_id.removeprefix("stop-")))

    def ask_tie(self, tile: DiskTile | None) -> None:
        if tile is None or not tile.waiting:
            return

        def tied(choice: tuple[str, str] | None) -> None:
            if choice is not None and tile.waiting:
                tile.tie = choice
                tile.show()

        used = [t.tie for t in self.tiles.values() if t.tie is not None]
        self.app.push_screen(TieDialog(tile.device, known_ties(self.bench, used)), tied)

    def ask_erase(self, tile: DiskTile | None) -> None:
        if tile is None or not tile.waiting or tile.tie is None:
            return
        tie = tile.tie

        def confirmed(ok: bool | None) -> None:
            if not ok or self.station is None:
                return
            kind, value = tie
            started = self.station.start(
                tile.kname,
                asset_tag=value if kind == "machine" else "",
                lot=value if kind == "lot" else "",
            )
            if not started:  # pulled out meanwhile: nothing was started
                tile.unplugged = True
                tile.show()

        self.app.push_screen(
            ConfirmDestructive(
                _("Erase for good: {devices}", devices=tile.device),
                _("Everything on these disks is lost; there is no undo."),
            ),
            confirmed,
        )

    def ask_stop(self, tile: DiskTile | None) -> None:
        """A stray key never stops a wipe: stopping is confirmed with two inputs."""
        if tile is None or tile.state != "wiping":
            return

        def confirmed(ok: bool | None) -> None:
            if ok and self.station is not None and self.station.stop(tile.kname):
                tile.detail = _("stopped by the operator")

        self.app.push_screen(
            ConfirmDestructive(
                _("Stop the {step}", step=pgettext("step", "wipe")) + f" · {tile.device}",
                _("Nothing is certified for it; it must be re-run from scratch."),
            ),
            confirmed,
        )

    def wiping(self) -> int:
        return sum(1 for t in self.tiles.values() if t.state == "wiping")

    def action_back(self) -> None:
        """Back to the bench, never while a wipe runs (it would stop them unfinished)."""
        running = self.wiping()
        if running:
            self.app.bell()
            self.say(
                ngettext(
                    "{count} wipe is running: the station stays until it ends.",
                    "{count} wipes are running: the station stays until they end.",
                    running,
                )
            )
            return
        self.stop.set()
        self.app.pop_screen()


def _post_heartbeat(state: dict[str, Any]) -> None:
    from bench_agent.sync import post_heartbeat

    post_heartbeat(state)
