"""The write side of the imaging pipeline: decompress the master, hash each mapped range and
write it with aligned direct I/O, all three overlapping (see ``writer`` for the whole job).

Also the pieces the read-back shares: buffer sizes, the failure types and range labels.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import zstandard

from bench_agent.devices.directio import AlignedBuffer, align_up
from bench_agent.i18n import _
from bench_agent.imaging.source import open_source
from bench_agent.models.image import ImageEntry, MappedRange
from bench_agent.progress import RateMeter


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


class Failure(Exception):
    """The job failed (data did not match, an I/O error...); becomes a ``failed`` report."""

    def __init__(self, message: str, range_label: str = "", *, image_bad: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.range_label = range_label
        self.image_bad = image_bad  # the image file is at fault, not the disk


class Aborted(Exception):
    pass


def range_label(index: int, rng: MappedRange) -> str:
    return f"{index} (bytes {rng.start}-{rng.end})"


@dataclass
class Chunk:
    offset: int  # device offset
    length: int  # payload bytes
    buffer: AlignedBuffer
    range_index: int
    last: bool  # the range's last chunk: its digest can be checked
    pending: int = 2  # the writer and the hasher both use it before it is recycled


DONE = object()


class Pipeline:
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
        self.error: Failure | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        for buf in self.buffers:
            buf.close()

    def fail(self, failure: Failure) -> None:
        with self._lock:
            if self.error is None:
                self.error = failure
        self.stop.set()

    def release(self, chunk: Chunk) -> None:
        with self._lock:
            chunk.pending -= 1
            done = chunk.pending == 0
        if done:
            self.free.put(chunk.buffer)

    def _get_buffer(self) -> AlignedBuffer:
        while True:
            if self.stop.is_set():
                raise Aborted
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
            if item is DONE:
                return
            assert isinstance(item, Chunk)
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
                        Failure(
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
                            raise Failure(
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
                                raise Failure(
                                    _("The compressed image ends early ({where}).", where=where),
                                    label,
                                )
                            filled += got
                        del view
                        chunk = Chunk(pos, want, buf, index, pos + want >= rng.end)
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
                    raise Failure(_("The compressed image is longer than the catalogue says."))
        except Failure as exc:
            exc.image_bad = True
            self.fail(exc)
        except Aborted:
            pass
        except zstandard.ZstdError as exc:
            label = where
            self.fail(
                Failure(
                    _("The compressed image is corrupt ({where}): {error}", where=where, error=exc),
                    label,
                    image_bad=True,
                )
            )
        except OSError as exc:
            self.fail(
                Failure(
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
                hash_queue.put(DONE)
            self.to_write.put(DONE)


def pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def pread_into(fd: int, view: memoryview, offset: int) -> int:
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            break
        done += got
    return done


def write_phase(
    fd: int,
    entry: ImageEntry,
    source: Path | str,
    ranges: list[tuple[int, MappedRange]],
    sector: int,
    meter: RateMeter,
    cancel: threading.Event,
) -> int:
    stop = threading.Event()
    pipe = Pipeline(entry, source, ranges, stop)
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
            if item is DONE or stop.is_set():
                break
            assert isinstance(item, Chunk)
            if cancel.is_set():
                stop.set()
                raise Aborted
            length = align_up(item.length, sector)
            if length != item.length:
                # The image's last sector is partial: pad with zeros (beyond the image end).
                item.buffer.view[item.length : length] = bytes(length - item.length)
            try:
                pwrite_all(fd, item.buffer.view[:length], item.offset)
            except OSError as exc:
                pipe.fail(
                    Failure(
                        _(
                            "Write error at byte {offset}: {error}",
                            offset=item.offset,
                            error=exc.strerror or exc,
                        ),
                        label_for(ranges, item.offset),
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


def label_for(ranges: list[tuple[int, MappedRange]], offset: int) -> str:
    for index, rng in ranges:
        if rng.start <= offset < rng.end:
            return range_label(index, rng)
    return ""
