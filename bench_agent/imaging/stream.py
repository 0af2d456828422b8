"""Streaming a master straight from the ledger to the disk: no local copy, bounded memory.

``RangeReader`` is a read-only file object over an HTTP URL. The writer's decompressor reads
it like the local file; when the connection is cut it reconnects with ``Range: bytes=<pos>-``
(and ``If-Range`` with the first answer's ETag, so a master replaced on the server in the
meantime is never spliced into the old one) and goes on where it stopped. It holds one network
chunk at a time. Every byte it hands over is counted and hashed: at the end its size and
SHA-256 must be the catalogue's, on top of the per-range hashes and the read-back the writer
does anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
from pathlib import Path
from typing import Any

from bench_agent import retry
from bench_agent.i18n import _

CACHE_MARGIN = 256 << 20  # free space kept beside a cached master


class StreamBroken(OSError):
    """The image server cannot give the rest of the master (one clear line in ``strerror``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.strerror = message


class RangeReader(io.RawIOBase):
    def __init__(
        self,
        url: str,
        size: int,
        sha256: str = "",
        *,
        timeout_s: float = 30.0,
    ) -> None:
        import httpx

        super().__init__()
        self.url = url
        self.size = size
        self.expected_sha256 = sha256
        # Reconnections in a row without progress: the policy's pauses, then it gives up.
        self._retrying = retry.STREAM.copy(before_sleep=self._count_reconnect)
        self.pos = 0
        self.reconnects = 0
        self._sha = hashlib.sha256()
        self._etag: str | None = None
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=True)
        self._response: Any = None
        self._chunks: Any = None
        self._pending = memoryview(b"")
        self._httpx = httpx

    def readable(self) -> bool:
        return True

    # -- connection ---------------------------------------------------------------------------
    def _drop(self) -> None:
        if self._response is not None:
            with contextlib.suppress(self._httpx.HTTPError):
                self._response.close()
        self._response = None
        self._chunks = None

    def _connect(self) -> None:
        headers = {"Accept-Encoding": "identity"}
        if self.pos:
            headers["Range"] = f"bytes={self.pos}-"
            if self._etag:
                headers["If-Range"] = self._etag
        request = self._client.build_request("GET", self.url, headers=headers)
        response = self._client.send(request, stream=True)
        status = response.status_code
        if status == 200 and self.pos:
            response.close()
            raise StreamBroken(
                _(
                    "The image {url} changed on the server (or it ignores Range) at byte {pos}.",
                    url=self.url,
                    pos=self.pos,
                )
            )
        if status not in (200, 206):
            response.close()
            raise StreamBroken(
                _("The image server answered {status} for {url}.", status=status, url=self.url)
            )
        if status == 206:
            first = response.headers.get("content-range", "").removeprefix("bytes ")
            if not first.startswith(f"{self.pos}-"):
                response.close()
                raise StreamBroken(
                    _(
                        "The image server sent the wrong part of {url}: {range}.",
                        url=self.url,
                        range=first or "?",
                    )
                )
        if self._etag is None:
            self._etag = response.headers.get("etag")
        self._response = response
        # As received (no re-chunking): a cut loses nothing already read.
        self._chunks = response.iter_raw()

    def _count_reconnect(self, _state: object) -> None:
        self.reconnects += 1

    def _next_chunk(self) -> bytes:
        """The next bytes from the server, reconnecting after a cut; b"" at the end."""
        try:
            return self._retrying(self._try_chunk)
        except retry.Transient as cut:
            raise StreamBroken(
                _(
                    "The image server {url} stopped answering at byte {pos} of {size} ({error}).",
                    url=self.url,
                    pos=self.pos,
                    size=self.size,
                    error=str(cut),
                )
            ) from None

    def _try_chunk(self) -> bytes:
        """One try at the next bytes (connecting if needed); a cut is ``Transient``."""
        if self.pos >= self.size:
            return b""
        try:
            if self._chunks is None:
                self._connect()
            data: bytes = next(self._chunks, b"")
        except StreamBroken:
            self._drop()
            raise
        except (self._httpx.HTTPError, OSError) as exc:
            self._drop()
            raise retry.Transient(str(exc) or type(exc).__name__) from exc
        if not data:
            self._drop()
            raise retry.Transient(_("the connection ended at byte {pos}", pos=self.pos))
        return data

    # -- reading ------------------------------------------------------------------------------
    def _refill(self) -> bool:
        """The next network piece into ``_pending``, counted and hashed; False at the end."""
        data = self._next_chunk()
        if not data:
            self._finish()
            return False
        if self.pos + len(data) > self.size:
            raise StreamBroken(
                _("The image {url} is longer than the catalogue says.", url=self.url)
            )
        self._sha.update(data)
        self.pos += len(data)
        self._pending = memoryview(data)
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        if not self._pending and not self._refill():
            return 0
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (fewer only at the end): the decompressor asks for 1 MiB at a
        time and the network gives 64 KiB pieces; joining them here spares many calls."""
        if size is None or size < 0:
            size = self.size - self.pos + len(self._pending)
        parts: list[bytes] = []
        have = 0
        while have < size and (self._pending or self._refill()):
            take = self._pending[: size - have]
            parts.append(bytes(take))
            have += len(take)
            self._pending = self._pending[len(take) :]
        return b"".join(parts)

    def _finish(self) -> None:
        if self.expected_sha256 and self._sha.hexdigest() != self.expected_sha256:
            raise StreamBroken(
                _(
                    "The image streamed from {url} does not match its SHA-256.",
                    url=self.url,
                )
            )

    def close(self) -> None:
        self._drop()
        self._client.close()
        super().close()


def has_room_for(directory: Path, size: int) -> bool:
    """Whether ``directory`` (created if needed) can hold ``size`` bytes and a margin."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(directory).free >= size + CACHE_MARGIN
    except OSError:
        return False
