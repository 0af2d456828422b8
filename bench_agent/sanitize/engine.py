"""The wipe engine: one thread per disk, each running its plan to a final status.

Per disk: guard again (the plan may be old), journal, exclusive open, firmware purge or
overwrite, verification, status (``erased`` / ``erased_with_exceptions`` / ``failed`` /
``aborted``), report, and — only for an erased disk — a signed certificate (JSON + PDF).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_agent import __version__
from bench_agent.devices.directio import block_geometry
from bench_agent.devices.guard import check_target, open_exclusive
from bench_agent.errors import BenchError
from bench_agent.models.wipe import BadRange, WipeReport
from bench_agent.progress import ProgressCallback, ProgressEvent
from bench_agent.sanitize import ata, nvme
from bench_agent.sanitize.blockio import (
    DEFAULT_CHUNK,
    DEFAULT_MAX_BAD_BYTES,
    SAMPLE_WORKERS,
    BadSpan,
    DeviceIO,
    PassOutcome,
    Sample,
    compare_snapshots,
)
from bench_agent.sanitize.certificate import (
    CertificateContext,
    issue_certificate,
    write_certificate,
)
from bench_agent.sanitize.commands import tool_version
from bench_agent.sanitize.journal import Journal, JournalEntry
from bench_agent.sanitize.pattern import Pattern
from bench_agent.sanitize.plan import REACHES_HIDDEN, WipePlan, serial_is_the_drives, usb_identity
from bench_agent.sanitize.readback import bad_ranges_exception, judge_read_back
from bench_agent.sanitize.sampling import SamplePlan, full_plan, nist_sample_plan, plan_summary
from bench_agent.sanitize.techniques import METHOD_DESCRIPTIONS
from bench_agent.sanitize.validation import ValidationOptions, validate_after_wipe

if TYPE_CHECKING:
    from bench_agent.config import AgentSettings

FIRMWARE_TIMEOUT_S = 4 * 3600.0


@dataclass
class WipeHooks:
    """Test seams: ``after_write`` runs between the write and the verification."""

    after_write: Callable[[WipePlan], None] | None = None


class _SafeProgress:
    """Serialises callbacks from the per-disk threads."""

    def __init__(self, callback: ProgressCallback) -> None:
        self._callback = callback
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock, contextlib.suppress(Exception):
            self._callback(event)


def _sample_plan(plan: WipePlan, size: int, sector: int) -> SamplePlan:
    if plan.verify == "full":
        return full_plan(size)
    return nist_sample_plan(size, sector)


class DiskWipe:
    """One disk's wipe, from guard to report."""

    def __init__(
        self,
        plan: WipePlan,
        *,
        journal: Journal,
        progress: ProgressCallback,
        cancel: threading.Event,
        hooks: WipeHooks,
        chunk: int,
        max_bad_bytes: int = DEFAULT_MAX_BAD_BYTES,
    ) -> None:
        self.plan = plan
        self.journal = journal
        self.progress = progress
        self.cancel = cancel
        self.hooks = hooks
        self.chunk = chunk
        self.max_bad_bytes = max_bad_bytes
        self.entry: JournalEntry | None = None
        self.pre_purge: list[Sample] = []
        self.report = WipeReport.for_plan(
            plan, status="failed", hidden_areas=plan.hidden_areas.model_copy()
        )
        self.report.extra["method_description"] = METHOD_DESCRIPTIONS.get(plan.method, "")
        self.report.extra["plan_notes"] = list(plan.notes)
        self.report.extra["bench_agent_version"] = __version__

    # -- helpers ---------------------------------------------------------------------------

    def _event(self, phase: str, done: int, total: int, message: str = "") -> None:
        self.progress(ProgressEvent(self.plan.kname, phase, done, total, message=message))

    def _journal(self, **changes: Any) -> None:
        if self.entry is None:
            return
        for key, value in changes.items():
            setattr(self.entry, key, value)
        self.journal.write(self.entry)

    def _fail(self, detail: str) -> WipeReport:
        self.report.status = "failed"
        self.report.status_detail = detail
        return self.report

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> WipeReport:
        self.report.started_at = datetime.now(UTC)
        try:
            return self._run()
        except BenchError as exc:
            return self._fail(exc.message)
        except OSError as exc:
            return self._fail(f"{self.plan.device}: {exc.strerror or exc}")
        except Exception as exc:  # a bug must end as "failed", never as a success
            return self._fail(f"internal error: {exc!r}")
        finally:
            self.report.finished_at = datetime.now(UTC)
            if self.entry is not None:
                self.journal.close(self.entry)
            self._event("done", 1, 1, self.report.status)

    def _run(self) -> WipeReport:
        plan = self.plan
        dev = check_target(plan.device, plan.policy())
        # The same disk as planned (lsblk may not know a serial the drive itself reported;
        # behind a USB bridge lsblk shows the bridge's, and the drive is asked again).
        usb: dict[str, Any] = plan.detection.get("usb") or {}
        listed = str(usb.get("bridge_serial", "")) if usb else plan.serial
        if (dev.serial and dev.serial != listed) or dev.size != plan.size_bytes:
            return self._fail("the disk changed since the plan was made (serial or size)")
        if usb.get("drive_serial"):
            again, _log = usb_identity(plan.device, dev.serial)
            if again["serial"] != usb["drive_serial"]:
                return self._fail(
                    "the disk behind the USB bridge changed since the plan was made (its "
                    f"serial reads {again['serial'] or 'nothing'}, planned {usb['drive_serial']})"
                )
        pattern_kind = (
            plan.method if plan.method in ("zero", "random") else (plan.fallback or "zero")
        )
        seed = bytes.fromhex(plan.seed) if plan.seed else None
        pattern = Pattern("random" if pattern_kind == "random" else "zero", seed)
        for old in self.journal.interrupted():
            # A bridge's serial names the dock: another disk's interrupted wipe stays as it was.
            if serial_is_the_drives(plan) and old.same_disk(
                plan.serial, plan.size_bytes, plan.kname
            ):
                self.report.extra.setdefault("restarted_after", []).append(
                    {
                        "journal": old.id,
                        "started_at": old.started_at.isoformat(),
                        "phase": old.phase,
                        "method": old.method,
                    }
                )
                self.journal.supersede(old, by="new wipe")
        self.entry = self.journal.start(
            device=plan.device,
            kname=plan.kname,
            serial=plan.serial,
            model=plan.model,
            size_bytes=plan.size_bytes,
            method=plan.method,
            verify=plan.verify,
            seed=pattern.seed_hex,
            resumed_from=plan.resume_journal,
        )
        fd, direct = open_exclusive(plan.device, write=True)
        try:
            geometry = block_geometry(fd)
            if geometry.size_bytes != plan.size_bytes:
                return self._fail("the device size read from the kernel differs from the plan")
            io = DeviceIO(
                fd,
                geometry.size_bytes,
                geometry.logical_sector,
                direct=direct,
                chunk=self.chunk,
                max_bad_bytes=self.max_bad_bytes,
            )
            self.report.extra["direct_io"] = direct
            self.report.extra["logical_sector"] = geometry.logical_sector
            try:
                if plan.is_firmware:
                    done = self._firmware(io)
                    if done is not None:
                        return done
                return self._overwrite(io, pattern)
            finally:
                io.close()
        finally:
            os.close(fd)

    # -- firmware --------------------------------------------------------------------------

    def _firmware(self, io: DeviceIO) -> WipeReport | None:
        """Run the firmware purge; return the final report, or None to fall back to overwrite."""
        plan = self.plan
        samples_plan = nist_sample_plan(io.size, io.sector)
        self._journal(phase="pre-read")
        before, pre = io.snapshot(
            samples_plan,
            job=plan.kname,
            phase="pre-read",
            progress=self.progress,
            cancel=self.cancel,
            workers=SAMPLE_WORKERS,
        )
        if pre.aborted:
            return self._finish_aborted()
        self.pre_purge = before
        self._journal(phase="firmware")
        t0 = time.monotonic()

        def on_progress(fraction: float, message: str) -> None:
            self._event("firmware", int(fraction * 1000), 1000, message)

        tool = "nvme" if plan.method.startswith("nvme") else "hdparm"
        self.report.tool = "nvme-cli" if tool == "nvme" else "hdparm"
        self.report.tool_version = tool_version(tool)
        if plan.method in ("nvme-format-crypto", "nvme-format-user-data"):
            lbaf = int(plan.detection.get("nvme", {}).get("current_lbaf", 0))
            outcome = nvme.run_format(plan.kname, plan.method, lbaf, timeout_s=FIRMWARE_TIMEOUT_S)
        elif plan.method.startswith("nvme-sanitize"):
            outcome = nvme.run_sanitize(
                plan.kname, plan.method, timeout_s=FIRMWARE_TIMEOUT_S, on_progress=on_progress
            )
        elif plan.method.startswith("ata-sanitize"):
            outcome = ata.run_sanitize(
                plan.device, plan.method, timeout_s=FIRMWARE_TIMEOUT_S, on_progress=on_progress
            )
        else:
            sec = plan.detection.get("ata", {}).get("security", {})
            enhanced = plan.method == "ata-secure-erase-enhanced"
            minutes = sec.get("enhanced_erase_minutes" if enhanced else "erase_minutes")
            outcome = ata.run_security_erase(
                plan.device,
                enhanced=enhanced,
                estimate_min=minutes,
                on_progress=on_progress,
                record_password=lambda pw: self._journal(ata_password=pw),
            )
        self.report.extra["firmware_seconds"] = round(time.monotonic() - t0, 1)
        self.report.extra["firmware_commands"] = [r.evidence() for r in outcome.log]
        self.report.extra["firmware_completion"] = {
            "method": plan.method,
            "success": outcome.success,
            "detail": outcome.detail,
        }
        if not outcome.success:
            if plan.fallback is None:
                return self._fail(f"firmware purge failed: {outcome.detail}")
            self.report.extra["fallback_from"] = plan.method
            self.report.extra["fallback_reason"] = outcome.detail
            self.report.method = plan.fallback
            self.report.level = "clear"
            self.report.extra["method_description"] = METHOD_DESCRIPTIONS[plan.fallback]
            return None
        io.drop_cache()
        self._journal(phase="verify")
        if plan.verify == "none":
            self.report.verification_result = "not_done"
            return self._conclude(PassOutcome("verify"), None, firmware_detail=outcome.detail)
        after, post = io.snapshot(
            samples_plan,
            job=plan.kname,
            phase="verify",
            progress=self.progress,
            cancel=self.cancel,
            workers=SAMPLE_WORKERS,
        )
        if post.aborted:
            return self._finish_aborted()
        check = compare_snapshots(before, after)
        self.report.extra["verification_plan"] = plan_summary(samples_plan, sampled=True)
        self.report.bytes_verified = post.bytes_done
        self.report.verification = "sample"
        self.report.verification_result = "passed" if check.passed and not post.fatal else "failed"
        self.report.verification_detail = samples_plan.describe() + ". " + check.describe()
        self.report.extra["verification_read"] = {
            "samples": check.samples,
            "unchanged_original": check.unchanged,
            "unchanged_uniform": check.unchanged_uniform,
            "content_after": check.after_fill,
            "sample_seed": samples_plan.seed,
        }
        self.report.bad_ranges = _bad(pre.bad_ranges + post.bad_ranges)
        if plan.method in REACHES_HIDDEN and (
            self.report.hidden_areas.hpa_present or self.report.hidden_areas.dco_present
        ):
            self.report.hidden_areas.erased = True
        return self._conclude(post, None, firmware_detail=outcome.detail)

    # -- overwrite -------------------------------------------------------------------------

    def _overwrite(self, io: DeviceIO, pattern: Pattern) -> WipeReport:
        plan = self.plan
        self.report.tool = "bench-agent"
        self.report.tool_version = __version__
        start = plan.resume_from if plan.resume_journal else 0
        if start:
            self.report.extra["resumed_from_byte"] = start
        self._journal(phase="write", written_upto=start)
        write = io.write_pass(
            pattern,
            job=plan.kname,
            progress=self.progress,
            cancel=self.cancel,
            start=start,
            checkpoint=lambda offset: self._journal(written_upto=offset),
        )
        self.report.bytes_written = write.bytes_done
        self.report.throughput_mbps = round(write.mbps, 1)
        self.report.extra["write_seconds"] = round(write.seconds, 3)
        self.report.extra["pattern"] = pattern.describe()
        if pattern.kind == "random":
            self.report.extra["pattern_seed"] = pattern.seed_hex
        if write.aborted:
            return self._finish_aborted()
        if write.fatal:
            self.report.bad_ranges = _bad(write.bad_ranges)
            return self._fail(f"write stopped: {write.fatal}")
        if self.hooks.after_write is not None:
            self.hooks.after_write(plan)
        if plan.verify == "none":
            self.report.bad_ranges = _bad(write.bad_ranges)
            return self._conclude(PassOutcome("verify"), write)
        self._journal(phase="verify")
        samples = _sample_plan(plan, io.size, io.sector)
        verify = io.verify_pass(
            pattern,
            samples,
            job=plan.kname,
            progress=self.progress,
            cancel=self.cancel,
            workers=SAMPLE_WORKERS if plan.verify == "sample" else 1,
        )
        self.report.bytes_verified = verify.bytes_done
        self.report.extra["verify_seconds"] = round(verify.seconds, 3)
        self.report.extra["verification_plan"] = plan_summary(
            samples, sampled=plan.verify == "sample"
        )
        if verify.aborted:
            return self._finish_aborted()
        self.report.bad_ranges = _bad(write.bad_ranges + verify.bad_ranges)
        detail = (
            samples.describe()
            if plan.verify == "sample"
            else (f"full read-back of {samples.bytes_total} bytes")
        )
        result, detail = judge_read_back(write, verify, detail)
        self.report.verification_result = result
        self.report.verification_detail = detail
        return self._conclude(verify, write)

    # -- status ----------------------------------------------------------------------------

    def _finish_aborted(self) -> WipeReport:
        self.report.status = "aborted"
        self.report.status_detail = "stopped by the operator before the end"
        self.report.verification_result = "not_done"
        return self.report

    def _conclude(
        self, verify: PassOutcome, write: PassOutcome | None, firmware_detail: str = ""
    ) -> WipeReport:
        report = self.report
        exceptions: list[str] = []
        if verify.fatal:
            return self._fail(f"verification stopped: {verify.fatal}")
        if report.verification_result == "failed":
            return self._fail("verification failed: " + report.verification_detail)
        if report.bad_ranges:
            exceptions.append(bad_ranges_exception(report.bad_ranges))
        hidden = report.hidden_areas
        if (hidden.hpa_present or hidden.dco_present) and not hidden.erased:
            exceptions.append("sectors hidden by HPA/DCO were not erased (" + hidden.note + ")")
        if self.plan.verify == "none":
            exceptions.append("not verified (verification was turned off)")
        if "fallback_reason" in report.extra:
            report.extra["fallback_note"] = (
                f"firmware purge {report.extra['fallback_from']} not done: "
                f"{report.extra['fallback_reason']}; overwritten instead"
            )
        if exceptions:
            report.status = "erased_with_exceptions"
            report.status_detail = "; ".join(exceptions)
        else:
            report.status = "erased"
            report.status_detail = firmware_detail or report.extra.get("fallback_note", "")
        return report


def _bad(spans: list[BadSpan]) -> list[BadRange]:
    return [BadRange(**dataclasses.asdict(span)) for span in spans]


def run_wipes(
    plans: list[WipePlan],
    *,
    settings: AgentSettings,
    context: CertificateContext,
    progress: ProgressCallback,
    cancel: threading.Event | None = None,
    report_dir: Path | None = None,
    journal_directory: Path | None = None,
    key_path: Path | None = None,
    hooks: WipeHooks | None = None,
    chunk: int = DEFAULT_CHUNK,
    max_bad_bytes: int = DEFAULT_MAX_BAD_BYTES,
    validation: ValidationOptions | None = None,
    certify_if: Callable[[WipeReport], bool] | None = None,
) -> list[tuple[WipeReport, dict[str, Any] | None]]:
    """Wipe every planned disk at once (one thread each); return each report with its signed
    certificate (None when the disk did not end erased or erased with exceptions).

    With ``validation``, each certified disk is drawn for validation at the published rate and,
    when selected, checked at once (before anything else is written to it); a failed check
    revokes its certificate (returned as None, the report ``failed``). ``certify_if`` is
    asked last, per disk (the disk station: a disk pulled out is never certified).

    ``settings``: the station's (its reports, key and journal, unless given apart)."""
    reports_dir = report_dir or settings.reports_dir
    key = key_path or settings.key_path
    journal = Journal(journal_directory or settings.journal_dir)
    cancel = cancel or threading.Event()
    safe = _SafeProgress(progress)
    wipes = [
        DiskWipe(
            p,
            journal=journal,
            progress=safe,
            cancel=cancel,
            hooks=hooks or WipeHooks(),
            chunk=chunk,
            max_bad_bytes=max_bad_bytes,
        )
        for p in plans
    ]
    results: list[WipeReport | None] = [None] * len(wipes)

    def work(index: int) -> None:
        results[index] = wipes[index].run()

    threads = [
        threading.Thread(target=work, args=(i,), name=f"wipe-{w.plan.kname}", daemon=True)
        for i, w in enumerate(wipes)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            try:
                thread.join(0.2)
            except KeyboardInterrupt:
                # Ctrl-C: stop cleanly so each disk ends "aborted" with a report.
                cancel.set()
    out: list[tuple[WipeReport, dict[str, Any] | None]] = []
    for wipe, maybe_report in zip(wipes, results, strict=True):
        report = maybe_report or wipe.report
        certificate = None
        if (
            report.status in ("erased", "erased_with_exceptions")
            and certify_if is not None
            and not certify_if(report)
        ):
            report.status = "aborted"
            report.status_detail = "the disk was removed before the wipe was finished"
            report.verification_result = "not_done"
        if report.status in ("erased", "erased_with_exceptions"):
            certificate = issue_certificate(report, context, key)
            json_path, pdf_path = write_certificate(certificate, reports_dir)
            report.extra["certificate_files"] = [str(json_path), str(pdf_path)]
        if wipe.pre_purge and certificate is not None:
            # Kept for validation: it re-reads these ranges and compares (never in the record).
            report.extra["pre_purge_samples_file"] = str(
                _write_pre_purge(wipe.pre_purge, wipe.plan, report, reports_dir)
            )
        if certificate is not None and validation is not None:
            certificate = _validate(report, certificate, validation, key, reports_dir, cancel, safe)
        _write_report(report, wipe.plan, reports_dir)
        out.append((report, certificate))
    return out


def _validate(
    report: WipeReport,
    certificate: dict[str, Any],
    options: ValidationOptions,
    key: Path,
    reports_dir: Path,
    cancel: threading.Event,
    progress: ProgressCallback,
) -> dict[str, Any] | None:
    try:
        _draw, result = validate_after_wipe(
            report,
            certificate,
            policy=options.policy,
            validator=options.validator or str(certificate.get("operator", "")),
            station=options.station or str(certificate.get("station", "")),
            key_path=key,
            report_dir=reports_dir,
            forced=options.forced,
            progress=progress,
            cancel=cancel,
        )
    except (BenchError, OSError) as exc:
        # Selected but not checkable: the certificate stands, the record says why.
        report.extra["validation"] = {"result": "not_done", "detail": str(exc)}
        return certificate
    if result is not None and result["certificate_status"] == "failed":
        # Revoked: not handed out, but kept in the report (so in the record) beside the signed
        # result that revokes it, for the ledger to show as failed.
        report.extra["revoked_certificate"] = certificate
        return None
    return certificate


def _write_pre_purge(
    samples: list[Sample], plan: WipePlan, report: WipeReport, directory: Path
) -> Path:
    path = (
        directory / f"{plan.identity.replace('/', '_')}-{report.certificate_id[:8]}.prepurge.json"
    )
    path.write_text(json.dumps([dataclasses.asdict(s) for s in samples]) + "\n", encoding="utf-8")
    return path


def _write_report(report: WipeReport, plan: WipePlan, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = (report.started_at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    path = directory / f"{plan.identity.replace('/', '_')}-{stamp}.wipe.json"
    report.extra["report_file"] = str(path)
    path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path
