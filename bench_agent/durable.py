"""Durable atomic file replacement: the one helper behind every journal, setting and catalogue.

A reader (or the bench after a power cut) sees either the old file or the new one, never a
mixture: the bytes go to a temporary file beside the target, which is fsync'ed, renamed over the
target, and the directory is fsync'ed so that the rename itself survives.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make a rename, creation or removal in ``directory`` durable (no-op if it is gone)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | str, *, mode: int = 0o600) -> Path:
    """Replace ``path`` with ``data`` durably (text is written as UTF-8); returns ``path``.

    The temporary file is ``.<name>.tmp`` in the same directory (so globs on the real names
    never see it) and is removed if the write fails.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            os.fchmod(fd, mode)  # O_CREAT's mode is masked by the umask; a leftover keeps its own
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
    return path


__all__ = ["atomic_write", "fsync_dir"]
