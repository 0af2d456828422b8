"""The device guard: the one place that decides whether a disk may be wiped or imaged.

Every destructive path calls :func:`check_target` and then :func:`open_exclusive`. A target
must be a whole disk, not the disk the running system lives on, hold nothing mounted or used
as swap (following partitions, device-mapper/md slaves and loop backing files down to the
disks underneath), have no holders, be writable, and be removable/USB only when policy allows.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_agent.devices.lsblk import BlockDevice, find_device, run_lsblk
from bench_agent.errors import BenchError, DeviceRefused, InputError, ToolMissing
from bench_agent.i18n import _

SYS_DEV_BLOCK = Path("/sys/dev/block")
SYS_BLOCK = Path("/sys/block")
MOUNTINFO = Path("/proc/self/mountinfo")
SWAPS = Path("/proc/swaps")

# Mount points whose disks are "the system": what the bench booted from and runs on.
SYSTEM_MOUNTPOINTS = frozenset(
    {
        "/",
        "/boot",
        "/boot/efi",
        "/usr",
        "/var",
        "/run/live/medium",
        "/lib/live/mount/medium",
        "/run/initramfs/live",
        "/cdrom",
    }
)
WHOLE_DISK_TYPES = frozenset({"disk", "loop"})
SWAP = "[SWAP]"  # lsblk's mount point for swap
# RAM-backed block devices are never a donated disk.
RAM_DEVICE_PREFIXES = ("zram", "ram")


def is_floppy(kernel_name: str) -> bool:
    """Floppy drives (fd0...) show up as removable disks; they are never a donated disk."""
    return re.fullmatch(r"fd\d+", kernel_name) is not None


@dataclass(frozen=True)
class GuardPolicy:
    allow_removable: bool = False
    allow_loop: bool = True

    @classmethod
    def for_profile(
        cls, profile: Any | None = None, *, station_allows_removable: bool = False, named: bool
    ) -> GuardPolicy:
        """The one builder of the device policy for every destructive path (wipe, image, the
        bench's workflow, the disk station).

        Removable/USB media when the station's settings or the profile's ``[wipe]`` allow it.
        Loop devices only when the operator (or a test, the demo) named the device explicitly
        (``named``), never when disks are picked up implicitly; the grading profile has no say.
        """
        wipe = getattr(profile, "wipe", None)
        removable = station_allows_removable or bool(getattr(wipe, "allow_removable", False))
        return cls(allow_removable=removable, allow_loop=named)


DevNum = tuple[int, int]


@dataclass
class _SystemUse:
    """What the running system uses: block devices reached from mounts and swap."""

    in_use: dict[str, str] = field(default_factory=dict)  # kernel name -> a mount point using it
    system: dict[str, str] = field(default_factory=dict)  # same, under the system mounts


def _sysfs_dir(devnum: DevNum) -> Path | None:
    link = SYS_DEV_BLOCK / f"{devnum[0]}:{devnum[1]}"
    try:
        return link.resolve(strict=True)
    except OSError:
        return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _devnum_of_dir(sysdir: Path) -> DevNum | None:
    text = _read(sysdir / "dev")
    if ":" not in text:
        return None
    major, minor = text.split(":", 1)
    return int(major), int(minor)


def _loop_backing(sysdir: Path) -> tuple[str, os.stat_result] | None:
    name = _read(sysdir / "loop" / "backing_file")
    if not name:
        return None
    clean = name.removesuffix(" (deleted)")
    try:
        return clean, os.stat(clean)
    except OSError:
        return None


def _closure(
    devnum: DevNum, *, through_loop_files: bool, mount_sources: dict[DevNum, DevNum]
) -> set[str]:
    """Kernel names of ``devnum`` and of every device it is built on.

    Goes from a partition to its disk, from dm/md to their slaves, and from a loop device to
    the device behind its backing file (a block device always; the filesystem holding a
    backing *file* only with ``through_loop_files``).
    """
    seen: set[str] = set()
    todo: list[DevNum] = [devnum]
    while todo:
        current = todo.pop()
        if current[0] == 0:
            # Anonymous device numbers (btrfs, overlay...) map to a real source when known.
            mapped = mount_sources.get(current)
            if mapped is None:
                continue
            current = mapped
        sysdir = _sysfs_dir(current)
        if sysdir is None or sysdir.name in seen:
            continue
        seen.add(sysdir.name)
        if (sysdir / "partition").exists():
            parent = _devnum_of_dir(sysdir.parent)
            if parent is not None:
                todo.append(parent)
        slaves = sysdir / "slaves"
        if slaves.is_dir():
            for slave in slaves.iterdir():
                num = _devnum_of_dir(slave.resolve())
                if num is not None:
                    todo.append(num)
        backing = _loop_backing(sysdir)
        if backing is not None:
            _name, st = backing
            if stat.S_ISBLK(st.st_mode):
                todo.append((os.major(st.st_rdev), os.minor(st.st_rdev)))
            elif through_loop_files:
                todo.append((os.major(st.st_dev), os.minor(st.st_dev)))
    return seen


def _parse_mountinfo(text: str) -> list[tuple[DevNum, str, str]]:
    """(device number, mount point, source) for each line of /proc/self/mountinfo."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 10 or " - " not in line:
            continue
        major, _sep, minor = parts[2].partition(":")
        after = line.split(" - ", 1)[1].split()
        source = after[1] if len(after) > 1 else ""
        mountpoint = parts[4].replace("\\040", " ")
        mounts.append(((int(major), int(minor)), mountpoint, source))
    return mounts


def _block_rdev(path: str) -> DevNum | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISBLK(st.st_mode):
        return None
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def system_use() -> _SystemUse:
    """Scan mounts and swap once: every block device they rest on, and which are the system's."""
    use = _SystemUse()
    mounts = _parse_mountinfo(_read(MOUNTINFO))
    sources: dict[DevNum, DevNum] = {}
    for devnum, _mp, source in mounts:
        if devnum[0] == 0 and source.startswith("/dev/"):
            real = _block_rdev(source)
            if real is not None:
                sources[devnum] = real
    seeds: list[tuple[DevNum, str]] = [(devnum, mp) for devnum, mp, _src in mounts]
    for line in _read(SWAPS).splitlines()[1:]:
        name = line.split()[0].replace("\\040", " ") if line.split() else ""
        if not name:
            continue
        real = _block_rdev(name)
        if real is not None:
            seeds.append((real, SWAP))
        else:
            try:
                st = os.stat(name)
                seeds.append(((os.major(st.st_dev), os.minor(st.st_dev)), SWAP))
            except OSError:
                continue
    for devnum, mountpoint in seeds:
        names = _closure(devnum, through_loop_files=True, mount_sources=sources)
        for name in names:
            use.in_use.setdefault(name, mountpoint)
        if mountpoint in SYSTEM_MOUNTPOINTS:
            for name in names:
                use.system.setdefault(name, mountpoint)
    return use


def _holders(kname: str) -> list[str]:
    """Holders (dm, md, bcache...) of the disk and of each of its partitions."""
    base = SYS_BLOCK / kname
    found: list[str] = []
    if not base.is_dir():
        return found
    dirs = [base, *(p for p in base.iterdir() if (p / "partition").exists())]
    for sysdir in dirs:
        holders = sysdir / "holders"
        if holders.is_dir():
            found.extend(sorted(h.name for h in holders.iterdir()))
    return found


def _refuse(device: str, rule: str, message: str, hint: str) -> DeviceRefused:
    return DeviceRefused(device, rule, message, hint)


def _resolve(device: str | Path) -> tuple[str, DevNum]:
    text = str(device)
    if "/" not in text:
        text = "/dev/" + text
    path = os.path.realpath(text)
    try:
        st = os.stat(path)
    except OSError:
        raise _refuse(
            text,
            "not-found",
            _("{device} does not exist.", device=text),
            _("List the disks with 'bench-agent disks'."),
        ) from None
    if not stat.S_ISBLK(st.st_mode):
        raise _refuse(
            text,
            "not-found",
            _("{device} is not a block device.", device=text),
            _("Give a disk such as /dev/sdb; list them with 'bench-agent disks'."),
        )
    return path, (os.major(st.st_rdev), os.minor(st.st_rdev))


def _assess(
    dev: BlockDevice, devnum: DevNum | None, use: _SystemUse, policy: GuardPolicy
) -> DeviceRefused | None:
    """The first rule ``dev`` breaks, or None when it may be wiped."""
    path = dev.path or "/dev/" + dev.kernel_name
    kname = dev.kernel_name
    if kname.startswith(RAM_DEVICE_PREFIXES):
        return _refuse(
            path,
            "not-whole-disk",
            _("{device} is a RAM-backed device, not a disk.", device=path),
            _("Give a disk such as /dev/sdb; list them with 'bench-agent disks'."),
        )
    if is_floppy(kname):
        return _refuse(
            path,
            "not-whole-disk",
            _("{device} is a floppy drive, not a disk.", device=path),
            _("Give a disk such as /dev/sdb; list them with 'bench-agent disks'."),
        )
    if dev.type not in WHOLE_DISK_TYPES:
        return _refuse(
            path,
            "not-whole-disk",
            _("{device} is a {kind}, not a whole disk.", device=path, kind=dev.type or "?"),
            _("Give the whole disk (e.g. /dev/sdb, not /dev/sdb1)."),
        )
    if dev.size <= 0:
        return _refuse(
            path,
            "no-media",
            _("{device} has no medium (size 0).", device=path),
            _("Insert the medium or check the cable, then list the disks again."),
        )
    if not policy.allow_loop and dev.type == "loop":
        return _refuse(
            path,
            "loop",
            _("{device} is a loop device, which this profile does not allow.", device=path),
            _("Wipe the physical disk instead."),
        )
    # The target and what it is built on (a loop over a block device writes to that device).
    closure = {kname}
    if devnum is not None:
        closure |= _closure(devnum, through_loop_files=False, mount_sources={})
    system_hit = sorted(closure & set(use.system))
    if system_hit:
        return _refuse(
            path,
            "system-disk",
            _(
                "{device} holds the running system (mounted at {where}).",
                device=path,
                where=use.system[system_hit[0]],
            ),
            _("The bench never wipes the disk it runs from; choose another disk."),
        )
    mounted = sorted(closure & set(use.in_use))
    own_mounts = dev.all_mountpoints()
    if mounted or own_mounts:
        where = own_mounts[0] if own_mounts else use.in_use[mounted[0]]
        if where.upper() == SWAP:
            return _refuse(
                path,
                "mounted",
                _("{device} is in use as swap.", device=path),
                _("Turn the swap off first: swapoff {device}", device=path),
            )
        return _refuse(
            path,
            "mounted",
            _("{device} is in use: mounted at {where}.", device=path, where=where),
            _("Unmount it (and turn off swap on it) before wiping."),
        )
    holders = _holders(kname)
    if holders:
        return _refuse(
            path,
            "has-holders",
            _(
                "{device} is held by {holders} (LVM, RAID or device-mapper).",
                device=path,
                holders=", ".join(holders),
            ),
            _("Stop them first (dmsetup remove, mdadm --stop, vgchange -an)."),
        )
    if dev.ro or _read(SYS_BLOCK / kname / "ro") == "1":
        return _refuse(
            path,
            "read-only",
            _("{device} is read-only.", device=path),
            _("Check the write-protect switch, or 'blockdev --setrw'."),
        )
    removable = dev.rm or dev.hotplug or dev.tran == "usb"
    if removable and not policy.allow_removable:
        return _refuse(
            path,
            "removable",
            _("{device} is removable or USB media, which policy does not allow.", device=path),
            _("Set allow_removable in the station settings or the profile to wipe it."),
        )
    return None


def _lsblk_one(path: str) -> BlockDevice:
    try:
        tree = run_lsblk(path)
    except InputError as exc:
        raise _refuse(path, "not-found", exc.message, exc.hint) from exc
    dev = find_device(tree, path) or (tree[0] if tree else None)
    if dev is None:
        raise _refuse(
            path,
            "not-found",
            _("{device} does not exist.", device=path),
            _("List the disks with 'bench-agent disks'."),
        )
    return dev


def check_target(device: str | Path, policy: GuardPolicy | None = None) -> BlockDevice:
    """Return the device's facts if it may be wiped or imaged; raise ``DeviceRefused`` if not."""
    policy = policy or GuardPolicy()
    path, devnum = _resolve(device)
    dev = _lsblk_one(path)
    refusal = _assess(dev, devnum, system_use(), policy)
    if refusal is not None:
        refusal.device = str(device)
        raise refusal
    return dev


def assess_all_refusals(
    policy: GuardPolicy | None = None,
) -> list[tuple[BlockDevice, DeviceRefused | None]]:
    """Every top-level block device with None (wipeable) or the refusal (rule, message, hint)."""
    policy = policy or GuardPolicy()
    use = system_use()
    result: list[tuple[BlockDevice, DeviceRefused | None]] = []
    for dev in run_lsblk():
        devnum = _block_rdev(dev.path) if dev.path else None
        result.append((dev, _assess(dev, devnum, use, policy)))
    return result


def assess_all(policy: GuardPolicy | None = None) -> list[tuple[BlockDevice, str | None]]:
    """Every top-level block device with None (wipeable) or the reason it is refused."""
    return [
        (dev, None if refusal is None else refusal.message)
        for dev, refusal in assess_all_refusals(policy)
    ]


def open_exclusive(path: str | Path, *, write: bool, direct: bool = True) -> tuple[int, bool]:
    """Open a block device with ``O_EXCL`` (fails if mounted or held) and, when possible,
    ``O_DIRECT``. Returns ``(fd, direct_in_effect)``; the caller closes the fd."""
    flags = (os.O_RDWR if write else os.O_RDONLY) | os.O_EXCL | os.O_CLOEXEC
    attempts: Iterable[tuple[int, bool]] = (
        [(flags | os.O_DIRECT, True), (flags, False)] if direct else [(flags, False)]
    )
    last: OSError | None = None
    for mode, is_direct in attempts:
        try:
            return os.open(path, mode), is_direct
        except OSError as exc:
            last = exc
            if exc.errno == errno.EINVAL and is_direct:
                continue  # the driver refuses O_DIRECT: buffered I/O + fdatasync instead
            break
    assert last is not None
    text = str(path)
    if last.errno == errno.EBUSY:
        raise _refuse(
            text,
            "busy",
            _("{device} is busy: mounted, held or opened by another program.", device=text),
            _("Unmount it and stop what uses it (see 'lsof {device}').", device=text),
        )
    if last.errno == errno.ENOENT:
        raise _refuse(
            text,
            "not-found",
            _("{device} does not exist.", device=text),
            _("List the disks with 'bench-agent disks'."),
        )
    if last.errno == errno.EROFS:
        raise _refuse(
            text,
            "read-only",
            _("{device} is read-only.", device=text),
            _("Check the write-protect switch, or 'blockdev --setrw'."),
        )
    if last.errno in (errno.EACCES, errno.EPERM):
        raise ToolMissing(
            _("Permission denied opening {device}.", device=text),
            _("Run the bench as root."),
        )
    raise BenchError(
        _("Cannot open {device}: {error}", device=text, error=last.strerror or str(last)),
        _("Check the cable and the kernel log (dmesg)."),
    )
