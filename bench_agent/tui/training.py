"""Training mode: a recorded machine, throwaway loop devices (or a simulation), no real record.

As root, two small loop devices are created in a temporary directory and removed at the end;
without root, the destructive steps are simulated (and every screen says TRAINING anyway).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_agent.config import AgentSettings
from bench_agent.errors import InputError
from bench_agent.i18n import _
from bench_agent.models.image import ImageReport
from bench_agent.models.wipe import WipeReport
from bench_agent.progress import RateMeter
from bench_agent.resources import training_evidence
from bench_agent.workflow.engines import Engines

BUNDLED_EVIDENCE = training_evidence()
LOOP_BYTES = 64 << 20


@dataclass
class TrainingSession:
    evidence: Path
    disks: list[str] = field(default_factory=list)
    engines: Engines = field(default_factory=Engines)
    simulated: bool = False


def create_loop(directory: Path, index: int, size: int = LOOP_BYTES) -> str:
    backing = directory / f"training-disk-{index}.img"
    with open(backing, "wb") as handle:
        handle.truncate(size)
    return subprocess.run(
        ["losetup", "--find", "--show", str(backing)], check=True, capture_output=True, text=True
    ).stdout.strip()


def detach_loop(device: str) -> None:
    subprocess.run(["losetup", "-d", device], capture_output=True, check=False)


@dataclass
class _SimPlan:
    device: str
    method: str = "zero"
    verify: str = "sample"
    size_bytes: int = LOOP_BYTES
    model: str = "TRAINING DISK"


def simulated_engines() -> Engines:
    """Wipe and image that only pretend (and say so in the reports): for non-root training."""

    def plan_wipes(devices: list[str], **_kwargs: Any) -> list[_SimPlan]:
        return [_SimPlan(device=d) for d in devices]

    def run_wipes(plans: list[_SimPlan], **kwargs: Any) -> list[tuple[WipeReport, None]]:
        progress, cancel = kwargs.get("progress"), kwargs.get("cancel")
        results = []
        for plan in plans:
            started = datetime.now(UTC)
            meter = RateMeter(
                plan.device.rsplit("/", 1)[-1],
                "write",
                plan.size_bytes,
                progress or (lambda e: None),
                min_interval_s=0.05,
            )
            aborted = False
            for step in range(1, 21):
                if cancel is not None and cancel.is_set():
                    aborted = True
                    break
                time.sleep(0.05)
                meter.update(plan.size_bytes * step // 20)
            meter.finish()
            results.append(
                (
                    WipeReport(
                        device=plan.device,
                        model=plan.model,
                        size_bytes=plan.size_bytes,
                        method=plan.method,
                        level="clear",
                        tool="training-simulation",
                        status="aborted" if aborted else "erased",
                        status_detail=_("Simulated for training: nothing was written."),
                        started_at=started,
                        finished_at=datetime.now(UTC),
                    ),
                    None,
                )
            )
        return results

    def choose_image(*_args: Any, **_kwargs: Any) -> tuple[Any, list[str]]:
        return {"name": "training-master", "version": "0"}, [_("Simulated for training.")]

    def write_image(entry: Any, device: str, **kwargs: Any) -> ImageReport:
        progress = kwargs.get("progress")
        meter = RateMeter(
            device.rsplit("/", 1)[-1],
            "write",
            LOOP_BYTES,
            progress or (lambda e: None),
            min_interval_s=0.05,
        )
        for step in range(1, 21):
            time.sleep(0.05)
            meter.update(LOOP_BYTES * step // 20)
        meter.finish()
        return ImageReport(
            device=device,
            image="training-master",
            status="success",
            status_detail=_("Simulated for training: nothing was written."),
        )

    engines = Engines()
    engines.plan_wipes = plan_wipes
    engines.run_wipes = run_wipes
    engines.check_target = lambda *a, **k: None
    engines.guard_policy = lambda **k: None
    engines.certificate_context = lambda **k: k
    engines.load_catalogue = lambda: [{"name": "training-master", "version": "0"}]
    engines.choose_image = choose_image
    engines.write_image = write_image
    return engines


def training_sizes() -> list[int]:
    """The first disk fits the test master (when it is built), so the image step runs too."""
    try:
        from bench_agent.workflow.demo import image_size_needed

        need = image_size_needed()
    except Exception:  # no catalogue: the image step will say so
        need = 0
    first = max(LOOP_BYTES, (need + (16 << 20) + (1 << 20) - 1) // (1 << 20) * (1 << 20))
    return [first, LOOP_BYTES]


class _Throwaway:
    """The training's loop devices and folder, removed once, whatever ends the session."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-training-"))
        self.devices: list[str] = []
        self._lock = threading.Lock()
        self.removed = False

    def remove(self, *, wait: bool = True) -> bool:
        """Detach the disks and delete the folder, once; False (without ``wait``) when a
        removal is under way already."""
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            if not self.removed:
                self.removed = True
                for device in self.devices:
                    detach_loop(device)
                shutil.rmtree(self.folder, ignore_errors=True)
        finally:
            self._lock.release()
        return True


@contextmanager
def _removed_on_exit(throwaway: _Throwaway) -> Iterator[None]:
    """Closing the terminal (SIGHUP) or a kill (SIGTERM) still removes the throwaway disks:
    by default both end Python without running ``finally`` blocks."""

    def on_signal(signum: int, _frame: Any) -> None:
        if not throwaway.remove(wait=False):
            return  # the session is ending and removing them: that removal finishes
        raise SystemExit(128 + signum)

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGHUP, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    atexit.register(throwaway.remove)
    try:
        yield
    finally:
        throwaway.remove()
        atexit.unregister(throwaway.remove)
        for sig_number, handler in previous.items():
            signal.signal(sig_number, handler)


@contextmanager
def training_session(settings: AgentSettings, evidence: Path | None) -> Iterator[TrainingSession]:
    bundle = evidence or BUNDLED_EVIDENCE
    if not bundle.is_dir():
        raise InputError(
            _("No evidence bundle at {path} for the training.", path=bundle),
            _("Give one with --evidence DIR (made by 'bench-agent inventory --save-evidence')."),
        )
    if os.geteuid() != 0:
        yield TrainingSession(
            evidence=bundle,
            disks=["/dev/training-a", "/dev/training-b"],
            engines=simulated_engines(),
            simulated=True,
        )
        return
    throwaway = _Throwaway()
    with _removed_on_exit(throwaway):
        for index, size in enumerate(training_sizes()):
            throwaway.devices.append(create_loop(throwaway.folder, index, size))
        yield TrainingSession(evidence=bundle, disks=list(throwaway.devices))
