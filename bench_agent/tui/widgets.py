"""Widgets of the bench app: the permanent header, the step trail, action buttons, the tag
field, component tiles, per-disk progress rows."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, ProgressBar, Static

from bench_agent.i18n import N_, _, format_size
from bench_agent.progress import ProgressEvent
from bench_agent.tui.contracts import Bench, bench_of

# A symbol AND a word for every status: never colour alone.
STATUS_WORDS: dict[str, tuple[str, str]] = {
    "pass": ("✔", N_("OK")),
    "kept": ("✔", N_("KEPT")),
    "warn": ("⚠", N_("CHECK")),
    "remediate": ("⚠", N_("TO REMEDIATE")),
    "fail": ("✘", N_("FAILED")),
    "rejected": ("✘", N_("REJECTED")),
    "unknown": ("?", N_("UNKNOWN")),
    "missing": ("—", N_("NONE")),
    "not_done": ("○", N_("NOT DONE")),
    "not_applicable": ("–", N_("N/A")),
    "skipped": ("–", N_("SKIPPED")),
    "erased": ("✔", N_("ERASED")),
    "erased_with_exceptions": ("⚠", N_("ERASED WITH EXCEPTIONS")),
    "failed": ("✘", N_("FAILED")),
    "aborted": ("■", N_("STOPPED")),
    "success": ("✔", N_("VERIFIED")),
}


PHASE_WORDS: dict[str, str] = {
    "write": N_("writing"),
    "verify": N_("verifying"),
    "pre-read": N_("reading first"),
    "firmware": N_("drive's own erase"),
    "grow": N_("fitting to the disk"),
    "done": N_("finished"),
}


def status_text(status: str) -> str:
    symbol, word = STATUS_WORDS.get(status, ("?", status.upper()))
    return f"{symbol} {_(word)}"


def status_class(status: str) -> str:
    return {
        "pass": "-ok",
        "kept": "-ok",
        "erased": "-ok",
        "success": "-ok",
        "warn": "-warn",
        "remediate": "-warn",
        "erased_with_exceptions": "-warn",
        "fail": "-bad",
        "rejected": "-bad",
        "failed": "-bad",
    }.get(status, "-neutral")


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class BenchHeader(Static):
    """Station, operator, ledger online/offline with queued records, current asset."""

    def on_mount(self) -> None:
        self.update_from_app()

    def update_from_app(self) -> None:
        app = bench_of(self)
        wf = app.wf
        parts = [
            _("Station {name}", name=wf.state.station),
            _("Operator {name}", name=wf.state.operator or "–"),
        ]
        online, queued = app.ledger_online, app.ledger_queued
        if online is None:
            parts.append(_("◌ Ledger not configured"))
        elif online:
            parts.append(_("● Ledger online ({queued} queued)", queued=queued))
        else:
            parts.append(_("○ Ledger OFFLINE ({queued} queued)", queued=queued))
        parts.append(_("Asset {tag}", tag=wf.state.asset_tag or "–"))
        text = "  │  ".join(parts)
        if wf.state.training:
            text = _("▲ TRAINING ▲") + "  │  " + text
        self.set_class(wf.state.training, "-training")
        self.update(text)


class StepTrail(Static):
    """Where the machine is in the flow: ✔ done, ▶ current, · to do (words, not colours).

    On one line always: the whole trail when it fits, else "Step n of N: title"."""

    def on_mount(self) -> None:
        self.update_from_app()

    def on_resize(self) -> None:
        self.update_from_app()

    def update_from_app(self) -> None:
        from rich.cells import cell_len

        from bench_agent.workflow.state import STEP_TITLES

        app = bench_of(self)
        pieces, plain = [], []
        steps = app.wf.steps()
        current = 0
        for index, (step, status) in enumerate(steps):
            mark = {"done": "✔", "current": "▶", "todo": "·"}[status]
            title = _(STEP_TITLES[step])
            plain.append(f"{mark} {title}")
            if status == "current":
                current = index
                pieces.append(f"[b]{mark} {title}[/b]")
            else:
                pieces.append(f"{mark} {title}")
        if cell_len("  ".join(plain)) + 2 <= self.app.size.width:
            self.update("  ".join(pieces))
            return
        self.update(
            "[b]"
            + _(
                "Step {n} of {total}: {title}",
                n=current + 1,
                total=len(steps),
                title=_(STEP_TITLES[steps[current][0]]),
            )
            + "[/b]"
        )


class ActionButton(Button):
    """An action button whose focus shows by shape as well as colour: a "» " before it."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.plain_label = label

    def on_focus(self) -> None:
        self.label = "» " + self.plain_label

    def on_blur(self) -> None:
        self.label = self.plain_label


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
    def bench_app(self) -> Bench:
        return bench_of(self)


class Tile(Vertical):
    """One component: title, a symbol and a word for its state, and a few facts."""

    def __init__(self, title: str, status: str, lines: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title_text = title
        self.status = status
        self.lines = lines
        self.add_class("tile", status_class(status))

    def compose(self) -> ComposeResult:
        yield Label(self.title_text, classes="tile-title")
        yield Label(status_text(self.status), classes="tile-status")
        for line in self.lines:
            yield Static(line, classes="tile-line")


class JobProgress(Vertical):
    """A disk's progress: bar, percent, phase, rate and time left from the engine's events."""

    def __init__(self, job: str, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.title_text = title
        self.add_class("job")

    def compose(self) -> ComposeResult:
        yield Label(self.title_text, classes="job-title")
        with Horizontal(classes="job-row"):
            yield ProgressBar(total=100, show_eta=False, show_percentage=True, classes="job-bar")
        yield Label(_("waiting"), classes="job-detail")

    def show(self, event: ProgressEvent) -> None:
        self.query_one(ProgressBar).update(progress=round(event.fraction * 100, 1))
        phase = _(PHASE_WORDS[event.phase]) if event.phase in PHASE_WORDS else event.phase
        if event.total < 4096:  # counted in steps, not bytes (grow, done): say what it does
            # A final status ("erased") is said in words, like every status on screen.
            message = status_text(event.message) if event.message in STATUS_WORDS else event.message
            self.query_one(".job-detail", Label).update(f"{phase} · {message}".rstrip(" ·"))
            return
        rate = format_size(int(event.rate)) + "/s" if event.rate else "–"
        self.query_one(".job-detail", Label).update(
            _(
                "{phase} · {done} of {total} · {rate} · {eta} left",
                phase=phase,
                done=format_size(event.done),
                total=format_size(event.total),
                rate=rate,
                eta=human_duration(event.eta_s),
            )
        )

    def finish(self, status: str) -> None:
        self.query_one(".job-detail", Label).update(status_text(status))
        self.add_class(status_class(status))
