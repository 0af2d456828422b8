"""A disk with bad sectors (and, optionally, a slow one) for the wipe tests, without dm.

This kernel has no device-mapper, so the nwipe-style ``dmsetup`` error target cannot be built
here (the dm variant runs where dm exists). Instead a loop device is attached to a file served
by a FUSE filesystem (this module, run as a separate process) whose reads and writes return
EIO inside the bad ranges and can be slowed down per request: the kernel's real loop driver
turns those into real I/O errors on the block device the wipe engine sees (EIO on exactly the
loop requests that touch a bad range).

Run as ``python -m tests.test_wipe_faultyfs MOUNTPOINT BACKING --bad START:LEN ... --delay-ms N``.
"""

from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

IMAGE = "disk.img"


def serve(mountpoint: str, backing: str, bad: list[tuple[int, int]], delay_ms: int) -> None:
    import mfusepy as fuse

    fd = os.open(backing, os.O_RDWR)
    size = os.fstat(fd).st_size

    def overlaps(offset: int, length: int) -> bool:
        return any(offset < start + n and start < offset + length for start, n in bad)

    class FaultyDisk(fuse.Operations):  # type: ignore[misc]
        use_ns = True

        def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
            now = int(time.time() * 1e9)
            if path == "/":
                return {
                    "st_mode": 0o40755,
                    "st_nlink": 2,
                    "st_size": 0,
                    "st_atime": now,
                    "st_mtime": now,
                    "st_ctime": now,
                }
            if path == "/" + IMAGE:
                return {
                    "st_mode": 0o100600,
                    "st_nlink": 1,
                    "st_size": size,
                    "st_atime": now,
                    "st_mtime": now,
                    "st_ctime": now,
                }
            raise fuse.FuseOSError(errno.ENOENT)

        def readdir(self, path: str, fh: int) -> list[str]:
            return [".", "..", IMAGE]

        def open(self, path: str, flags: int) -> int:
            return 0

        def read(self, path: str, length: int, offset: int, fh: int) -> bytes:
            if overlaps(offset, length):
                raise fuse.FuseOSError(errno.EIO)
            return os.pread(fd, length, offset)

        def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
            if delay_ms:
                time.sleep(delay_ms / 1000)
            if overlaps(offset, len(data)):
                raise fuse.FuseOSError(errno.EIO)
            return os.pwrite(fd, data, offset)

        def truncate(self, path: str, length: int, fh: int | None = None) -> int:
            return 0

        def fsync(self, path: str, datasync: int, fh: int) -> int:
            return 0

        def flush(self, path: str, fh: int) -> int:
            return 0

    # direct_io: every request reaches us (no page cache hiding a failed write).
    fuse.FUSE(FaultyDisk(), mountpoint, foreground=True, direct_io=True, allow_other=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mountpoint")
    parser.add_argument("backing")
    parser.add_argument("--bad", action="append", default=[])
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()
    bad = [(int(a), int(b)) for a, b in (item.split(":") for item in args.bad)]
    serve(args.mountpoint, args.backing, bad, args.delay_ms)


FaultyFactory = Callable[..., Path]


@pytest.fixture
def faulty_loop(tmp_path: Path) -> Iterator[FaultyFactory]:
    """``faulty_loop(size, bad=[(start, length)], delay_ms=0, fill="random")`` -> loop device
    whose I/O fails with EIO in the bad byte ranges. Everything is torn down afterwards."""
    from tests.conftest import require_root, require_tool

    require_root()
    require_tool("losetup")
    try:
        import mfusepy  # noqa: F401
    except ImportError:
        pytest.fail("the faulty-disk tests need mfusepy (pip install -e '.[dev]')")
    if not Path("/dev/fuse").exists():
        pytest.fail("the faulty-disk tests need /dev/fuse (FUSE in the kernel)")
    cleanups: list[Callable[[], None]] = []

    def factory(
        size: int,
        *,
        bad: list[tuple[int, int]] | None = None,
        delay_ms: int = 0,
        fill: str = "random",
    ) -> Path:
        index = len(cleanups)
        backing = tmp_path / f"faulty-{index}.img"
        with open(backing, "wb") as handle:
            if fill == "random":
                handle.write(os.urandom(size))
            else:
                handle.truncate(size)
        mnt = tmp_path / f"faulty-mnt-{index}"
        mnt.mkdir()
        argv = [
            sys.executable,
            "-m",
            "tests.test_wipe_faultyfs",
            str(mnt),
            str(backing),
            "--delay-ms",
            str(delay_ms),
        ]
        for start, length in bad or []:
            argv += ["--bad", f"{start}:{length}"]
        root = Path(__file__).parent.parent
        server = subprocess.Popen(argv, cwd=root, stderr=subprocess.PIPE)
        image = mnt / IMAGE
        deadline = time.monotonic() + 15
        while not image.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                err = server.stderr.read().decode() if server.stderr else ""
                server.kill()
                pytest.fail(f"the FUSE faulty disk did not start: {err[-500:]}")
            time.sleep(0.05)
        dev = subprocess.run(
            ["losetup", "--find", "--show", str(image)], check=True, capture_output=True, text=True
        ).stdout.strip()
        # One loop request per FUSE request (FUSE's max_write is 128 KiB): with larger loop
        # requests this kernel sometimes completes a request as a success although one of its
        # FUSE sub-requests failed, silently dropping data — the wipe's verification catches
        # that as "failed", but the bad-sector tests want the error itself to surface.
        Path(f"/sys/block/{Path(dev).name}/queue/max_sectors_kb").write_text("128")

        def cleanup() -> None:
            subprocess.run(["losetup", "-d", dev], capture_output=True)
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
            server.terminate()
            try:
                server.wait(5)
            except subprocess.TimeoutExpired:
                server.kill()

        cleanups.append(cleanup)
        return Path(dev)

    yield factory
    for cleanup in reversed(cleanups):
        cleanup()


if __name__ == "__main__":
    main()
