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
from typing import TYPE_CHECKING, Any

from bench_agent.config import AgentSettings
from bench_agent.errors import InputError
from bench_agent.i18n import _
from bench_agent.models.image import ImageEntry, ImageReport
from bench_agent.models.wipe import WipePlan, WipeReport
from bench_agent.progress import ProgressCallback, RateMeter, ignore_progress
from bench_agent.resources import training_evidence
from bench_agent.workflow.engines import Engines, WipeResult

if TYPE_CHECKING:
    from bench_agent.devices.guard import GuardPolicy
    from bench_agent.sanitize.certificate import CertificateContext
    from bench_agent.sanitize.validation import ValidationOptions

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


# What the simulated catalogue offers: one master, never read (nothing is written).
TRAINING_MASTER = ImageEntry(
    name="training-master",
    version="0",
    architecture="i686",
    source="",
    compressed_size=0,
    image_size=LOOP_BYTES,
    compressed_sha256="",
    image_sha256="",
)


def _simulated_pass(device: str, size: int, progress: ProgressCallback, cancel: Any) -> bool:
    """A second of pretend writing, with real progress events; False when stopped."""
    meter = RateMeter(device.rsplit("/", 1)[-1], "write", size, progress, min_interval_s=0.05)
    for step in range(1, 21):
        if cancel is not None and cancel.is_set():
            meter.finish()
            return False
        time.sleep(0.05)
        meter.update(size * step // 20)
    meter.finish()
    return True


def simulated_engines() -> Engines:
    """Wipe and image that only pretend (and say so in the reports): for non-root training.
    They return the real types, so the workflow cannot tell them from the engines."""

    def plan_wipes(devices: list[str], **_options: Any) -> list[WipePlan]:
        return [
            WipePlan(
                device=d,
                kname=d.rsplit("/", 1)[-1],
                model="TRAINING DISK",
                size_bytes=LOOP_BYTES,
                method="zero",
                level="clear",
                verify="sample",
            )
            for d in devices
        ]

    def run_wipes(
        plans: list[WipePlan],
        *,
        settings: AgentSettings,
        context: CertificateContext,
        progress: ProgressCallback,
        cancel: threading.Event | None = None,
        report_dir: Path | None = None,
        validation: ValidationOptions | None = None,
    ) -> list[WipeResult]:
        results: list[WipeResult] = []
        for plan in plans:
            started = datetime.now(UTC)
            done = _simulated_pass(plan.device, plan.size_bytes, progress, cancel)
            report = WipeReport(
                device=plan.device,
                model=plan.model,
                size_bytes=plan.size_bytes,
                method=plan.method,
                level=plan.level,
                tool="training-simulation",
                status="erased" if done else "aborted",
                status_detail=_("Simulated for training: nothing was written."),
                started_at=started,
                finished_at=datetime.now(UTC),
            )
            results.append((report, None))
        return results

    def choose_image(*_args: Any, **_kwargs: Any) -> tuple[ImageEntry | None, list[str]]:
        return TRAINING_MASTER, [_("Simulated for training.")]

    def write_image(
        entry: ImageEntry,
        device: str,
        *,
        progress: ProgressCallback = ignore_progress,
        **_options: Any,
    ) -> ImageReport:
        _simulated_pass(device, LOOP_BYTES, progress, None)
        return ImageReport(
            device=device,
            image=entry.name,
            status="success",
            status_detail=_("Simulated for training: nothing was written."),
        )

    def check_target(device: str, policy: GuardPolicy | None = None) -> None:
        return None  # the training's disks do not exist

    return Engines(
        plan_wipes=plan_wipes,
        run_wipes=run_wipes,
        check_target=check_target,
        load_catalogue=lambda: [TRAINING_MASTER],
        choose_image=choose_image,
        write_image=write_image,
    )


def training_sizes() -> list[int]:
    """The first disk fits the test master (when it is built), so the image step runs too."""
    try:
        from bench_agent.adapters.demo import image_size_needed

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
