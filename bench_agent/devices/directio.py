"""Page-aligned buffers and block geometry for ``O_DIRECT`` I/O (wipe, verify, imaging).

``O_DIRECT`` needs the buffer address, the length and the file offset aligned to the logical
sector size; anonymous ``mmap`` memory is page aligned, which covers every sector size in use
(512 and 4096 bytes).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from dataclasses import dataclass
from types import TracebackType

PAGE_SIZE = mmap.PAGESIZE

# <linux/fs.h> ioctls
_BLKSSZGET = 0x1268  # logical sector size (int)
_BLKPBSZGET = 0x127B  # physical sector size (unsigned int)
_BLKGETSIZE64 = 0x80081272  # size in bytes (u64)


def align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def align_down(value: int, alignment: int) -> int:
    return value - value % alignment


class AlignedBuffer:
    """A page-aligned, writable buffer usable with ``os.preadv``/``os.pwrite`` under O_DIRECT.

    ``view[a:b]`` slices keep the alignment when ``a`` is a multiple of the sector size, and the
    system calls use the memory in place (no copy).
    """

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError("buffer size must be positive")
        self.size = align_up(size, PAGE_SIZE)
        self._map = mmap.mmap(-1, self.size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.view = memoryview(self._map)

    def close(self) -> None:
        try:
            self.view.release()
            self._map.close()
        except BufferError:
            # A slice is still referenced (e.g. by a traceback): the memory goes with it.
            pass

    def __enter__(self) -> AlignedBuffer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class BlockGeometry:
    size_bytes: int
    logical_sector: int
    physical_sector: int


def block_geometry(fd: int) -> BlockGeometry:
    """Size and sector sizes of an open block device (or a regular file, for tests)."""
    try:
        raw = fcntl.ioctl(fd, _BLKGETSIZE64, b"\0" * 8)
        size = int(struct.unpack("Q", raw)[0])
        logical = int(struct.unpack("i", fcntl.ioctl(fd, _BLKSSZGET, b"\0" * 4))[0])
        physical = int(struct.unpack("I", fcntl.ioctl(fd, _BLKPBSZGET, b"\0" * 4))[0])
    except OSError:
        size = os.lseek(fd, 0, os.SEEK_END)
        logical = physical = 512
    return BlockGeometry(size, logical or 512, physical or logical or 512)
