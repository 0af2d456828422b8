"""Which master suits this machine: CPU architecture, RAM and disk minimums, profile order."""

from __future__ import annotations

from typing import Any

from bench_agent.i18n import _
from bench_agent.models.image import ImageEntry
from bench_agent.models.inventory import Inventory

MIB = 1 << 20
# MemTotal is what the kernel sees: a few percent below the modules (firmware, kernel image).
RAM_TOLERANCE = 0.9


def machine_ram_bytes(inventory: Inventory) -> int:
    mem = inventory.memory
    return max(mem.installed_bytes or 0, mem.total_bytes)


def is_64bit(inventory: Inventory) -> bool:
    return inventory.cpu.is_64bit or "lm" in inventory.cpu.flags


def largest_disk_bytes(inventory: Inventory) -> int | None:
    sizes = [d.size_bytes for d in inventory.disks if not d.removable and d.size_bytes > 0]
    return max(sizes, default=None)


def _preferences(profile: Any) -> list[str]:
    image = getattr(profile, "image", None)
    prefer = getattr(image, "prefer", None) if image is not None else None
    return [str(p) for p in prefer] if prefer else []


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f}"


def _mib(n: int) -> str:
    return f"{n / MIB:.0f}"


def why_not(entry: ImageEntry, inventory: Inventory, disk_bytes: int | None) -> str | None:
    """The reason ``entry`` cannot go on this machine, or None if it can."""
    if entry.architecture == "amd64" and not is_64bit(inventory):
        return _(
            "{image}: needs a 64-bit CPU; this CPU has no 'lm' flag (32-bit only).",
            image=entry.name,
        )
    ram = machine_ram_bytes(inventory)
    need_ram = entry.min_ram_mib * MIB
    if need_ram and ram < need_ram * RAM_TOLERANCE:
        return _(
            "{image}: needs {need} MiB of RAM; this machine has {have} MiB.",
            image=entry.name,
            need=entry.min_ram_mib,
            have=_mib(ram),
        )
    need_disk = max(entry.min_disk_mib * MIB, entry.last_used_byte)
    if disk_bytes is not None and disk_bytes < need_disk:
        return _(
            "{image}: needs a disk of {need} MiB; the disk has {have} MiB.",
            image=entry.name,
            need=_mib(need_disk),
            have=_mib(disk_bytes),
        )
    return None


def choose_image(
    inventory: Inventory,
    profile: Any,
    entries: list[ImageEntry],
    target_disk_bytes: int | None = None,
) -> tuple[ImageEntry | None, list[str]]:
    """The best image for this machine and why (translated reasons, the choice last).

    Among the images that fit (architecture, RAM, disk), the profile's ``image.prefer`` order
    wins (listed names first, in that order; the others after); then a 64-bit machine gets an amd64 image before an i686 one; then the newest
    version.
    """
    disk = target_disk_bytes if target_disk_bytes is not None else largest_disk_bytes(inventory)
    prefer = _preferences(profile)
    wide = is_64bit(inventory)
    reasons: list[str] = []
    fitting: list[ImageEntry] = []
    for entry in entries:
        problem = why_not(entry, inventory, disk)
        if problem is not None:
            reasons.append(problem)
        else:
            fitting.append(entry)
    if not fitting:
        reasons.append(_("No image in the catalogue suits this machine."))
        return None, reasons

    def rank(entry: ImageEntry) -> tuple[int, int, str]:
        order = prefer.index(entry.name) if entry.name in prefer else len(prefer)
        arch = 0 if (entry.architecture == "amd64") == wide else 1
        return order, arch, _neg_version(entry.version)

    best = min(fitting, key=rank)
    cpu = _("64-bit CPU") if wide else _("32-bit CPU")
    ram = machine_ram_bytes(inventory)
    reasons.append(
        _(
            "Chosen: {image} {version} ({arch}) for a {cpu}, {ram} GiB of RAM (needs {need_ram} "
            "MiB), disk {disk} (needs {need_disk} MiB).",
            image=best.name,
            version=best.version,
            arch=best.architecture,
            cpu=cpu,
            ram=_gib(ram),
            need_ram=best.min_ram_mib,
            disk=_("{size} GiB", size=_gib(disk)) if disk is not None else _("unknown"),
            need_disk=_mib(max(best.min_disk_mib * MIB, best.last_used_byte)),
        )
    )
    return best, reasons


def _neg_version(version: str) -> str:
    """Sort key putting newer versions first (numeric parts compared as numbers)."""
    parts = [p.zfill(8) if p.isdigit() else p for p in version.replace("-", ".").split(".")]
    return "".join(chr(0x10FFFF - ord(c)) for c in ".".join(parts))
