"""The overwrite and read-back engine for one open device: large aligned writes, verification
by full read or NIST sampling, and I/O-error handling (retry, narrow down to the sector, skip,
record the bad range, give up past a budget).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from bench_agent.devices.directio import PAGE_SIZE, AlignedBuffer
from bench_agent.progress import ProgressCallback, RateMeter
from bench_agent.sanitize.pattern import Pattern
from bench_agent.sanitize.sampling import SamplePlan

MiB = 1 << 20
DEFAULT_CHUNK = 4 * MiB
CAREFUL_PIECE = 64 * 1024
PARALLEL_PIECE = 1 * MiB  # largest read of one verification worker
SAMPLE_WORKERS = 16  # reads in flight for sampled verification (latency-bound, small reads)
WRITE_DEPTH = 3  # chunks being generated/written at once (queue depth)
# A resume point is flushed and journaled every few seconds: at most that much is rewritten
# after a power cut, and a fast disk is not slowed by a flush every few hundred megabytes.
CHECKPOINT_SECONDS = 5.0
DEFAULT_MAX_BAD_BYTES = 64 * MiB
MAX_MISMATCH_EXAMPLES = 16
_BLKFLSBUF = 0x1261

# Errors meaning "this block is bad" (skip it); anything else means the device is unusable.
MEDIA_ERRORS = frozenset(
    {errno.EIO, errno.EILSEQ, errno.ENODATA, errno.EREMOTEIO, errno.EBADMSG, errno.ENOSPC}
)


@dataclass
class BadSpan:
    """A byte range that could not be written or read back (the fields of
    ``bench_agent.models.wipe.BadRange``, as a plain dataclass: the wipe-only path of CPUs
    without SSE2 runs this module with the standard library and cryptography only)."""

    start_byte: int
    length: int
    phase: str = "write"  # write | verify
    error: str = ""


class DeviceGone(Exception):
    """The device stopped answering (unplugged, reset, driver error): the wipe fails."""


class TooManyErrors(Exception):
    """More bad blocks than the budget allows: the disk is dying, stop hammering it."""


@dataclass
class PassOutcome:
    phase: str
    bytes_done: int = 0
    seconds: float = 0.0
    bad_ranges: list[BadSpan] = field(default_factory=list)
    aborted: bool = False
    fatal: str = ""
    # verification only
    mismatched_bytes: int = 0
    mismatch_examples: list[int] = field(default_factory=list)
    checked_ranges: int = 0

    @property
    def bad_bytes(self) -> int:
        return sum(r.length for r in self.bad_ranges)

    @property
    def mbps(self) -> float:
        return self.bytes_done / self.seconds / 1e6 if self.seconds > 0 else 0.0


def _add_bad(ranges: list[BadSpan], start: int, length: int, phase: str, error: str) -> None:
    if ranges:
        last = ranges[-1]
        if last.phase == phase and last.start_byte + last.length == start:
            last.length += length
            return
    ranges.append(BadSpan(start_byte=start, length=length, phase=phase, error=error))


def _error_text(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, str(exc.errno)) + ": " + (exc.strerror or "")


class DeviceIO:
    """Aligned, chunked I/O on one open device (fd owned by the caller)."""

    def __init__(
        self,
        fd: int,
        size_bytes: int,
        sector: int,
        *,
        direct: bool,
        chunk: int = DEFAULT_CHUNK,
        max_bad_bytes: int = DEFAULT_MAX_BAD_BYTES,
        write_depth: int = WRITE_DEPTH,
    ) -> None:
        self.fd = fd
        self.size = size_bytes
        self.sector = max(512, sector)
        self.direct = direct
        self.chunk = max(self.sector, chunk - chunk % self.sector)
        self.max_bad_bytes = max_bad_bytes
        self.write_depth = max(1, write_depth)
        self.buf = AlignedBuffer(self.chunk + PAGE_SIZE)
        self.expect = AlignedBuffer(self.chunk + PAGE_SIZE)
        self._bad_total = 0
        self._bad_lock = threading.Lock()

    def close(self) -> None:
        self.buf.close()
        self.expect.close()

    # -- low level -------------------------------------------------------------------------

    def _check_error(self, exc: OSError) -> None:
        if exc.errno not in MEDIA_ERRORS:
            raise DeviceGone(_error_text(exc)) from exc

    def _count_bad(self, length: int) -> None:
        with self._bad_lock:
            self._bad_total += length
            over = self._bad_total > self.max_bad_bytes
        if over:
            raise TooManyErrors(f"more than {self.max_bad_bytes} bytes unreadable or unwritable")

    def _pwrite_all(self, view: memoryview, offset: int) -> None:
        done = 0
        while done < len(view):
            written = os.pwrite(self.fd, view[done:], offset + done)
            if written <= 0:
                raise OSError(errno.EIO, "short write")
            done += written

    def _pread_all(self, view: memoryview, offset: int) -> None:
        done = 0
        while done < len(view):
            got = os.preadv(self.fd, [view[done:]], offset + done)
            if got <= 0:
                raise OSError(errno.EIO, "short read (end of device?)")
            done += got

    def _try(self, action: Callable[[], None], retries: int) -> OSError | None:
        last: OSError | None = None
        for _attempt in range(retries + 1):
            try:
                action()
                return None
            except OSError as exc:
                self._check_error(exc)
                last = exc
        return last

    def _careful(
        self,
        offset: int,
        length: int,
        io: Callable[[memoryview, int], None],
        view: memoryview,
        phase: str,
        bad: list[BadSpan],
    ) -> list[tuple[int, int]]:
        """Redo a failed range piece by piece, then sector by sector; return the good pieces
        as (offset, length) and record the sectors that still fail."""
        good: list[tuple[int, int]] = []
        for piece_start in range(0, length, CAREFUL_PIECE):
            piece_len = min(CAREFUL_PIECE, length - piece_start)
            piece = view[piece_start : piece_start + piece_len]
            if self._try(functools.partial(io, piece, offset + piece_start), retries=1) is None:
                good.append((offset + piece_start, piece_len))
                continue
            for sec_start in range(piece_start, piece_start + piece_len, self.sector):
                sec_view = view[sec_start : sec_start + self.sector]
                error = self._try(functools.partial(io, sec_view, offset + sec_start), retries=1)
                if error is None:
                    good.append((offset + sec_start, self.sector))
                else:
                    _add_bad(bad, offset + sec_start, self.sector, phase, _error_text(error))
                    self._count_bad(self.sector)
        return good

    def _flush_written(self, outcome: PassOutcome, since: int, upto: int) -> bool:
        """Make what was written durable; if the device says it is not, ``[since, upto)``
        becomes a bad range of the write (it may not be on the media)."""
        try:
            os.fdatasync(self.fd)
        except OSError as exc:
            _add_bad(outcome.bad_ranges, since, upto - since, "write", "flush " + _error_text(exc))
            return False
        return True

    def drop_cache(self) -> None:
        """Make the next reads come from the media, not from memory."""
        if self.direct:
            return
        try:
            os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
            fcntl.ioctl(self.fd, _BLKFLSBUF)
        except OSError:
            pass

    # -- passes ----------------------------------------------------------------------------

    def write_pass(
        self,
        pattern: Pattern,
        *,
        job: str,
        progress: ProgressCallback,
        cancel: threading.Event,
        start: int = 0,
        checkpoint: Callable[[int], None] | None = None,
    ) -> PassOutcome:
        """Write ``pattern`` over ``[start, size)``; checkpoints are called after a flush.

        ``write_depth`` chunks are in flight at once (each worker generates its chunk, then
        writes it), so generating the pattern overlaps with the device's work; progress and
        checkpoints only ever count the contiguous prefix that has completed.
        """
        outcome = PassOutcome("write")
        meter = RateMeter(job, "write", self.size, progress)
        t0 = time.monotonic()
        offset = last_sync = start
        last_sync_t = t0
        constant = pattern.kind == "zero"
        if constant:
            # A write only reads its buffer: every write in flight shares the one zero buffer
            # (a small working set that stays in the CPU cache).
            pattern.fill(self.buf.view, 0, self.chunk)
            buffers = [self.buf] * self.write_depth
        else:
            buffers = [self.buf] + [
                AlignedBuffer(self.chunk + PAGE_SIZE) for _ in range(self.write_depth - 1)
            ]
            pattern.fill(self.buf.view, 0, self.chunk)  # allocates its scratch before threads

        def write_chunk(
            buf: AlignedBuffer, chunk_offset: int, length: int
        ) -> tuple[list[BadSpan], str]:
            """The chunk's bad ranges, and why the device must be given up ("" if not)."""
            bad: list[BadSpan] = []
            if not constant:
                pattern.fill(buf.view, chunk_offset, length)
            chunk_view = buf.view[:length]
            try:
                try:
                    self._pwrite_all(chunk_view, chunk_offset)
                except OSError as exc:
                    self._check_error(exc)
                    self._careful(chunk_offset, length, self._pwrite_all, chunk_view, "write", bad)
            except (DeviceGone, TooManyErrors) as exc:
                return bad, str(exc)
            return bad, ""

        inflight: deque[tuple[Future[tuple[list[BadSpan], str]], int, int, AlignedBuffer]] = deque()
        free = list(buffers)
        submit_at = start
        try:
            with ThreadPoolExecutor(max_workers=self.write_depth) as pool:
                while True:
                    while (
                        free
                        and submit_at < self.size
                        and not cancel.is_set()
                        and not (outcome.fatal)
                    ):
                        length = min(self.chunk, self.size - submit_at)
                        buf = free.pop()
                        inflight.append(
                            (
                                pool.submit(write_chunk, buf, submit_at, length),
                                submit_at,
                                length,
                                buf,
                            )
                        )
                        submit_at += length
                    if not inflight:
                        break
                    future, chunk_offset, length, buf = inflight.popleft()
                    chunk_bad, fatal = future.result()
                    for bad in chunk_bad:
                        _add_bad(
                            outcome.bad_ranges, bad.start_byte, bad.length, bad.phase, bad.error
                        )
                    outcome.fatal = outcome.fatal or fatal
                    free.append(buf)
                    if outcome.fatal:
                        continue  # drain what is in flight, count nothing more
                    offset = chunk_offset + length
                    outcome.bytes_done = offset - start
                    meter.update(offset)
                    now = time.monotonic()
                    if now - last_sync_t >= CHECKPOINT_SECONDS:
                        # Only completed writes are flushed and recorded as durable.
                        if (
                            self._flush_written(outcome, last_sync, offset)
                            and checkpoint is not None
                        ):
                            checkpoint(offset)
                        last_sync, last_sync_t = offset, now
        finally:
            for buf in buffers:
                if buf is not self.buf:
                    buf.close()
        if cancel.is_set() and offset < self.size and not outcome.fatal:
            outcome.aborted = True
        if (
            not outcome.fatal
            and self._flush_written(outcome, last_sync, offset)
            and checkpoint is not None
            and not outcome.aborted
        ):
            checkpoint(offset)
        outcome.seconds = time.monotonic() - t0
        meter.finish(offset, message="aborted" if outcome.aborted else "")
        return outcome

    def _check_range(
        self,
        pattern: Pattern | None,
        offset: int,
        length: int,
        outcome: PassOutcome,
        buf: AlignedBuffer,
        expect: AlignedBuffer | None,
    ) -> bytes:
        """Read one range (≤ the buffers) and compare it with the pattern; return what was
        read when ``pattern`` is None (firmware snapshots)."""
        view = buf.view[:length]
        readable = [(offset, length)]
        try:
            self._pread_all(view, offset)
        except OSError as exc:
            self._check_error(exc)
            readable = self._careful(
                offset, length, self._pread_all, view, outcome.phase, outcome.bad_ranges
            )
        outcome.bytes_done += length
        if pattern is None:
            return bytes(view)
        whole = readable == [(offset, length)]
        expected: bytes | memoryview
        if pattern.kind == "zero":
            # Nothing to generate for the common zero wipe.
            expected = pattern.zeros(length)
        else:
            if expect is None:
                raise ValueError("a pseudo-random pattern needs a buffer to regenerate it into")
            pattern.fill(expect.view, offset, length)
            expected = expect.view[:length]
        if whole and bytes(view) == bytes(expected):
            return b""
        pieces = readable
        expected_view = memoryview(expected)
        # Locate the differing sectors (rare path).
        for piece_offset, piece_len in pieces:
            rel = piece_offset - offset
            for sec in range(rel, rel + piece_len, self.sector):
                got = view[sec : sec + self.sector]
                want = expected_view[sec : sec + self.sector]
                if bytes(got) != bytes(want):
                    outcome.mismatched_bytes += self.sector
                    if len(outcome.mismatch_examples) < MAX_MISMATCH_EXAMPLES:
                        outcome.mismatch_examples.append(offset + sec)
        return b""

    def _read_pass(
        self,
        plan: SamplePlan,
        pattern: Pattern | None,
        *,
        phase: str,
        job: str,
        progress: ProgressCallback,
        cancel: threading.Event,
        workers: int,
    ) -> tuple[PassOutcome, list[Sample]]:
        """Read the plan's ranges (comparing with ``pattern``, or keeping digests when None).

        Sampled plans are thousands of small reads: several reads are kept in flight (one
        thread each, the GIL is released during the read) so the device's queue is used.
        """
        piece_cap = self.chunk if workers <= 1 else min(self.chunk, PARALLEL_PIECE)
        pieces = [
            (offset + rel, min(piece_cap, length - rel))
            for offset, length in plan.ranges
            for rel in range(0, length, piece_cap)
        ]
        self.drop_cache()
        meter = RateMeter(job, phase, plan.bytes_total, progress)
        lock = threading.Lock()
        stop = threading.Event()
        done = [0]
        t0 = time.monotonic()

        def work(
            share: list[tuple[int, int]], buf: AlignedBuffer, expect: AlignedBuffer | None
        ) -> tuple[PassOutcome, list[Sample]]:
            part = PassOutcome(phase)
            samples: list[Sample] = []
            try:
                for offset, length in share:
                    if cancel.is_set():
                        part.aborted = True
                        break
                    if stop.is_set():  # another worker hit a fatal error
                        break
                    data = self._check_range(pattern, offset, length, part, buf, expect)
                    if pattern is None:
                        samples.append(Sample.of(offset, data))
                    with lock:
                        done[0] += length
                        meter.update(done[0])
            except (DeviceGone, TooManyErrors) as exc:
                part.fatal = str(exc)
                stop.set()
            return part, samples

        if workers <= 1 or len(pieces) < 4 * workers:
            results = [work(pieces, self.buf, self.expect if pattern is not None else None)]
        else:
            # Zeros are compared without generating them: no second buffer needed.
            needs_expect = pattern is not None and pattern.kind != "zero"
            buffers = [
                (
                    AlignedBuffer(piece_cap + PAGE_SIZE),
                    AlignedBuffer(piece_cap + PAGE_SIZE) if needs_expect else None,
                )
                for _ in range(workers)
            ]
            results = []
            try:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    futures = [
                        pool.submit(work, pieces[k::workers], *buffers[k]) for k in range(workers)
                    ]
                    results = [f.result() for f in futures]
            finally:
                for buf, expect in buffers:
                    buf.close()
                    if expect is not None:
                        expect.close()
        outcome = PassOutcome(phase)
        samples: list[Sample] = []
        for part, part_samples in results:
            outcome.bytes_done += part.bytes_done
            outcome.aborted = outcome.aborted or part.aborted
            outcome.fatal = outcome.fatal or part.fatal
            outcome.mismatched_bytes += part.mismatched_bytes
            outcome.mismatch_examples.extend(part.mismatch_examples)
            outcome.bad_ranges.extend(part.bad_ranges)
            samples.extend(part_samples)
        outcome.mismatch_examples = sorted(outcome.mismatch_examples)[:MAX_MISMATCH_EXAMPLES]
        merged: list[BadSpan] = []
        for bad in sorted(outcome.bad_ranges, key=lambda r: r.start_byte):
            _add_bad(merged, bad.start_byte, bad.length, bad.phase, bad.error)
        outcome.bad_ranges = merged
        outcome.checked_ranges = len(plan.ranges)
        outcome.seconds = time.monotonic() - t0
        meter.finish(outcome.bytes_done)
        return outcome, sorted(samples, key=lambda s: s.offset)

    def verify_pass(
        self,
        pattern: Pattern,
        plan: SamplePlan,
        *,
        job: str,
        progress: ProgressCallback,
        cancel: threading.Event,
        workers: int = 1,
    ) -> PassOutcome:
        """Read back the plan's ranges and compare with the pattern."""
        outcome, _samples = self._read_pass(
            plan,
            pattern,
            phase="verify",
            job=job,
            progress=progress,
            cancel=cancel,
            workers=workers,
        )
        return outcome

    def snapshot(
        self,
        plan: SamplePlan,
        *,
        job: str,
        phase: str,
        progress: ProgressCallback,
        cancel: threading.Event,
        workers: int = 1,
    ) -> tuple[list[Sample], PassOutcome]:
        """Digest of each sampled range (for firmware purges: compare before and after)."""
        outcome, samples = self._read_pass(
            plan, None, phase=phase, job=job, progress=progress, cancel=cancel, workers=workers
        )
        return samples, outcome


@dataclass(frozen=True)
class Sample:
    offset: int
    length: int
    sha256: str
    fill_byte: int | None  # the single byte value filling the sample, None when mixed

    @classmethod
    def of(cls, offset: int, data: bytes) -> Sample:
        first = data[:1]
        uniform = bool(first) and data.count(first) == len(data)
        return cls(
            offset, len(data), hashlib.sha256(data).hexdigest(), data[0] if uniform else None
        )


@dataclass
class PurgeCheck:
    """How the media looked after a firmware purge, compared with before."""

    samples: int = 0
    unchanged: int = 0  # non-uniform samples identical to before: original data survived
    unchanged_uniform: int = 0  # uniform before and after (e.g. zeros): proves nothing
    after_fill: dict[str, int] = field(default_factory=dict)  # "0x00"/"0xff"/"mixed" -> count

    @property
    def passed(self) -> bool:
        return self.samples > 0 and self.unchanged == 0

    def describe(self) -> str:
        fills = ", ".join(f"{k}: {v}" for k, v in sorted(self.after_fill.items()))
        return (
            f"{self.samples} sampled ranges read before and after; {self.unchanged} still "
            f"hold their original content, {self.unchanged_uniform} were uniform before "
            f"and after; content after: {fills}"
        )


def compare_snapshots(before: list[Sample], after: list[Sample]) -> PurgeCheck:
    check = PurgeCheck()
    old = {(s.offset, s.length): s for s in before}
    for sample in after:
        check.samples += 1
        label = "mixed" if sample.fill_byte is None else f"0x{sample.fill_byte:02x}"
        check.after_fill[label] = check.after_fill.get(label, 0) + 1
        prior = old.get((sample.offset, sample.length))
        if prior is not None and prior.sha256 == sample.sha256:
            if prior.fill_byte is None:
                check.unchanged += 1
            else:
                check.unchanged_uniform += 1
    return check
