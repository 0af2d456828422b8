"""What the screens, dialogs and widgets may ask of the bench app, as a typed Protocol.

The app pushes the screens; the screens never import the app back. They reach it through
``bench_of(self)``, typed by :class:`Bench`: the workflow, the operator's profile and keys, the
step runner and the audible cue. A leaf module: it imports no screen and no app, so the tui
package's import graph stays a tree with the app at its top (tests/test_import_graph.py).
Textual's own ``App`` methods (``push_screen``, ``bell``, ``size``…) stay on ``self.app``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from bench_agent.config import AgentSettings
    from bench_agent.progress import ProgressEvent
    from bench_agent.tui.operators import OperatorProfile
    from bench_agent.workflow.machine import Workflow


class Bench(Protocol):
    """The bench app as its screens see it (``BenchApp`` conforms; mypy checks it there)."""

    wf: Workflow
    settings: AgentSettings
    operator: OperatorProfile
    busy: str  # the label of the step running in a worker, "" when idle
    autostart: bool
    show_resume_notice: bool
    ledger_online: bool | None
    ledger_queued: int
    silence_ms: float  # before the key being handled
    last_key_name: str
    station_loop_dir: Path | None

    @property
    def resume_notice(self) -> str: ...

    @property
    def confirm_silence_ms(self) -> int: ...

    def apply_operator(self, profile: OperatorProfile) -> None: ...

    def restart_scan(self) -> None: ...

    def binding_keys(self, binding_id: str) -> list[str]: ...

    def key_for(self, binding_id: str) -> str: ...

    def move_action_for(self, key: str, printable: bool) -> Callable[[], None] | None: ...

    def action_call_help(self) -> None: ...

    def run_step(self, label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None: ...

    def progress(self, event: ProgressEvent) -> None: ...

    def cue(self, *, attention: bool = False) -> None: ...


def bench_of(node: MessagePump) -> Bench:
    """The bench app running ``node`` (a screen, a dialog, a widget)."""
    return cast("Bench", node.app)
