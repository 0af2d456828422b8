"""The verified block-map writer: stream a zstd master onto a disk, read it back, fit it.

A reader thread decompresses the image into page-aligned buffers; two hasher threads compute
each mapped range's SHA-256 while the writer issues large ``O_DIRECT`` writes of the same
buffers, in disk order: decompression, hashing and the disk overlap, so imaging runs at the
slowest of them. Only mapped ranges are written. Then every written range is read back with the page cache bypassed and hashed again;
the report says ``success`` only if every range matched both times (and the table and the
filesystem checks passed after growing).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zstandard

from bench_agent.devices.directio import AlignedBuffer, align_up, block_geometry
from bench_agent.devices.guard import GuardPolicy, check_target, open_exclusive
from bench_agent.devices.lsblk import BlockDevice
from bench_agent.errors import BenchError, DeviceRefused
from bench_agent.i18n import _
from bench_agent.imaging.journal import ImageJournal, default_journal_dir, journal_key
from bench_agent.imaging.source import open_source, resolve_source
from bench_agent.models.image import ImageEntry, ImageReport, MappedRange
from bench_agent.progress import ProgressCallback, ProgressEvent, RateMeter, ignore_progress

if TYPE_CHECKING:
    from bench_agent.imaging.personalise import Personalisation


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 1 << 30


# Bytes per write (large enough for full disk speed) and buffers in flight between the
# decompressor, the hashers and the writer; smaller on the 256-512 MB machines of the bench.
_SMALL_MACHINE = _physical_memory() < (1 << 30)
CHUNK = (4 if _SMALL_MACHINE else 8) << 20
BUFFERS = 4 if _SMALL_MACHINE else 6
VERIFY_CHUNK = CHUNK
# SHA-256 is the costliest step; ranges are hashed on this many threads (a range's chunks all
# go to the same one, ranges alternate), while the disk is still read and written in order.
HASHERS = max(1, min(2, os.cpu_count() or 1))

# Test hook: called with the device path after the write and before the read-back, so a test
# can change a byte on the disk and see the verification catch it. None in production.
AFTER_WRITE_HOOK: Callable[[str], None] | None = None


class _Failure(Exception):
    """The job failed (data did not match, an I/O error...); becomes a ``failed`` report."""

    def __init__(self, message: str, range_label: str = "", *, image_bad: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.range_label = range_label
        self.image_bad = image_bad  # the image file is at fault, not the disk


class _Aborted(Exception):
    pass


def range_label(index: int, rng: MappedRange) -> str:
    return f"{index} (bytes {rng.start}-{rng.end})"


def _check_device(device: str, policy: GuardPolicy | None) -> BlockDevice:
    """The one call into the shared device guard (whole disk, not the system, not mounted...)."""
    return check_target(device, policy or GuardPolicy())


@dataclass
class _Chunk:
    offset: int  # device offset
    length: int  # payload bytes
    buffer: AlignedBuffer
    range_index: int
    last: bool  # the range's last chunk: its digest can be checked
    pending: int = 2  # the writer and the hasher both use it before it is recycled


_DONE = object()


class _Pipeline:
    """Decompress (reader thread) → hash (hasher threads) ‖ aligned direct writes (caller).

    The hasher and the writer work on the same buffer at the same time; a buffer goes back to
    the pool when both are done with it. On two cores, decompression, hashing and the disk all
    overlap.
    """

    def __init__(
        self,
        entry: ImageEntry,
        source: Path | str,
        ranges: list[tuple[int, MappedRange]],
        stop: threading.Event,
    ) -> None:
        self.entry = entry
        self.source = source
        self.ranges = ranges
        self.stop = stop
        self.free: queue.Queue[AlignedBuffer] = queue.Queue()
        self.to_write: queue.Queue[object] = queue.Queue()
        self.to_hash: list[queue.Queue[object]] = [queue.Queue() for _n in range(HASHERS)]
        self.buffers = [AlignedBuffer(CHUNK) for _n in range(BUFFERS)]
        for buf in self.buffers:
            self.free.put(buf)
        self.error: _Failure | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        for buf in self.buffers:
            buf.close()

    def fail(self, failure: _Failure) -> None:
        with self._lock:
            if self.error is None:
                self.error = failure
        self.stop.set()

    def release(self, chunk: _Chunk) -> None:
        with self._lock:
            chunk.pending -= 1
            done = chunk.pending == 0
        if done:
            self.free.put(chunk.buffer)

    def _get_buffer(self) -> AlignedBuffer:
        while True:
            if self.stop.is_set():
                raise _Aborted
            try:
                return self.free.get(timeout=0.2)
            except queue.Empty:
                continue

    def hash_all(self, slot: int) -> None:
        """Hasher thread body: per-range SHA-256 of what is being written."""
        by_index = dict(self.ranges)
        current = -1
        sha = hashlib.sha256()
        while True:
            item = self.to_hash[slot].get()
            if item is _DONE:
                return
            assert isinstance(item, _Chunk)
            if item.range_index != current:
                current, sha = item.range_index, hashlib.sha256()
            if not self.stop.is_set():
                sha.update(item.buffer.view[: item.length])
            self.release(item)
            if item.last and not self.stop.is_set():
                rng = by_index[current]
                if sha.hexdigest() != rng.sha256:
                    label = range_label(current, rng)
                    self.fail(
                        _Failure(
                            _(
                                "Range {range} of the image does not match its SHA-256: the "
                                "image file is corrupt.",
                                range=label,
                            ),
                            label,
                            image_bad=True,
                        )
                    )

    def read_all(self) -> None:
        """Reader thread body: never raises; errors go to ``self.error``."""
        where = _("before the first range")
        try:
            with open_source(self.source, self.entry) as raw:
                dctx = zstandard.ZstdDecompressor()
                reader = dctx.stream_reader(
                    raw,
                    read_size=1 << 20,
                    read_across_frames=True,
                )
                scratch = bytearray(CHUNK)
                pos = 0

                def skip_to(target: int) -> int:
                    position = pos
                    while position < target:
                        want = min(len(scratch), target - position)
                        got = reader.readinto(memoryview(scratch)[:want])
                        if got == 0:
                            raise _Failure(
                                _("The compressed image ends early ({where}).", where=where)
                            )
                        position += got
                    return position

                for index, rng in self.ranges:
                    label = range_label(index, rng)
                    where = _("before range {range}", range=label)
                    pos = skip_to(rng.start)
                    where = _("in range {range}", range=label)
                    while pos < rng.end:
                        buf = self._get_buffer()
                        want = min(CHUNK, rng.end - pos)
                        view = buf.view[:want]
                        filled = 0
                        while filled < want:
                            got = reader.readinto(view[filled:])
                            if got == 0:
                                raise _Failure(
                                    _("The compressed image ends early ({where}).", where=where),
                                    label,
                                )
                            filled += got
                        del view
                        chunk = _Chunk(pos, want, buf, index, pos + want >= rng.end)
                        self.to_hash[index % HASHERS].put(chunk)
                        self.to_write.put(chunk)
                        pos += want
                where = _("after the last range")
                pos = skip_to(self.entry.image_size)
                # Reading to the end makes zstd check the frame's own checksum, which covers
                # the unmapped parts too. (The compressed file's SHA-256 is not re-hashed here:
                # the range digests cover every byte written, and downloads are checked by
                # ensure_local before use.)
                if reader.readinto(scratch):
                    raise _Failure(_("The compressed image is longer than the catalogue says."))
        except _Failure as exc:
            exc.image_bad = True
            self.fail(exc)
        except _Aborted:
            pass
        except zstandard.ZstdError as exc:
            label = where
            self.fail(
                _Failure(
                    _("The compressed image is corrupt ({where}): {error}", where=where, error=exc),
                    label,
                    image_bad=True,
                )
            )
        except OSError as exc:
            self.fail(
                _Failure(
                    _(
                        "Cannot read the image {path}: {error}",
                        path=self.source,
                        error=exc.strerror or exc,
                    ),
                    image_bad=True,
                )
            )
        finally:
            for hash_queue in self.to_hash:
                hash_queue.put(_DONE)
            self.to_write.put(_DONE)


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            break
        done += got
    return done


def _write_phase(
    fd: int,
    entry: ImageEntry,
    source: Path | str,
    ranges: list[tuple[int, MappedRange]],
    sector: int,
    meter: RateMeter,
    cancel: threading.Event,
) -> int:
    stop = threading.Event()
    pipe = _Pipeline(entry, source, ranges, stop)
    reader = threading.Thread(target=pipe.read_all, name="image-reader", daemon=True)
    hashers = [
        threading.Thread(target=pipe.hash_all, args=(n,), name=f"image-hasher-{n}", daemon=True)
        for n in range(HASHERS)
    ]
    reader.start()
    for hasher in hashers:
        hasher.start()
    written = 0
    try:
        while True:
            item = pipe.to_write.get()
            if item is _DONE or stop.is_set():
                break
            assert isinstance(item, _Chunk)
            if cancel.is_set():
                stop.set()
                raise _Aborted
            length = align_up(item.length, sector)
            if length != item.length:
                # The image's last sector is partial: pad with zeros (beyond the image end).
                item.buffer.view[item.length : length] = bytes(length - item.length)
            try:
                _pwrite_all(fd, item.buffer.view[:length], item.offset)
            except OSError as exc:
                pipe.fail(
                    _Failure(
                        _(
                            "Write error at byte {offset}: {error}",
                            offset=item.offset,
                            error=exc.strerror or exc,
                        ),
                        _label_for(ranges, item.offset),
                    )
                )
                break
            written += item.length
            pipe.release(item)
            meter.update(written)
        for hasher in hashers:
            hasher.join()
        if pipe.error is not None:
            raise pipe.error
        os.fsync(fd)
        return written
    finally:
        stop.set()
        # Unblock a reader waiting for a buffer, then let both threads finish.
        while reader.is_alive() or any(h.is_alive() for h in hashers):
            with contextlib.suppress(queue.Empty):
                pipe.to_write.get(timeout=0.05)
        reader.join()
        for hasher in hashers:
            hasher.join()
        pipe.close()


def _label_for(ranges: list[tuple[int, MappedRange]], offset: int) -> str:
    for index, rng in ranges:
        if rng.start <= offset < rng.end:
            return range_label(index, rng)
    return ""


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
    failures: list[tuple[int, _Failure]] = []
    progress = {"done": 0, "verified": 0}

    def fail(index: int, failure: _Failure) -> None:
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
                    got = _pread_into(fd, buf.view[: align_up(want, sector)], pos)
                    if got < want:
                        label = range_label(index, rng)
                        fail(
                            index,
                            _Failure(
                                _("The disk ended while reading back range {range}.", range=label),
                                label,
                            ),
                        )
                        return
                    work[index % HASHERS].put((index, want, pos + want >= rng.end, buf))
                    pos += want
        except OSError as exc:
            fail(-1, _Failure(_("Read error while verifying: {error}", error=exc.strerror or exc)))
        finally:
            for hash_queue in work:
                hash_queue.put(_DONE)

    def hasher(slot: int) -> None:
        by_index = dict(ranges)
        current, sha = -1, hashlib.sha256()
        while True:
            item = work[slot].get()
            if item is _DONE:
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
                        _Failure(
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
        raise _Aborted
    return progress["verified"]


def write_image(
    entry: ImageEntry,
    device: str,
    *,
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
    ``failed`` report (``aborted`` when cancelled), never an exception.
    """
    from bench_agent.imaging.grow import fit_to_disk

    cancel = cancel or threading.Event()
    started = datetime.now(UTC)
    dev = _check_device(device, policy)
    path = dev.path or device
    job = dev.kernel_name or Path(device).name
    source = resolve_source(entry, stream=stream)
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
            journal_dir or default_journal_dir(), journal_key(job, dev.serial or "")
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
        report.bytes_written = _write_phase(fd, entry, source, ranges, sector, meter, cancel)
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
            raise _Failure(_("Not every range could be read back."))
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
            raise _Failure(fit.problem)
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
    except _Failure as exc:
        report.status = "failed"
        report.status_detail = exc.message
        report.failed_range = exc.range_label
        if exc.image_bad:
            # The image file itself is bad: its cache stamp must not vouch for it any more.
            from bench_agent.imaging.fetch import forget_verified

            if isinstance(source, Path):
                forget_verified(source)
    except _Aborted:
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
