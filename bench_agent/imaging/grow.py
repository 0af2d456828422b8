"""Fitting a written master to its disk: GPT backup header at the disk's end, the last
partition and its ext2/3/4 filesystem grown to fill the disk, then ``sgdisk -v`` and
``e2fsck -n`` as the final word.

The filesystem is reached through a loop device at the partition's offset, so the same code
works on any disk (and on loop devices without partition scanning) without waiting for udev.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench_agent.devices.directio import block_geometry
from bench_agent.errors import ToolMissing
from bench_agent.i18n import _
from bench_agent.imaging.partitions import (
    Partition,
    PartitionTable,
    is_ext_filesystem,
    read_partition_table,
)
from bench_agent.models.image import ImageEntry
from bench_agent.progress import ProgressCallback, ProgressEvent

OK = "ok"


@dataclass
class FitResult:
    ok: bool = True
    problem: str = ""
    grown: bool = False
    final_partition_bytes: int | None = None
    checks: dict[str, str] = field(default_factory=dict)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(
            _("The tool {tool} is missing.", tool=name), _("Install it with scripts/setup.")
        )
    return path


def run_tool(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """``cmd`` run to its end, its output captured (``ToolMissing`` if the tool is not installed)."""
    _tool(cmd[0])
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return " ".join(text[-3:])[-300:]


def _read_table(path: str) -> tuple[PartitionTable, int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return read_partition_table(fd), block_geometry(fd).size_bytes
    finally:
        os.close(fd)


def _is_ext(path: str, offset: int) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        return is_ext_filesystem(fd, offset)
    finally:
        os.close(fd)


@contextlib.contextmanager
def partition_loop(path: str, offset: int, size: int) -> Iterator[str]:
    """A loop device onto one partition of ``path`` (detached on exit)."""
    result = run_tool(
        ["losetup", "--find", "--show", "--offset", str(offset), "--sizelimit", str(size), path]
    )
    if result.returncode != 0:
        raise ToolMissing(
            _("Cannot attach a loop device to {device}: {error}", device=path, error=_tail(result)),
            _("Load the loop module (modprobe loop) and run as root."),
        )
    loop = result.stdout.strip()
    try:
        yield loop
    finally:
        run_tool(["losetup", "-d", loop])


def _sgdisk_verify(path: str) -> tuple[bool, str]:
    result = run_tool(["sgdisk", "-v", path])
    text = result.stdout + result.stderr
    clean = result.returncode == 0 and "No problems found" in text
    return clean, OK if clean else _tail(result)


def _grow_partition(
    path: str, table: PartitionTable, last: Partition
) -> subprocess.CompletedProcess[str]:
    n = last.number
    cmd = [
        "sgdisk",
        "-d",
        str(n),
        "-n",
        f"{n}:{last.first_lba}:0",
        "-t",
        f"{n}:{last.type_guid}",
        "-u",
        f"{n}:{last.unique_guid}",
    ]
    if last.name:
        cmd += ["-c", f"{n}:{last.name}"]
    for bit in range(64):
        if last.attributes >> bit & 1:
            cmd += ["-A", f"{n}:set:{bit}"]
    return run_tool([*cmd, path])


EXTENDED_TYPES = frozenset({"0x05", "0x0f", "0x85"})


def _fail(fit: FitResult, check: str, problem: str, detail: str) -> FitResult:
    fit.ok = False
    fit.problem = problem
    fit.checks[check] = detail
    return fit


def _grow_mbr_partition(path: str, last: Partition) -> subprocess.CompletedProcess[str]:
    """Extend MBR partition ``last`` to the end of the disk (sfdisk keeps its start and type)."""
    _tool("sfdisk")
    return subprocess.run(
        ["sfdisk", "--no-reread", "--no-tell-kernel", "-q", "-N", str(last.number), path],
        input=", +\n",
        capture_output=True,
        text=True,
        check=False,
    )


def _check_table(path: str, kind: str) -> tuple[str, bool, str]:
    if kind == "gpt":
        clean, detail = _sgdisk_verify(path)
        return "sgdisk -v", clean, detail
    result = run_tool(["sfdisk", "--verify", path])
    clean = result.returncode == 0
    return "sfdisk --verify", clean, OK if clean else _tail(result)


def fit_to_disk(
    path: str,
    entry: ImageEntry,
    *,
    grow: bool,
    progress: ProgressCallback,
    job: str,
) -> FitResult:
    """Fix the table for this disk, grow the last partition + ext fs if asked, and check.

    GPT: the backup header moves to the disk's end (always: the table is invalid otherwise on
    a larger disk), then the last partition is recreated with the same start, type, GUID and
    name up to the last usable sector. MBR: the last primary partition is extended with sfdisk.
    In both, an ext2/3/4 filesystem there is checked, grown and checked again read-only.
    """
    fit = FitResult()
    table, _disk_bytes = _read_table(path)
    fit.checks["partition table"] = table.kind
    if table.kind == "none":
        return fit  # a bare filesystem image is written as it is
    steps = 5
    if table.kind == "gpt":
        progress(ProgressEvent(job, "grow", 0, steps, message=_("Moving the backup GPT header")))
        result = run_tool(["sgdisk", "-e", path])
        if result.returncode != 0:
            return _fail(
                fit, "sgdisk -e", _("sgdisk -e failed: {error}", error=_tail(result)), _tail(result)
            )
        fit.checks["sgdisk -e"] = OK
        table, _disk_bytes = _read_table(path)
    last = table.last_partition
    ss = table.sector_size
    if last is None:
        return fit
    ext = last.type_guid not in EXTENDED_TYPES and _is_ext(path, last.start_byte(ss))
    if grow and ext:
        progress(ProgressEvent(job, "grow", 1, steps, message=_("Growing the last partition")))
        if table.kind == "gpt":
            check, result = "sgdisk -n", _grow_partition(path, table, last)
        else:
            check, result = "sfdisk -N", _grow_mbr_partition(path, last)
        if result.returncode != 0:
            return _fail(
                fit,
                check,
                _("Growing partition {n} failed: {error}", n=last.number, error=_tail(result)),
                _tail(result),
            )
        fit.checks[check] = OK
        table, _disk_bytes = _read_table(path)
        last = next(p for p in table.partitions if p.number == last.number)
    part_offset = last.start_byte(ss)
    part_size = last.end_byte(ss) - part_offset
    fit.final_partition_bytes = part_size
    if ext:
        with partition_loop(path, part_offset, part_size) as loop:
            if grow:
                progress(
                    ProgressEvent(
                        job,
                        "grow",
                        2,
                        steps,
                        message=_("Checking the filesystem before growing it"),
                    )
                )
                # Preen first: resize2fs wants a freshly checked filesystem (exit 1 = fixed).
                result = run_tool(["e2fsck", "-f", "-p", loop])
                if result.returncode not in (0, 1):
                    return _fail(
                        fit,
                        "e2fsck -p",
                        _("e2fsck found errors before growing: {error}", error=_tail(result)),
                        _tail(result),
                    )
                progress(ProgressEvent(job, "grow", 3, steps, message=_("Growing the filesystem")))
                result = run_tool(["resize2fs", loop])
                if result.returncode != 0:
                    return _fail(
                        fit,
                        "resize2fs",
                        _("resize2fs failed: {error}", error=_tail(result)),
                        _tail(result),
                    )
                fit.checks["resize2fs"] = OK
                fit.grown = True
            progress(ProgressEvent(job, "grow", 4, steps, message=_("Checking the filesystem")))
            result = run_tool(["e2fsck", "-f", "-n", loop])
            fit.checks["e2fsck -n"] = OK if result.returncode == 0 else _tail(result)
            if result.returncode != 0:
                fit.ok = False
                fit.problem = _("e2fsck -n reports problems: {error}", error=_tail(result))
                return fit
    check, clean, detail = _check_table(path, table.kind)
    fit.checks[check] = detail
    if not clean:
        return _fail(
            fit, check, _("{check} reports problems: {error}", check=check, error=detail), detail
        )
    # Let the kernel see the new table on real disks (loop devices without -P refuse; fine).
    run_tool(["blockdev", "--rereadpt", path])
    progress(ProgressEvent(job, "grow", steps, steps, message=_("The disk is ready")))
    del entry
    return fit
