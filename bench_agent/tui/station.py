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
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Label, Static

from bench_agent.i18n import _, get_language, ngettext, pgettext
from bench_agent.progress import ProgressEvent
from bench_agent.tui.contracts import Bench, bench_of
from bench_agent.tui.modals import ConfirmDestructive
from bench_agent.tui.station_widgets import Column, DiskTile, TieDialog, known_ties
from bench_agent.tui.step_base import fit_button_grid, key_hint
from bench_agent.tui.widgets import ActionButton, BenchHeader

if TYPE_CHECKING:
    from bench_agent.config import AgentSettings
    from bench_agent.sanitize.station import DiskStation, StationDisk

# Progress shown at most this often per disk (the engine reports far more often).
PROGRESS_EVERY_S = 0.25
# Finished disks taken out of the station that keep their tile (the newest ones).
KEEP_FINISHED = 4
KEEP_STATES = ("ready", "wiping")


class StationEvent(Message):
    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__()
        self.event = event


class StationProgress(Message):
    def __init__(self, event: ProgressEvent) -> None:
        super().__init__()
        self.event = event


class StationScreen(Screen[None]):
    """Poste d'effacement / Disk station."""

    # Nothing is chosen before the operator moves: Textual's auto-focus chose "Back to the
    # bench" (seen on the live console), so a stray or repeated Enter left the station.
    AUTO_FOCUS = ""

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
    def bench(self) -> Bench:
        return bench_of(self)

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
        return key_hint(self.bench)

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
        from bench_agent.devices.guard import GuardPolicy
        from bench_agent.devices.udev import udevd_running
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
            settings=settings,
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
            heartbeat=None if training else lambda state: _post_heartbeat(state, settings),
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
        from bench_agent.sanitize.station import queue_record

        queue_record(disk, self.station.context if self.station else None, self.bench.settings)

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
            self.prune()

    def prune(self) -> None:
        """Finished disks already taken out stay as tiles (their result in words), the last
        few only: a day of disks does not pile up."""
        gone = [t for t in self.tiles.values() if t.unplugged and t.state not in KEEP_STATES]
        for tile in gone[: max(0, len(gone) - KEEP_FINISHED)]:
            del self.tiles[tile.uid]
            tile.remove()

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


def _post_heartbeat(state: dict[str, Any], settings: AgentSettings) -> None:
    from bench_agent.sync import post_heartbeat

    post_heartbeat(state, settings)
