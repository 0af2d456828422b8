"""The bench app: shows the workflow's step and asks the operator; the workflow does the work.

Long work (inventory, checks, wipe, image, record) runs in thread workers that post messages
back, so the screen never freezes. Four keys are enough for everything (next, previous,
choose, back — remappable by binding id per operator), two in scan mode.

The app is the top of the tui package: it pushes the screens, and they see it only through the
``Bench`` protocol of tui.contracts; no module of the package imports this one back.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Button

from bench_agent.config import AgentSettings, load_settings
from bench_agent.errors import BenchError
from bench_agent.i18n import N_, _, set_language
from bench_agent.progress import ProgressEvent
from bench_agent.tui import console
from bench_agent.tui.modals import ErrorModal
from bench_agent.tui.operators import OperatorProfile, default_operator, load_operator
from bench_agent.tui.screens import screen_for
from bench_agent.tui.step_base import StepScreen
from bench_agent.tui.themes import BENCH_THEMES, theme_name
from bench_agent.tui.widgets import BenchHeader, StepTrail
from bench_agent.workflow.engines import Engines
from bench_agent.workflow.machine import Workflow, now
from bench_agent.workflow.state import STEP_TITLES, Step

if TYPE_CHECKING:
    from bench_agent.tui.contracts import Bench

# Key names as the operator reads them, in their language (never "Entrée/Enter" on one screen).
KEY_LABELS = {
    "right": "→",
    "left": "←",
    "up": "↑",
    "down": "↓",
    "enter": N_("Enter"),
    "escape": N_("Esc"),
    "space": N_("Space"),
    "question_mark": "?",
}


# A held key repeats every 25-40 ms: a confirmation press must follow at least this much
# silence even when the operator's bounce filter is off.
MIN_CONFIRM_SILENCE_MS = 150
# Below this many rows (large console text) buttons and margins shrink to keep every answer
# of a step on screen.
SHORT_SCREEN_ROWS = 32


class StepFinished(Message):
    def __init__(self, error: BenchError | None) -> None:
        super().__init__()
        self.error = error


class EngineProgress(Message):
    def __init__(self, event: ProgressEvent) -> None:
        super().__init__()
        self.event = event


class LedgerState(Message):
    def __init__(self, online: bool | None, queued: int) -> None:
        super().__init__()
        self.online = online
        self.queued = queued


class BenchApp(App[int]):
    CSS_PATH = str(Path(__file__).parent / "bench.tcss")
    TITLE = "Bench Agent"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,down", "next", "next", id="bench.next", show=False),
        Binding("left,up", "prev", "previous", id="bench.prev", show=False),
        Binding("enter", "select", "choose", id="bench.select", show=False),
        Binding("escape", "go_back", "back", id="bench.back", show=False),
        # Call the supervisor, from every screen (then "choose" confirms): remappable, e.g. to
        # a third switch.
        Binding("f1,question_mark", "call_help", "help", id="bench.help", show=False),
    ]

    def __init__(
        self,
        settings: AgentSettings | None = None,
        *,
        engines: Engines | None = None,
        profile: str | None = None,
        operator: OperatorProfile | None = None,
        training: bool = False,
        evidence: Path | None = None,
        disks: list[str] | None = None,
        image: str = "",
        journal_dir: Path | None = None,
        clock: Callable[[], datetime] = now,
        autostart: bool = True,
        poll_ledger: bool = True,
        station_loop_dir: Path | None = None,
    ) -> None:
        super().__init__()
        # Disk station mode: loop devices are offered only when backed under this directory
        # (tests, training); never otherwise.
        self.station_loop_dir = station_loop_dir
        self.settings = settings or load_settings()
        self.engines = engines or Engines()
        self.autostart = autostart
        self.poll_ledger = poll_ledger
        self.ledger_online: bool | None = None
        self.ledger_queued = 0
        self.busy = ""
        self._last_key: tuple[str, float] = ("", 0.0)
        self.silence_ms = float("inf")  # before the key being handled
        self.last_key_name = ""
        self._scan_timer: Any = None
        self.show_resume_notice = False
        self.wf = Workflow(
            self.settings,
            self.engines,
            profile=profile,
            training=training,
            evidence_dir=evidence,
            disks=disks or [],
            image=image,
            journal_dir=journal_dir,
            clock=clock,
        )
        self.resumed_at = self.wf.step
        self.show_resume_notice = self.wf.resumed and self.wf.step not in (
            Step.OPERATOR,
            Step.INTAKE,
        )
        self.operator = operator or default_operator(
            self.settings.operator, self.settings.language, self.settings.home
        )
        for theme in BENCH_THEMES:
            self.register_theme(theme)
        self.apply_operator(self.operator)

    # ------------------------------------------------------------------ operator profile
    def apply_operator(self, profile: OperatorProfile) -> None:
        """Language, theme, keys, bounce filter, scan mode and layout of this operator."""
        self.operator = profile
        set_language(profile.language)
        wanted = theme_name(profile.theme)
        # An unknown theme in a profile falls back to the high-contrast one, never a crash.
        self.theme = wanted if wanted in self.available_themes else "bench-contrast-dark"
        console.apply(profile.text_size, self.theme)  # live console: font size, palette
        keymap = dict(profile.keymap)
        if profile.scan_mode == "two-switch":
            move, choose = [*profile.scan_keys, "space", "enter"][:2]
            keymap.setdefault("bench.next", move)
            keymap.setdefault("bench.select", choose)
        elif profile.scan_mode == "auto-scan":
            keymap.setdefault(
                "bench.select", profile.scan_keys[-1] if profile.scan_keys else "enter"
            )
        self.set_keymap(keymap)
        layout = profile.layout
        for cls in ("-tiles-normal", "-tiles-large", "-tiles-huge", "-compact", "-one-item"):
            self.remove_class(cls)
        self.add_class(f"-tiles-{layout.tile_size}")
        if layout.density == "compact":
            self.add_class("-compact")
        if layout.one_item_per_screen:
            self.add_class("-one-item")
        if self.is_running:
            self.restart_scan()

    def restart_scan(self) -> None:
        """One switch (auto-scan): the scan starts a whole period now (at mount, on a new
        profile, when a dialog opens: a whole period on its first target). Each tick moves the
        top screen's own targets when it has them (a dialog's ``scan_next``), else its choices;
        so a dialog never needs the step's scan paused, however many are stacked."""
        if self._scan_timer is not None:
            self._scan_timer.stop()
            self._scan_timer = None
        if self.operator.scan_mode == "auto-scan":
            self._scan_timer = self.set_interval(self.operator.scan_rate_ms / 1000, self._scan_tick)

    def _scan_tick(self) -> None:
        own = getattr(self.screen, "scan_next", None)
        if callable(own):
            own()
        else:
            self.action_next()

    @property
    def resume_notice(self) -> str:
        """Said on every screen until the next machine: the bench restarted mid-machine."""
        if not self.show_resume_notice:
            return ""
        return _(
            "Resumed after a restart: machine {asset}, step '{step}'.",
            asset=self.wf.state.asset_tag or "–",
            step=_(STEP_TITLES[self.resumed_at]),
        )

    def binding_keys(self, binding_id: str) -> list[str]:
        """The keys of one of the app's bindings, after the operator's keymap."""
        default = next(
            b.key for b in self.BINDINGS if isinstance(b, Binding) and b.id == binding_id
        )
        return (self._keymap.get(binding_id) or default).split(",")

    def key_for(self, binding_id: str) -> str:
        """The first key of a binding after the operator's keymap, as shown on screen."""
        key = self.binding_keys(binding_id)[0]
        if key in KEY_LABELS:
            return _(KEY_LABELS[key])
        return key.upper() if key[:1] == "f" and key[1:].isdigit() else key  # F1…F12

    # ------------------------------------------------------------------ keys
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            # Terminals report no key release: a held key is a stream of repeats, so silence
            # is measured from the last key *received*, filtered or not.
            stamp = time.monotonic()
            last_key, last_at = self._last_key
            self.silence_ms = (stamp - last_at) * 1000 if last_at else float("inf")
            self.last_key_name = event.key
            self._last_key = (event.key, stamp)
            # Key-bounce filter (tremor, held switch): the same key again before bounce_ms of
            # silence counts once, however long it is held.
            if (
                self.operator.bounce_ms
                and event.key == last_key
                and self.silence_ms < self.operator.bounce_ms
            ):
                event.prevent_default()
                event.stop()
                return
        await super().on_event(event)

    @property
    def scan_timer(self) -> Any:
        return self._scan_timer

    @property
    def confirm_silence_ms(self) -> int:
        """Silence a press of a destructive confirmation needs before it counts."""
        return max(self.operator.bounce_ms, MIN_CONFIRM_SILENCE_MS)

    def _cycle(self, step: int) -> None:
        """Move among the screen's choices only (buttons and fields), wrapping around."""
        screen = self.screen
        page = getattr(screen, "page_body", None)
        if callable(page) and page(step):
            return  # the move showed the next (previous) page of the body instead
        choices = [w for w in screen.query("Button, Input") if w.focusable and w.display]
        if not choices:
            screen.focus_next() if step > 0 else screen.focus_previous()
            return
        current = screen.focused
        index = choices.index(current) if current in choices else -1
        choices[(index + step) % len(choices)].focus()

    def action_next(self) -> None:
        self._cycle(+1)

    def move_action_for(self, key: str, printable: bool) -> Callable[[], None] | None:
        """In a text field: the operator's own move key moves on instead of editing. Printable
        keys always type (a barcode reader), except Space for a two-switch operator."""
        if printable and not (key == "space" and self.operator.scan_mode == "two-switch"):
            return None
        for binding_id, action in (
            ("bench.next", self.action_next),
            ("bench.prev", self.action_prev),
        ):
            if key in self.binding_keys(binding_id):
                return action
        return None

    def action_prev(self) -> None:
        self._cycle(-1)

    def action_select(self) -> None:
        focused = self.screen.focused
        if isinstance(focused, Button) and not focused.disabled:
            focused.press()

    def action_call_help(self) -> None:
        # Imported on the first call (downwards, never back up): start-up stays lean.
        from bench_agent.tui.help_call import HelpCallScreen

        if not isinstance(self.screen, HelpCallScreen):
            self.push_screen(HelpCallScreen())

    def action_go_back(self) -> None:
        back = getattr(self.screen, "action_back", None)
        if callable(back):
            back()

    # ------------------------------------------------------------------ life cycle
    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.height < SHORT_SCREEN_ROWS, "-short")

    def on_mount(self) -> None:
        self.set_class(self.size.height < SHORT_SCREEN_ROWS, "-short")

        self.push_screen(screen_for(self.wf.step))
        self.restart_scan()
        if self.polls_ledger:
            self.poll_ledger_status()
            self.set_interval(15, self.poll_ledger_status)

    @property
    def polls_ledger(self) -> bool:
        return self.poll_ledger and bool(self.settings.ledger_url) and not self.wf.state.training

    @work(thread=True, exclusive=True, group="ledger")
    def poll_ledger_status(self) -> None:
        try:
            online, queued = self.engines.ledger_status(self.settings)
        except Exception:  # liveness only: the outbox keeps every record either way
            online, queued = False, self.ledger_queued
        self.post_message(LedgerState(bool(online), int(queued)))

    def on_ledger_state(self, message: LedgerState) -> None:
        self.ledger_online, self.ledger_queued = message.online, message.queued
        self.refresh_header()

    def refresh_header(self) -> None:
        for widget in self.screen.query(BenchHeader):
            widget.update_from_app()
        for trail in self.screen.query(StepTrail):
            trail.update_from_app()

    def route(self, *, start: bool = True) -> None:
        """Show the screen of the workflow's current step (``start``: its automatic work)."""
        current = self.screen
        while not isinstance(current, StepScreen) and len(self.screen_stack) > 1:
            self.pop_screen()
            current = self.screen
        if isinstance(current, StepScreen) and current.handles(self.wf.step):
            current.refresh_view(start=start)
        else:
            screen = screen_for(self.wf.step)
            screen.autostart = start
            self.switch_screen(screen)

    # ------------------------------------------------------------------ work
    def run_step(self, label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if self.busy:
            return
        self.wf.cancel_event.clear()  # a stop belongs to the run it was asked during
        self.busy = label
        self._run_step(fn, args, kwargs)

    @work(thread=True, exclusive=True, group="step")
    def _run_step(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        error: BenchError | None = None
        try:
            fn(*args, **kwargs)
        except BenchError as exc:
            error = exc
        except Exception as exc:  # the one handler: shown to the operator, never a crash
            error = BenchError(_("Unexpected error: {error}", error=f"{type(exc).__name__}: {exc}"))
        self.post_message(StepFinished(error))

    def progress(self, event: ProgressEvent) -> None:
        """Engine callback (any thread): forwarded to the UI as a message."""
        self.post_message(EngineProgress(event))

    def on_engine_progress(self, message: EngineProgress) -> None:
        show = getattr(self.screen, "show_progress", None)
        if callable(show):
            show(message.event)

    def on_step_finished(self, message: StepFinished) -> None:
        self.busy = ""
        if message.error is not None:
            self.cue(attention=True)
            self.route(start=False)  # the step may have moved; no automatic retry
            self.refresh_header()
            self.push_screen(ErrorModal(message.error))
            return
        self.cue()
        self.route()
        self.refresh_header()
        if self.polls_ledger:  # the queue changes when a record is made
            self.poll_ledger_status()

    def cue(self, *, attention: bool = False) -> None:
        """Audible cue at the end of a step (and twice when the bench needs attention)."""
        mode = self.operator.audible
        if mode in ("bell", "both"):
            self.bell()
            if attention:
                self.bell()
        if mode in ("alsa", "both") and not self.is_headless:
            threading.Thread(target=_alsa_cue, args=(attention,), daemon=True).start()


def _alsa_cue(attention: bool) -> None:
    import subprocess
    import tempfile

    from bench_agent.workflow.guided import tone_wav

    with tempfile.TemporaryDirectory() as tmp:
        wav = tone_wav(Path(tmp) / "cue.wav", frequency=880 if attention else 660, seconds=0.3)
        subprocess.run(["aplay", "-q", str(wav)], capture_output=True, timeout=10, check=False)


def launch(args: argparse.Namespace) -> int:
    """``bench-agent tui``: start the app (the training mode prepares its throwaway disks)."""
    settings = load_settings()
    operator = (
        load_operator(args.operator_profile, settings.home) if args.operator_profile else None
    )
    if getattr(args, "training", False):
        from bench_agent.tui.training import training_session  # training mode only

        with training_session(settings, args.evidence) as session:
            app = BenchApp(
                settings,
                engines=session.engines,
                profile=args.profile,
                operator=operator,
                training=True,
                evidence=session.evidence,
                disks=session.disks,
                image=args.image,
                journal_dir=settings.journal_dir / "training",
            )
            app.run()
            return 0
    app = BenchApp(
        settings,
        profile=args.profile,
        operator=operator,
        evidence=args.evidence,
        disks=list(args.disks),
        image=args.image,
    )
    app.run()
    app.wf.flush_heartbeats()
    return 0


if TYPE_CHECKING:

    def _keeps_the_contract(app: BenchApp) -> Bench:
        """mypy: the app is what its screens ask for (they see it through ``Bench`` only)."""
        return app
