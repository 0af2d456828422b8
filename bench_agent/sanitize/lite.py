"""The wipe-only path of CPUs without SSE2 (Pentium III, Athlon XP): the bench's own engine,
certificate and record, importing nothing that needs SSE2.

pydantic-core's i686 build (and PyPI's zstandard) die with "Illegal instruction" on those
CPUs, so this module and everything it imports use the Debian interpreter, the standard
library and Debian's python3-cryptography only: the device guard (``devices.guard``), the
direct-I/O write and read-back (``sanitize.blockio``), NIST sampling, the certificate's fields
and canonical signing (``sanitize.certificate``, ``signing``) and the durable outbox
(``sync.outbox``). The certificate and the record are the same JSON the full bench writes
(``WipeReport``/``BenchRecord`` as ``model_dump(mode="json")``), signed with the station key;
the ledger validates them with the pydantic models when the outbox is synced.

``python3 -m bench_agent.sanitize.lite`` runs the operator's screen (``lite_screen``).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import tomllib
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_agent import __version__
from bench_agent.devices.directio import block_geometry
from bench_agent.devices.guard import GuardPolicy, assess_all_refusals, check_target, open_exclusive
from bench_agent.devices.lsblk import BlockDevice, disk_vendor
from bench_agent.errors import BenchError
from bench_agent.home import agent_home
from bench_agent.progress import ProgressCallback, ProgressEvent
from bench_agent.sanitize.blockio import SAMPLE_WORKERS, BadSpan, DeviceIO, PassOutcome
from bench_agent.sanitize.certificate import (
    BRIDGE_SERIAL_NOTE,
    CertificateContext,
    build_certificate,
    serialize,
)
from bench_agent.sanitize.pattern import Pattern
from bench_agent.sanitize.readback import bad_ranges_exception, judge_read_back
from bench_agent.sanitize.sampling import full_plan, nist_sample_plan, plan_summary
from bench_agent.sanitize.techniques import METHOD_DESCRIPTIONS
from bench_agent.signing import load_or_create_key, sign_document
from bench_agent.sync.outbox import Outbox

SCHEMA_VERSION = 1  # bench_agent.models.base.SCHEMA_VERSION (tests check they agree)
RECORD_PROFILE = "wipe-only"
CHUNK = 4 << 20


@dataclass
class LiteSettings:
    """The ``AgentSettings`` fields this path needs: ``agent.toml``, then ``BENCH_AGENT_*``."""

    home: Path
    station: str = field(default_factory=lambda: os.uname().nodename)
    location: str = ""
    operator: str = ""
    language: str = "fr"
    allow_removable: bool = False
    post_sanitization_destination: str = "reuse"

    @property
    def key_path(self) -> Path:
        return self.home / "station.key"

    @property
    def outbox_path(self) -> Path:
        return self.home / "outbox.sqlite"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"


def load_lite_settings(home: Path | None = None) -> LiteSettings:
    """The station's settings as ``config.load_settings`` reads them (its entry point's edge:
    ``BENCH_AGENT_*`` over ``<home>/agent.toml``), without pydantic-settings."""
    home = home or agent_home()
    settings = LiteSettings(home=home)
    try:
        values: dict[str, Any] = tomllib.loads((home / "agent.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        values = {}
    for name in ("station", "location", "operator", "language", "post_sanitization_destination"):
        env = os.environ.get("BENCH_AGENT_" + name.upper())
        value = env if env is not None else values.get(name)
        if isinstance(value, str) and value:
            setattr(settings, name, value)
    removable = os.environ.get("BENCH_AGENT_ALLOW_REMOVABLE", values.get("allow_removable"))
    settings.allow_removable = str(removable).strip().lower() in {"1", "true", "yes", "on"}
    return settings


# -- planning: which disks ------------------------------------------------------------------


def find_disks(
    settings: LiteSettings, named: list[str] | None = None
) -> tuple[list[BlockDevice], list[tuple[str, str]]]:
    """(disks the guard allows, [(device, why refused)]).

    Without ``named``, every disk the machine has, by the guard's rules (no floppy, no RAM or
    loop device, nothing read-only or mounted, never the stick or the settings partition the
    bench booted from, removable media only when the station allows it). ``named`` devices
    (tests, the demo) are checked one by one and may be loop devices.
    """
    targets: list[BlockDevice] = []
    refused: list[tuple[str, str]] = []
    if named:
        policy = GuardPolicy(allow_removable=settings.allow_removable, allow_loop=True)
        for device in named:
            try:
                targets.append(check_target(device, policy))
            except BenchError as exc:
                refused.append((device, exc.message))
        return targets, refused
    policy = GuardPolicy(allow_removable=settings.allow_removable, allow_loop=False)
    for dev, refusal in assess_all_refusals(policy):
        path = dev.path or "/dev/" + dev.kernel_name
        if refusal is None:
            targets.append(dev)
        elif dev.type == "disk" and refusal.rule != "not-whole-disk":
            refused.append((path, refusal.message))
    return targets, refused


# -- the wipe -------------------------------------------------------------------------------


@dataclass
class LiteResult:
    device: str
    report: dict[str, Any]  # WipeReport's fields (datetimes as datetime)
    certificate: dict[str, Any] | None = None
    certificate_file: Path | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _spans(spans: list[BadSpan]) -> list[dict[str, Any]]:
    return [asdict(span) for span in spans]


def new_report(dev: BlockDevice, verify: str) -> dict[str, Any]:
    """A ``WipeReport`` as the engine starts one (``DiskWipe.__init__``), as a dict: the
    disk's identity straight from the guard's lsblk view (``Disk``, ``WipePlan`` and
    ``WipeReport.for_plan`` are pydantic models this path cannot import), with the same
    media type and manufacturer rules (``devices.lsblk``)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "device": dev.path or "/dev/" + dev.kernel_name,
        "model": dev.model,
        "vendor": disk_vendor(dev.vendor),
        "serial": dev.serial,
        "size_bytes": dev.size,
        "media_type": dev.media_type,
        "method": "zero",
        "level": "clear",
        "tool": "bench-agent",
        "tool_version": __version__,
        "verification": verify,
        "verification_result": "not_done",
        "verification_detail": "",
        "status": "failed",
        "status_detail": "",
        "bytes_written": 0,
        "bytes_verified": 0,
        "bad_ranges": [],
        "hidden_areas": {
            "checked": False,
            "hpa_present": None,
            "dco_present": None,
            "native_max_sectors": None,
            "visible_sectors": None,
            "erased": False,
            "note": "not checked on the wipe-only path (hdparm is not run without SSE2)",
        },
        "started_at": None,
        "finished_at": None,
        "throughput_mbps": None,
        "certificate_id": "",
        "extra": {
            "method_description": METHOD_DESCRIPTIONS["zero"],
            # This path does not ask the drive behind a USB bridge for its serial: lsblk's is
            # the bridge's, and the certificate says so.
            "plan_notes": ["wipe-only path: this CPU has no SSE2"]
            + ([BRIDGE_SERIAL_NOTE] if dev.tran == "usb" else []),
            "bench_agent_version": __version__,
            "wipe_path": "wipe-only (no SSE2)",
        },
    }


def _overwrite(
    report: dict[str, Any],
    io: DeviceIO,
    *,
    verify: str,
    job: str,
    progress: ProgressCallback,
    cancel: threading.Event,
) -> None:
    """The engine's overwrite (``DiskWipe._overwrite``): zeros, then a full or sampled
    read-back; fills ``report`` in place."""
    extra = report["extra"]
    pattern = Pattern("zero")
    write = io.write_pass(pattern, job=job, progress=progress, cancel=cancel)
    report["bytes_written"] = write.bytes_done
    report["throughput_mbps"] = round(write.mbps, 1)
    extra["write_seconds"] = round(write.seconds, 3)
    extra["pattern"] = pattern.describe()
    if write.aborted:
        _aborted(report)
        return
    if write.fatal:
        report["bad_ranges"] = _spans(write.bad_ranges)
        report["status_detail"] = f"write stopped: {write.fatal}"
        return
    samples = full_plan(io.size) if verify == "full" else nist_sample_plan(io.size, io.sector)
    check: PassOutcome = io.verify_pass(
        pattern,
        samples,
        job=job,
        progress=progress,
        cancel=cancel,
        workers=SAMPLE_WORKERS if verify == "sample" else 1,
    )
    report["bytes_verified"] = check.bytes_done
    extra["verify_seconds"] = round(check.seconds, 3)
    extra["verification_plan"] = plan_summary(samples, sampled=verify == "sample")
    if check.aborted:
        _aborted(report)
        return
    report["bad_ranges"] = _spans(write.bad_ranges + check.bad_ranges)
    detail = (
        samples.describe()
        if verify == "sample"
        else f"full read-back of {samples.bytes_total} bytes"
    )
    report["verification_result"], report["verification_detail"] = judge_read_back(
        write, check, detail
    )
    if report["verification_result"] == "failed":
        report["status_detail"] = "verification failed: " + report["verification_detail"]
        return
    exception = bad_ranges_exception(write.bad_ranges + check.bad_ranges)
    report["status"] = "erased_with_exceptions" if exception else "erased"
    report["status_detail"] = exception


def _aborted(report: dict[str, Any]) -> None:
    report["status"] = "aborted"
    report["status_detail"] = "stopped by the operator before the end"
    report["verification_result"] = "not_done"


def wipe_disk(
    dev: BlockDevice,
    settings: LiteSettings,
    context: CertificateContext,
    *,
    verify: str = "sample",
    named: bool = False,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> LiteResult:
    """Wipe one disk the guard allowed; sign its certificate when it ended erased."""
    report = new_report(dev, verify)
    device = report["device"]
    job = dev.kernel_name
    events = progress or (lambda _event: None)
    report["started_at"] = _now()
    try:
        policy = GuardPolicy(allow_removable=settings.allow_removable, allow_loop=named)
        again = check_target(device, policy)
        if (again.serial and again.serial != dev.serial) or again.size != dev.size:
            raise BenchError("the disk changed since the list was made (serial or size)")
        fd, direct = open_exclusive(device, write=True)
        try:
            geometry = block_geometry(fd)
            if geometry.size_bytes != dev.size:
                raise BenchError("the device size read from the kernel differs from the list")
            io = DeviceIO(fd, geometry.size_bytes, geometry.logical_sector, direct=direct)
            report["extra"]["direct_io"] = direct
            report["extra"]["logical_sector"] = geometry.logical_sector
            try:
                _overwrite(
                    report,
                    io,
                    verify=verify,
                    job=job,
                    progress=events,
                    cancel=cancel or threading.Event(),
                )
            finally:
                io.close()
        finally:
            os.close(fd)
    except BenchError as exc:
        report["status"], report["status_detail"] = "failed", exc.message
    except OSError as exc:
        report["status"], report["status_detail"] = "failed", f"{device}: {exc.strerror or exc}"
    finally:
        report["finished_at"] = _now()
        events(ProgressEvent(job, "done", 1, 1, message=report["status"]))
    result = LiteResult(device, report)
    if report["status"] in ("erased", "erased_with_exceptions"):
        report["certificate_id"] = str(uuid.uuid4())
        document = build_certificate(report, context)
        result.certificate = sign_document(document, load_or_create_key(settings.key_path))
        result.certificate_file = write_certificate_json(result.certificate, settings.reports_dir)
        report["extra"]["certificate_files"] = [str(result.certificate_file)]
    return result


def write_certificate_json(certificate: dict[str, Any], directory: Path) -> Path:
    """``<serial>-<id>.cert.json`` (the bytes ``verify-cert`` checks), fsynced. The PDF is
    rendered from it later by any bench (``render_pdf`` is deterministic from the data)."""
    directory.mkdir(parents=True, exist_ok=True)
    media = certificate.get("media", {})
    serial = str(media.get("serial") or media.get("device") or "disk")
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in serial).strip("_") or "disk"
    path = directory / f"{stem}-{str(certificate['certificate_id'])[:8]}.cert.json"
    with open(path, "wb") as handle:
        handle.write(serialize(certificate))
        handle.flush()
        os.fsync(handle.fileno())
    return path


# -- the record -----------------------------------------------------------------------------


def json_time(value: datetime | None) -> str | None:
    """A datetime as pydantic writes it in JSON (UTC as ``Z``)."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def report_json(report: dict[str, Any]) -> dict[str, Any]:
    out = dict(report)
    out["started_at"] = json_time(report["started_at"])
    out["finished_at"] = json_time(report["finished_at"])
    return out


def cpu_facts(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """The inventory's ``cpu`` fields this path can state without the inventory engine."""
    facts: dict[str, Any] = {}
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return facts
    for line in text.splitlines():
        key, _sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "vendor_id" and "vendor" not in facts:
            facts["vendor"] = value
        elif key == "model name" and "model" not in facts:
            facts["model"] = value
        elif key == "flags" and "flags" not in facts:
            facts["flags"] = value.split()
    if "flags" in facts:
        facts["has_sse2"] = "sse2" in facts["flags"]
        facts["has_pae"] = "pae" in facts["flags"]
        facts["is_64bit"] = "lm" in facts["flags"]
    facts["arch"] = os.uname().machine
    return facts


def build_record(
    results: list[LiteResult],
    settings: LiteSettings,
    context: CertificateContext,
    *,
    cpu: dict[str, Any] | None = None,
    missing: str = "sse2",
) -> dict[str, Any]:
    """The unsigned record, as ``BenchRecord.model_dump(mode="json")`` writes the fields it
    sets (the disk station's record shape: profile, wipes, certificates, target devices)."""
    started = [r.report["started_at"] for r in results if r.report["started_at"]]
    finished = [r.report["finished_at"] for r in results if r.report["finished_at"]]
    return {
        "schema_version": SCHEMA_VERSION,
        "record_id": str(uuid.uuid4()),
        "station": context.station or settings.station,
        "operator": context.operator,
        "asset_tag": context.asset_tag,
        "lot": context.lot,
        "profile": RECORD_PROFILE,
        "started_at": json_time(min(started)) if started else None,
        "finished_at": json_time(max(finished)) if finished else None,
        "inventory": {
            "collected_at": json_time(_now()),
            "source": "live",
            "cpu": cpu if cpu is not None else cpu_facts(),
        },
        "wipes": [report_json(r.report) for r in results],
        "certificates": [r.certificate for r in results if r.certificate],
        "destination": context.destination,
        "target_devices": [r.device for r in results],
        "extra": {
            "source": "wipe-only path",
            "reason": f"this CPU lacks {missing}: the bench app cannot run",
        },
    }


def queue_record(record: dict[str, Any], settings: LiteSettings) -> str:
    """Sign the record with the station key and store it durably in the outbox (delivered by
    ``bench-agent sync`` on any bench that holds this station home, e.g. the same stick booted
    on a machine with SSE2, or fetched by the virtual bench)."""
    document = sign_document(record, load_or_create_key(settings.key_path))
    with Outbox(settings.outbox_path) as outbox:
        outbox.put(str(record["record_id"]), document)
    return str(record["record_id"])


def export_home(home: Path, target: Path) -> None:
    """Copy the station home (key, outbox, certificates) to ``target``: the virtual bench's io
    share, from which the host syncs the outbox (a home in RAM would be lost at power-off)."""
    shutil.copytree(home, target, dirs_exist_ok=True)
    os.sync()


def context_for(
    settings: LiteSettings, *, operator: str = "", asset: str = "", lot: str = ""
) -> CertificateContext:
    return CertificateContext(
        operator=operator or settings.operator,
        station=settings.station,
        location=settings.location,
        asset_tag=asset,
        lot=lot,
        destination=settings.post_sanitization_destination,
    )


class RateWatch:
    """Progress events → one short line every few seconds per disk (a slow console)."""

    def __init__(self, show: Any, every_s: float = 2.0) -> None:
        self.show = show
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        key = event.job + event.phase
        if now - self._last.get(key, 0.0) < self.every_s and event.fraction < 1.0:
            return
        self._last[key] = now
        self.show(event)
