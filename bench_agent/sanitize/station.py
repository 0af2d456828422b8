"""The hot-plug disk station: watch udev for disks arriving in docks or hot-swap bays, wipe each
new one with the strongest method the profile allows (several at once), certify it, and record
a disk pulled out mid-wipe as aborted, with no certificate.

Only disks that arrive while the station runs are taken (a disk present at start may be the
system's or another machine's): a udev event about a disk already there is ignored unless new
media came under its name (its ``diskseq`` changed). Every arrival goes through the device guard; the system disk
and anything the guard refuses are reported, never wiped. Loop devices are taken only when
their backing file lies under a directory named explicitly (tests, training).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_agent.devices.guard import GuardPolicy
from bench_agent.errors import BenchError
from bench_agent.i18n import SUPPORTED, _
from bench_agent.models.wipe import WipeReport
from bench_agent.progress import ProgressCallback, ProgressEvent
from bench_agent.sanitize.certificate import CertificateContext
from bench_agent.sanitize.validation import ValidationOptions

if TYPE_CHECKING:
    from bench_agent.config import AgentSettings

SYS_BLOCK = Path("/sys/block")
# After a wipe ends without a certificate, how long to wait for the udev event of a disk that
# was pulled (the kernel reports the I/O errors first, the removal just after).
REMOVAL_GRACE_S = 5.0

StationListener = Callable[[dict[str, Any]], None]
HEARTBEAT_S = 10.0


@dataclass
class StationDisk:
    kname: str
    device: str
    arrived_at: str
    state: str = "planning"  # planning, refused, wiping, erased, ..., failed, aborted
    detail: str = ""
    serial: str = ""
    # False when the serial is only the USB bridge's (the drive behind it gave none): it then
    # names the dock, not the disk, and is never matched against another disk's.
    serial_names_disk: bool = True
    model: str = ""
    size_bytes: int = 0
    method: str = ""
    removed: bool = False
    stopped: bool = False  # by the operator (confirmed in the app)
    diskseq: str = ""
    certificate_id: str = ""
    health: str = ""  # SMART: pass, warn, fail or unknown (no SMART: said in health_reasons)
    health_reasons: dict[str, list[str]] = field(default_factory=dict)  # by language
    plan: Any = None
    context: CertificateContext | None = None  # its own machine or lot, once tied (hold mode)
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    report: WipeReport | None = None
    certificate: dict[str, Any] | None = None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _size_sectors(kname: str) -> int:
    text = _read(SYS_BLOCK / kname / "size")
    return int(text) if text.isdigit() else 0


def _present_disks() -> dict[str, str]:
    """kernel name -> diskseq of every block device with media now."""
    try:
        names = [entry.name for entry in SYS_BLOCK.iterdir()]
    except OSError:
        return {}
    return {n: _read(SYS_BLOCK / n / "diskseq") for n in names if _size_sectors(n) > 0}


def loop_backing(kname: str) -> str:
    return _read(SYS_BLOCK / kname / "loop" / "backing_file")


class DiskStation:
    """One station: ``run(stop)`` watches and wipes until ``stop`` is set."""

    def __init__(
        self,
        *,
        settings: AgentSettings,
        context: CertificateContext,
        policy: GuardPolicy,
        allowed_methods: list[str] | None,
        verify: str,
        report_dir: Path | None = None,
        validation: ValidationOptions | None = None,
        loop_backing_dir: Path | None = None,
        listener: StationListener | None = None,
        progress: ProgressCallback | None = None,
        source: str = "udev",
        max_disks: int | None = None,
        on_finished: Callable[[StationDisk], None] | None = None,
        heartbeat: Callable[[dict[str, Any]], Any] | None = None,
        hold: bool = False,
    ) -> None:
        self.settings = settings
        self.context = context
        self.policy = policy
        self.allowed_methods = allowed_methods
        self.verify = verify
        self.report_dir = report_dir
        self.validation = validation
        self.loop_backing_dir = loop_backing_dir.resolve() if loop_backing_dir else None
        self.listener = listener or (lambda _event: None)
        self.progress = progress or (lambda _event: None)
        self.source = source
        self.max_disks = max_disks
        self.on_finished = on_finished
        self.heartbeat = heartbeat
        # Hold: a planned disk waits ("ready") until start() ties it to a machine or a lot
        # (the app's station screen); otherwise it is wiped as soon as it is planned.
        self.hold = hold
        self._fractions: dict[str, float] = {}
        self.disks: dict[str, StationDisk] = {}  # by kernel name, while present or running
        self.finished: list[StationDisk] = []
        self.certified_serials: dict[str, str] = {}  # serial -> certificate id (this session)
        self._started: list[StationDisk] = []
        self._present: dict[str, str] = {}
        self._lock = threading.Lock()
        self._emit_lock = threading.Lock()

    # -- events out --------------------------------------------------------------------------

    def _emit(self, kind: str, disk: StationDisk | None = None, **extra: Any) -> None:
        event: dict[str, Any] = {"event": kind, "at": datetime.now(UTC).isoformat()}
        if disk is not None:
            event.update(
                device=disk.device,
                kname=disk.kname,
                serial=disk.serial,
                serial_names_disk=disk.serial_names_disk,
                model=disk.model,
                size_bytes=disk.size_bytes,
                state=disk.state,
                detail=disk.detail,
                method=disk.method,
                certificate_id=disk.certificate_id,
                health=disk.health,
            )
        event.update(extra)
        # A display problem never stops a wipe.
        with self._emit_lock, contextlib.suppress(Exception):
            self.listener(event)

    # -- the watch ---------------------------------------------------------------------------

    def _monitor(self) -> Any:
        import pyudev

        context = pyudev.Context()
        monitor = pyudev.Monitor.from_netlink(context, source=self.source)
        monitor.filter_by("block", device_type="disk")
        monitor.start()
        return monitor

    def run(self, stop: threading.Event) -> list[StationDisk]:
        """Watch until ``stop`` is set (or ``max_disks`` reached a final state); then stop the
        wipes still running (they end aborted, without a certificate) and return every disk."""
        monitor = self._monitor()
        # Disks already there are never taken, even when an event names them later (a
        # partition table re-read, udev's watch after a close): only new media is a new disk.
        self._present = _present_disks()
        self._emit("watching", source=self.source)
        beating = threading.Event()
        if self.heartbeat is not None:
            threading.Thread(
                target=self._beat, args=(beating,), name="station-heartbeat", daemon=True
            ).start()
        try:
            while not stop.is_set():
                device = monitor.poll(timeout=0.3)
                if device is not None:
                    self._on_udev(str(device.action or ""), str(device.sys_name))
                if self.max_disks is not None and self._settled() >= self.max_disks:
                    break
        finally:
            with self._lock:
                running = [d for d in self._started if d.thread is not None]
            for disk in running:
                disk.cancel.set()
            for disk in running:
                if disk.thread is not None:
                    disk.thread.join()
            beating.set()
            self._emit("stopped")
        return self.finished

    def state(self) -> dict[str, Any]:
        """What the board shows for this station (the heartbeat's body)."""
        with self._lock:
            wiping = [d for d in self._started if d.thread is not None]
            done = [d for d in self.finished if d.state != "refused"]
            fractions = [self._fractions.get(d.kname, 0.0) for d in wiping]
        return {
            "state": "wiping" if wiping else "idle",
            "step": f"disk station: {len(wiping)} wiping, {len(done)} finished",
            "progress": sum(fractions) / len(fractions) if fractions else None,
            "disks": [{"device": d.device, "serial": d.serial} for d in wiping],
        }

    def _beat(self, stopped: threading.Event) -> None:
        while not stopped.is_set():
            with contextlib.suppress(Exception):  # the board is a convenience, never a blocker
                assert self.heartbeat is not None
                self.heartbeat(self.state())
            stopped.wait(HEARTBEAT_S)

    def _settled(self) -> int:
        with self._lock:
            return sum(1 for d in self.finished if d.state != "refused")

    def _on_udev(self, action: str, kname: str) -> None:
        # Events can be handled late: what counts is the disk there now. diskseq changes
        # whenever new media appears under a name (a loop re-attached, a card swapped), so a
        # name reused by another disk is never taken for the one that left.
        size = 0 if action == "remove" else _size_sectors(kname)
        seq = _read(SYS_BLOCK / kname / "diskseq")
        with self._lock:
            known = self.disks.get(kname)
        if known is not None and (size == 0 or known.diskseq != seq):
            self._left(kname)
        if kname in self._present:
            if size > 0 and self._present[kname] == seq:
                return  # the same disk as at start
            del self._present[kname]  # it left, or other media came under its name
        if size > 0:
            self._arrived(kname, seq)

    def _left(self, kname: str) -> None:
        with self._lock:
            disk = self.disks.get(kname)
            if disk is None:
                return
            if disk.thread is None:  # not wiping: it simply went away
                del self.disks[kname]
                self._emit("left", disk)
                return
            disk.removed = True
            del self.disks[kname]  # the name is free for the next disk; the wipe ends aborted
        disk.cancel.set()
        self._emit("removed-mid-wipe", disk)

    # -- one disk ----------------------------------------------------------------------------

    def _arrived(self, kname: str, diskseq: str = "") -> None:
        with self._lock:
            if kname in self.disks:
                return  # a change event of a disk already handled
            disk = StationDisk(
                kname=kname,
                device="/dev/" + kname,
                arrived_at=datetime.now(UTC).isoformat(),
                diskseq=diskseq,
            )
            self.disks[kname] = disk
        self._emit("arrived", disk)
        named = False
        if kname.startswith("loop"):
            backing = loop_backing(kname)
            named = bool(
                self.loop_backing_dir is not None
                and backing
                and Path(backing).resolve().is_relative_to(self.loop_backing_dir)
            )
            if not named:
                self._refuse(disk, _("a loop device, not a docked disk"))
                return
        # Under the directory named with --loop-backing-dir: a loop device named explicitly.
        policy = replace(self.policy, allow_loop=named)
        from bench_agent.sanitize.plan import plan_one, serial_is_the_drives

        try:
            plan = plan_one(
                disk.device,
                allowed_methods=self.allowed_methods,
                verify=self.verify,  # type: ignore[arg-type]
                policy=policy,
            )
        except BenchError as exc:
            self._refuse(disk, exc.message)
            return
        disk.serial, disk.model, disk.size_bytes = plan.serial, plan.model, plan.size_bytes
        disk.serial_names_disk = serial_is_the_drives(plan)
        disk.method = plan.method
        disk.health, disk.health_reasons = smart_health(disk.device, usb=plan.transport == "usb")
        with self._lock:
            twin = next(
                (d for d in self.disks.values() if d is not disk and same_serial(d, disk)),
                None,
            )
        if twin is not None:
            self._refuse(
                disk,
                _(
                    "another disk with the same serial {serial} is in the station ({other}): "
                    "neither is confused with the other, this one is not wiped",
                    serial=disk.serial,
                    other=twin.device,
                ),
            )
            return
        if disk.serial_names_disk and disk.serial in self.certified_serials:
            self._refuse(
                disk,
                _(
                    "already wiped in this session (certificate {certificate}); it came back "
                    "under {device}",
                    certificate=self.certified_serials[disk.serial],
                    device=disk.device,
                ),
            )
            return
        disk.plan = plan
        if self.hold:
            with self._lock:
                disk.state = "ready"
            self._emit("ready", disk, estimate_s=plan.estimate_s, level=plan.level)
            return
        with self._lock:
            self._launch(disk)

    def start(self, kname: str, *, asset_tag: str = "", lot: str = "") -> bool:
        """Hold mode: wipe a waiting disk, tied to a machine's asset tag or a donor lot (in its
        certificate and record). False when that disk is no longer there or not waiting (it
        was pulled, or is already wiping): nothing is started then."""
        with self._lock:
            disk = self.disks.get(kname)
            if disk is None or disk.state != "ready" or disk.removed:
                return False
            disk.context = replace(
                self.context,
                asset_tag=asset_tag or self.context.asset_tag,
                lot=lot or self.context.lot,
            )
            self._launch(disk)
        return True

    def stop(self, kname: str) -> bool:
        """Stop a running wipe the operator asked to stop: it ends aborted, with no
        certificate. False when no wipe of that disk runs (it finished meanwhile)."""
        with self._lock:
            disk = next(
                (d for d in self._started if d.kname == kname and d.thread is not None), None
            )
            if disk is None:
                return False
            disk.stopped = True
        disk.cancel.set()
        return True

    def _launch(self, disk: StationDisk) -> None:
        """Start the wipe thread of a planned disk (the caller holds the lock)."""
        plan = disk.plan
        disk.state = "wiping"
        self._started.append(disk)
        disk.thread = threading.Thread(
            target=self._wipe, args=(disk, plan), name=f"station-{disk.kname}", daemon=True
        )
        self._emit("wiping", disk, estimate_s=plan.estimate_s, level=plan.level)
        disk.thread.start()

    def _refuse(self, disk: StationDisk, reason: str) -> None:
        disk.state = "refused"
        disk.detail = reason
        with self._lock:
            self.finished.append(disk)
        self._emit("refused", disk)

    def _wipe(self, disk: StationDisk, plan: Any) -> None:
        from bench_agent.sanitize.engine import run_wipes

        def progress(event: ProgressEvent) -> None:
            self._fractions[disk.kname] = event.fraction
            self.progress(event)

        try:
            ((report, certificate),) = run_wipes(
                [plan],
                settings=self.settings,
                context=disk.context or self.context,
                progress=progress,
                cancel=disk.cancel,
                report_dir=self.report_dir,
                validation=self.validation,
                certify_if=lambda _report: not disk.removed,
            )
        except BenchError as exc:
            disk.state, disk.detail = "failed", exc.message
            self._done(disk)
            return
        if certificate is None and not disk.removed and not disk.stopped:
            # A pulled disk errors first; its udev removal follows within moments.
            deadline = time.monotonic() + REMOVAL_GRACE_S
            while time.monotonic() < deadline and not disk.removed:
                if _size_sectors(disk.kname) == 0:
                    disk.removed = True
                    break
                time.sleep(0.1)
        if disk.removed and certificate is None:
            report.status = "aborted"
            report.status_detail = (
                "the disk was removed during the wipe; nothing is certified ("
                + (report.status_detail or "no detail")
                + ")"
            )
            report.verification_result = "not_done"
            _rewrite_report(report)
        disk.report = report
        disk.state = report.status
        disk.detail = report.status_detail
        disk.certificate = certificate
        if certificate is not None:
            disk.certificate_id = str(certificate.get("certificate_id", ""))
            if disk.serial and disk.serial_names_disk:
                self.certified_serials[disk.serial] = disk.certificate_id
        self._done(disk)

    def _done(self, disk: StationDisk) -> None:
        with self._lock:
            disk.thread = None
            self.finished.append(disk)
            # Still present after a finished wipe: stays known (its change events are ignored)
            # until it leaves; a pulled disk is forgotten now.
            if disk.removed and self.disks.get(disk.kname) is disk:
                del self.disks[disk.kname]
        if self.on_finished is not None and disk.report is not None:
            try:
                self.on_finished(disk)
            except Exception as exc:  # recorded in words; the wipe's own files are written
                disk.detail += f" (not queued for the ledger: {exc})"
        self._emit("finished", disk)


def same_serial(one: StationDisk, other: StationDisk) -> bool:
    """Two disks with the same serial of their own. Disks whose serial is only their USB
    bridge's (docks of one make often share one) are told apart by their device (kernel name)
    and never taken for one another: re-wiping a disk is safe, refusing a different one is not."""
    return (
        bool(one.serial)
        and one.serial == other.serial
        and one.serial_names_disk
        and other.serial_names_disk
    )


def smart_health(
    device: str, *, usb: bool = False, run: Callable[[list[str]], str] | None = None
) -> tuple[str, dict[str, list[str]]]:
    """The disk's SMART health as the bench grades it (``unknown`` with the reason in words
    when the dock or bridge reports no SMART), reasons by language. A USB disk is asked
    through SAT pass-through first, as the inventory does (smartctl only guesses it for
    bridges it knows), then by smartctl's own guess when the bridge passes no SAT."""
    from bench_agent.inventory.health import assess_disk_i18n
    from bench_agent.inventory.smartctl import parse_smartctl

    run = run or _smartctl_text
    result = None
    if usb:
        result = parse_smartctl(run(["smartctl", "-x", "-d", "sat", device]))
    if result is None or not result.smart.available:
        result = parse_smartctl(run(["smartctl", "-x", device]))
    level, reasons = assess_disk_i18n(result.smart)
    return level, {lang: [r[lang] for r in reasons] for lang in SUPPORTED}


def _smartctl_text(argv: list[str]) -> str:
    import subprocess

    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"smartctl: {exc}"


def queue_record(
    disk: StationDisk, context: CertificateContext | None, settings: AgentSettings
) -> None:
    """A finished disk becomes a signed record in the outbox, delivered like a bench's, so its
    certificate and validation reach the ledger. ``context`` is the station's; a disk tied to
    its own machine or lot (hold mode) carries its own, as its certificate does."""
    from bench_agent.models.inventory import Inventory
    from bench_agent.models.record import BenchRecord
    from bench_agent.sync import submit_record

    report = disk.report
    context = disk.context or context
    assert report is not None and context is not None
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
    submit_record(record, settings)


def _rewrite_report(report: WipeReport) -> None:
    path = report.extra.get("report_file")
    if path:
        Path(str(path)).write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")


def station_log_line(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False)
