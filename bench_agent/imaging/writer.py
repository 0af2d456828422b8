"""The verified block-map writer: stream a zstd master onto a disk, read it back, fit it.

A reader thread decompresses the image into page-aligned buffers; two hasher threads compute
each mapped range's SHA-256 while the writer issues large ``O_DIRECT`` writes of the same
buffers, in disk order: decompression, hashing and the disk overlap, so imaging runs at the
slowest of them (that pipeline is ``imaging.pipeline``). Only mapped ranges are written. Then
every written range is read back with the page cache bypassed and hashed again; the report
says ``success`` only if every range matched both times (and the table and the filesystem
checks passed after growing).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_agent.devices.directio import AlignedBuffer, align_up, block_geometry
from bench_agent.devices.guard import GuardPolicy, check_target, open_exclusive
from bench_agent.devices.lsblk import BlockDevice
from bench_agent.errors import BenchError, DeviceRefused
from bench_agent.i18n import _
from bench_agent.imaging.journal import ImageJournal, journal_key
from bench_agent.imaging.pipeline import (
    BUFFERS,
    DONE,
    HASHERS,
    VERIFY_CHUNK,
    Aborted,
    Failure,
    pread_into,
    range_label,
    write_phase,
)
from bench_agent.imaging.source import resolve_source
from bench_agent.models.image import ImageEntry, ImageReport, MappedRange
from bench_agent.progress import ProgressCallback, ProgressEvent, RateMeter, ignore_progress

if TYPE_CHECKING:
    from bench_agent.config import AgentSettings
    from bench_agent.imaging.personalise import Personalisation


# Test hook: called with the device path after the write and before the read-back, so a test
# can change a byte on the disk and see the verification catch it. None in production.
AFTER_WRITE_HOOK: Callable[[str], None] | None = None


def _check_device(device: str, policy: GuardPolicy | None) -> BlockDevice:
    """The one call into the shared device guard (whole disk, not the system, not mounted...)."""
    return check_target(device, policy or GuardPolicy())


def _verify_phase(
    fd: int,
    ranges: list[tuple[int, MappedRange]],
    sector: int,
    direct: bool,
    meter: RateMeter,
    cancel: threading.Event,
) -> int:
    """Read every written range back (page cache bypassed) and compare its SHA-256.

    One thread reads the disk in order (no seeking back and forth on a hard disk); the hashers
    take whole ranges, alternately; this thread reports progress and watches for cancel.
    """
    if not direct:
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    free: queue.Queue[AlignedBuffer] = queue.Queue()
    buffers = [AlignedBuffer(VERIFY_CHUNK) for _n in range(BUFFERS)]
    for buf in buffers:
        free.put(buf)
    work: list[queue.Queue[object]] = [queue.Queue() for _n in range(HASHERS)]
    stop = threading.Event()
    lock = threading.Lock()
    failures: list[tuple[int, Failure]] = []
    progress = {"done": 0, "verified": 0}

    def fail(index: int, failure: Failure) -> None:
        with lock:
            failures.append((index, failure))
        stop.set()

    def reader() -> None:
        try:
            for index, rng in ranges:
                pos = rng.start
                while pos < rng.end:
                    buf: AlignedBuffer | None = None
                    while buf is None:
                        if stop.is_set():
                            return
                        with contextlib.suppress(queue.Empty):
                            buf = free.get(timeout=0.2)
                    want = min(VERIFY_CHUNK, rng.end - pos)
                    got = pread_into(fd, buf.view[: align_up(want, sector)], pos)
                    if got < want:
                        label = range_label(index, rng)
                        fail(
                            index,
                            Failure(
                                _("The disk ended while reading back range {range}.", range=label),
                                label,
                            ),
                        )
                        return
                    work[index % HASHERS].put((index, want, pos + want >= rng.end, buf))
                    pos += want
        except OSError as exc:
            fail(-1, Failure(_("Read error while verifying: {error}", error=exc.strerror or exc)))
        finally:
            for hash_queue in work:
                hash_queue.put(DONE)

    def hasher(slot: int) -> None:
        by_index = dict(ranges)
        current, sha = -1, hashlib.sha256()
        while True:
            item = work[slot].get()
            if item is DONE:
                return
            assert isinstance(item, tuple)
            index, length, last, buf = item
            if index != current:
                current, sha = index, hashlib.sha256()
            if not stop.is_set():
                sha.update(buf.view[:length])
            free.put(buf)
            with lock:
                progress["done"] += length
            if last and not stop.is_set():
                rng = by_index[index]
                if sha.hexdigest() != rng.sha256:
                    label = range_label(index, rng)
                    fail(
                        index,
                        Failure(
                            _(
                                "Read-back of range {range} does not match: the disk did not keep "
                                "what was written.",
                                range=label,
                            ),
                            label,
                        ),
                    )
                else:
                    with lock:
                        progress["verified"] += 1

    threads = [threading.Thread(target=reader, name="image-verify-reader", daemon=True)]
    threads += [
        threading.Thread(target=hasher, args=(n,), name=f"image-verify-hasher-{n}", daemon=True)
        for n in range(HASHERS)
    ]
    for thread in threads:
        thread.start()
    aborted = False
    try:
        while True:
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                break
            alive[0].join(timeout=0.1)
            meter.update(progress["done"])
            if cancel.is_set() and not aborted:
                aborted = True
                stop.set()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for buf in buffers:
            buf.close()
    if failures:
        raise min(failures, key=lambda item: item[0])[1]
    if aborted:
        raise Aborted
    return progress["verified"]


def write_image(
    entry: ImageEntry,
    device: str,
    *,
    settings: AgentSettings,
    grow: bool = True,
    progress: ProgressCallback = ignore_progress,
    cancel: threading.Event | None = None,
    policy: GuardPolicy | None = None,
    journal_dir: Path | None = None,
    personalisation: Personalisation | None = None,
    stream: bool | None = None,
) -> ImageReport:
    """Write ``entry`` to ``device``, verify it, and fit it to the disk.

    Raises ``DeviceRefused`` (device untouched) when the guard refuses the device, when it is
    smaller than the image's last used byte, or when its sector size cannot hold the image's
    partition table. Everything that goes wrong after the first byte is written is a
    ``failed`` report (``aborted`` when cancelled), never an exception. ``settings``: the
    station's (its image cache, ledger and journal, unless ``journal_dir`` is given).
    """
    from bench_agent.imaging.grow import fit_to_disk

    cancel = cancel or threading.Event()
    started = datetime.now(UTC)
    dev = _check_device(device, policy)
    path = dev.path or device
    job = dev.kernel_name or Path(device).name
    source = resolve_source(
        entry, settings.image_cache_dir, ledger_url=settings.ledger_url, stream=stream
    )
    fd, direct = open_exclusive(path, write=True, direct=True)
    report = ImageReport(
        device=path,
        image=entry.name,
        version=entry.version,
        architecture=entry.architecture,
        image_sha256=entry.image_sha256,
        status="failed",
        started_at=started,
        device_serial=dev.serial or "",
        source=str(source),
    )
    journal: ImageJournal | None = None
    try:
        geometry = block_geometry(fd)
        report.device_bytes = geometry.size_bytes
        if geometry.size_bytes < entry.last_used_byte:
            raise DeviceRefused(
                path,
                "too-small",
                _(
                    "{device} is too small for {image}: {size} bytes, the image needs {needed}.",
                    device=path,
                    image=entry.name,
                    size=geometry.size_bytes,
                    needed=entry.last_used_byte,
                ),
                _("Use a larger disk or a smaller image (see 'bench-agent images')."),
            )
        sector = geometry.logical_sector
        if entry.partition_table != "none" and sector != entry.logical_sector_size:
            raise DeviceRefused(
                path,
                "sector-size",
                _(
                    "{device} has {sector}-byte sectors; the partition table of {image} was made "
                    "for {expected}-byte sectors and would not be valid on it.",
                    device=path,
                    sector=sector,
                    image=entry.name,
                    expected=entry.logical_sector_size,
                ),
                _("Build a master for {sector}-byte sectors, or use another disk.", sector=sector),
            )
        # Ranges past the disk's end can only be the backup GPT (rebuilt at the disk's end).
        ranges = [(i, r) for i, r in enumerate(entry.ranges) if r.start < geometry.size_bytes]
        report.ranges_total = len(ranges)
        journal = ImageJournal(
            journal_dir or settings.journal_dir, journal_key(job, dev.serial or "")
        )
        previous = journal.load()
        if previous is not None:
            report.redone_after_interrupt = True
            progress(
                ProgressEvent(
                    job,
                    "write",
                    0,
                    0,
                    message=_(
                        "An interrupted imaging of {device} ({image}, started {when}, phase {phase}) "
                        "was found; writing it again from the start.",
                        device=previous.get("device", path),
                        image=previous.get("image", "?"),
                        when=previous.get("started_at", "?"),
                        phase=previous.get("phase", "?"),
                    ),
                )
            )
        state: dict[str, Any] = {
            "device": path,
            "kname": job,
            "serial": dev.serial or "",
            "image": entry.name,
            "image_sha256": entry.image_sha256,
            "started_at": started.isoformat(),
            "pid": os.getpid(),
            "phase": "write",
        }
        journal.save(state)
        total = sum(r.length for _i, r in ranges)
        meter = RateMeter(job, "write", total, progress)
        t0 = time.monotonic()
        report.bytes_written = write_phase(fd, entry, source, ranges, sector, meter, cancel)
        report.write_s = round(time.monotonic() - t0, 3)
        meter.finish(report.bytes_written)
        if report.write_s > 0:
            report.throughput_mbps = round(report.bytes_written / report.write_s / 1e6, 1)
        if AFTER_WRITE_HOOK is not None:
            AFTER_WRITE_HOOK(path)
        journal.save({**state, "phase": "verify"})
        t0 = time.monotonic()
        meter = RateMeter(job, "verify", total, progress)
        report.ranges_verified = _verify_phase(fd, ranges, sector, direct, meter, cancel)
        report.verify_s = round(time.monotonic() - t0, 3)
        meter.finish(total)
        report.readback_verified = report.ranges_verified == len(ranges)
        if not report.readback_verified:
            raise Failure(_("Not every range could be read back."))
        os.close(fd)
        fd = -1
        journal.save({**state, "phase": "grow"})
        t0 = time.monotonic()
        fit = fit_to_disk(path, entry, grow=grow, progress=progress, job=job)
        report.grow_s = round(time.monotonic() - t0, 3)
        report.checks = fit.checks
        report.grown = fit.grown
        report.final_partition_bytes = fit.final_partition_bytes
        if not fit.ok:
            raise Failure(fit.problem)
        if personalisation is not None:
            journal.save({**state, "phase": "personalise"})
            from bench_agent.imaging.personalise import personalise_into_report

            personalise_into_report(report, path, personalisation)
        report.status = "success"
        report.status_detail = _(
            "Written and verified: {ranges} ranges, {size} bytes.",
            ranges=report.ranges_verified,
            size=report.bytes_written,
        )
        journal.clear()
    except Failure as exc:
        report.status = "failed"
        report.status_detail = exc.message
        report.failed_range = exc.range_label
        if exc.image_bad:
            # The image file itself is bad: its cache stamp must not vouch for it any more.
            from bench_agent.imaging.fetch import forget_verified

            if isinstance(source, Path):
                forget_verified(source)
    except Aborted:
        report.status = "aborted"
        report.status_detail = _("Imaging was cancelled; the disk holds an incomplete image.")
    except DeviceRefused:
        raise
    except BenchError as exc:
        report.status = "failed"
        report.status_detail = exc.message
    except OSError as exc:  # fsync of the disk, the journal's own disk...
        report.status = "failed"
        report.status_detail = _(
            "I/O error while imaging {device}: {error}", device=path, error=exc.strerror or exc
        )
    finally:
        # A finished job (whatever its status) leaves no journal: the report tells the rest.
        # Only a crash or a kill leaves it, and the next start redoes the write.
        if journal is not None and report.status != "success":
            journal.clear()
        if fd >= 0:
            os.close(fd)
        report.finished_at = datetime.now(UTC)
    return report
