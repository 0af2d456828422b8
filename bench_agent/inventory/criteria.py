"""The hardware criteria of a grading: processor, memory, disks, optical drive, sound and
network against the profile's rules, each a pass / remediate / fail ``Criterion``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from bench_agent.i18n import N_, SUPPORTED, _, both, get_language, translate
from bench_agent.inventory.health import assess_disk_i18n
from bench_agent.inventory.profile_rules import (
    DISK_TOLERANCE,
    GB,
    MB,
    CpuRule,
    DeviceRule,
    MemoryRule,
    OpticalRule,
    Profile,
)
from bench_agent.models.inventory import Disk, Inventory
from bench_agent.models.verdict import Criterion, CriterionStatus


def _mb(n: int | float) -> str:
    return f"{round(n / MB)} MB"


def _gb(n: int | float) -> str:
    return f"{n / GB:.0f} GB" if n >= 10 * GB else f"{n / GB:.1f} GB"


def _round_ram_up(mb: int) -> int:
    """Installed RAM estimated from what the kernel sees (modules come in 64 MB steps)."""
    return int(math.ceil(mb / 64.0) * 64)


class Grader:
    def __init__(self) -> None:
        self.criteria: list[Criterion] = []
        self.lang = get_language()

    def add(
        self,
        ident: str,
        status: CriterionStatus,
        measured: str,
        limit: str,
        message: dict[str, str],
        action: dict[str, str] | None = None,
    ) -> None:
        self.criteria.append(
            Criterion(
                id=ident,
                status=status,
                measured=measured,
                limit=limit,
                message=message.get(self.lang, message["en"]),
                messages=message,
                action=(action or {}).get(self.lang, (action or {}).get("en", "")),
                actions=action or {},
            )
        )


def _with_reasons(msgid: str, disk: str, reasons: list[dict[str, str]]) -> dict[str, str]:
    """``msgid`` in every language, its ``{reasons}`` joined from reasons in that language."""
    return {
        lang: translate(msgid, lang, disk=disk, reasons="; ".join(r[lang] for r in reasons))
        for lang in SUPPORTED
    }


def eligible_disks(inventory: Inventory, profile: Profile) -> list[Disk]:
    disks = []
    for disk in inventory.disks:
        if disk.kind == "loop" and not profile.wipe.allow_loop:
            continue
        if disk.kind not in ("disk", "loop") or disk.name.startswith(("zram", "ram")):
            continue  # RAM-backed swap devices are not hardware
        if disk.removable and not profile.wipe.allow_removable:
            continue
        if disk.transport == "usb" and not profile.wipe.allow_removable:
            continue
        disks.append(disk)
    return disks


def grade_cpu(g: Grader, inventory: Inventory, rule: CpuRule) -> None:
    cpu = inventory.cpu
    known = bool(cpu.flags or cpu.model)
    if rule.require_sse2:
        if not known:
            g.add("cpu.sse2", "unknown", "?", "SSE2", both("CPU features unknown"))
        elif cpu.has_sse2:
            g.add("cpu.sse2", "pass", "SSE2", "SSE2", both("the CPU has SSE2"))
        else:
            g.add(
                "cpu.sse2",
                "fail",
                _("no SSE2"),
                "SSE2",
                both(
                    "the CPU lacks SSE2 ({model}): the bench's software cannot run on it",
                    model=cpu.model or "?",
                ),
            )
    if rule.require_64bit:
        # The words shown in the verdict's measured/limit columns, in the operator's language;
        # "SSE2" and "PAE" are the instruction sets' names in every language.
        bits64 = _("64-bit")
        if not known:
            g.add("cpu.64bit", "unknown", "?", bits64, both("CPU features unknown"))
        elif cpu.is_64bit:
            g.add("cpu.64bit", "pass", bits64, bits64, both("the CPU is 64-bit capable"))
        else:
            g.add(
                "cpu.64bit",
                "fail",
                _("32-bit"),
                bits64,
                both("the CPU is 32-bit only ({model})", model=cpu.model or "?"),
            )
    if rule.require_pae:
        if cpu.has_pae:
            g.add("cpu.pae", "pass", "PAE", "PAE", both("the CPU has PAE"))
        else:
            g.add(
                "cpu.pae",
                "fail" if known else "unknown",
                _("no PAE"),
                "PAE",
                both("the CPU lacks PAE"),
            )
    if rule.min_mhz:
        limit = f"{rule.min_mhz:.0f} MHz"
        if cpu.mhz is None:
            g.add("cpu.speed", "unknown", "?", limit, both("CPU speed unknown"))
        elif cpu.mhz + 1 >= rule.min_mhz:
            g.add(
                "cpu.speed",
                "pass",
                f"{cpu.mhz:.0f} MHz",
                limit,
                both(
                    "CPU {measured} meets the minimum {limit}",
                    measured=f"{cpu.mhz:.0f} MHz",
                    limit=limit,
                ),
            )
        else:
            g.add(
                "cpu.speed",
                "fail",
                f"{cpu.mhz:.0f} MHz",
                limit,
                both(
                    "CPU {measured} is below the minimum {limit}",
                    measured=f"{cpu.mhz:.0f} MHz",
                    limit=limit,
                ),
            )
    if rule.min_logical_cpus > 1:
        limit = str(rule.min_logical_cpus)
        status: CriterionStatus = "pass" if cpu.logical_cpus >= rule.min_logical_cpus else "fail"
        g.add(
            "cpu.threads",
            status,
            str(cpu.logical_cpus),
            limit,
            both(
                "{measured} logical CPUs (minimum {limit})", measured=cpu.logical_cpus, limit=limit
            ),
        )


def grade_memory(g: Grader, inventory: Inventory, rule: MemoryRule) -> None:
    if not rule.min_mb:
        return
    memory = inventory.memory
    limit = f"{rule.min_mb} MB"
    if memory.installed_bytes:
        seen_mb = memory.installed_bytes // MB
        installed_mb = seen_mb
        measured = _("{size} installed", size=_mb(memory.installed_bytes))
    elif memory.total_bytes:
        seen_mb = memory.total_bytes // MB + rule.tolerance_mb
        installed_mb = _round_ram_up(memory.total_bytes // MB)
        measured = _("{size} usable", size=_mb(memory.total_bytes))
    else:
        g.add("ram", "unknown", "?", limit, both("memory size unknown"))
        return
    if seen_mb >= rule.min_mb:
        g.add(
            "ram",
            "pass",
            measured,
            limit,
            both("RAM {measured} meets the minimum {limit}", measured=measured, limit=limit),
        )
        return
    if rule.reject_below_mb and installed_mb < rule.reject_below_mb:
        g.add(
            "ram",
            "fail",
            measured,
            limit,
            both(
                "RAM {measured} is far below the minimum {limit}: not worth completing",
                measured=measured,
                limit=limit,
            ),
        )
        return
    missing = max(64, rule.min_mb - installed_mb)
    # Modules come in 128 MB steps on old boards and whole gigabytes on newer ones.
    step = 1024 if missing > 1024 else 128
    missing = int(math.ceil(missing / step) * step)
    amount = f"{missing // 1024} GB" if missing % 1024 == 0 else f"{missing} MB"
    g.add(
        "ram",
        "remediate",
        measured,
        limit,
        both("RAM {measured} is below the minimum {limit}", measured=measured, limit=limit),
        both("add {amount} RAM", amount=amount),
    )


def grade_disks(g: Grader, inventory: Inventory, profile: Profile) -> None:
    rule = profile.disk
    eligible = eligible_disks(inventory, profile)
    assessed: list[tuple[Disk, str]] = []
    for disk in eligible:
        level, reasons = assess_disk_i18n(disk.smart, profile.health)
        assessed.append((disk, level))
        label = f"{disk.name} ({disk.model})" if disk.model else disk.name
        ident = f"disk.{disk.name}.health"
        if level == "fail":
            others_ok = any(
                d is not disk
                and lvl != "fail"
                and d.size_bytes >= rule.min_gb * GB * DISK_TOLERANCE
                for d, lvl in _assess_all(eligible, profile)
            )
            limit_text = f"{rule.min_gb:.0f} GB"
            if others_ok:
                action = both("remove the failing disk {disk}", disk=label)
            elif rule.min_gb:
                action = both(
                    "replace the disk {disk} with one of at least {limit}",
                    disk=label,
                    limit=limit_text,
                )
            else:
                action = both("replace the disk {disk}", disk=label)
            message = _with_reasons(N_("disk {disk} is failing: {reasons}"), label, reasons)
            g.add(
                ident,
                "remediate" if rule.remediable else "fail",
                "fail",
                "pass",
                message,
                action if rule.remediable else None,
            )
        elif level == "warn":
            g.add(
                ident,
                "pass",
                "warn",
                "pass",
                _with_reasons(N_("disk {disk} is usable but worn: {reasons}"), label, reasons),
            )
        elif level == "unknown":
            g.add(
                ident,
                "unknown",
                "unknown",
                "pass",
                both("disk {disk}: health unknown (no SMART data)", disk=label),
            )
        else:
            g.add(ident, "pass", "pass", "pass", both("disk {disk} is healthy", disk=label))
    if not rule.min_gb and rule.ssd == "any":
        return
    limit = f"{rule.min_gb:.0f} GB"
    usable = [d for d, lvl in assessed if lvl != "fail"]
    best = max(usable, key=lambda d: d.size_bytes, default=None)
    if best is None and assessed:
        # Every disk is failing: the "replace the disk" action above already covers it.
        g.add(
            "disk.capacity",
            "remediate" if rule.remediable else "fail",
            _("no disk"),
            limit,
            both("no usable disk: the failing disk must be replaced"),
        )
    elif best is None:
        g.add(
            "disk.capacity",
            "remediate" if rule.remediable else "fail",
            _("no disk"),
            limit,
            both("no usable disk"),
            both("install a disk of at least {limit}", limit=limit) if rule.remediable else None,
        )
    elif best.size_bytes < rule.min_gb * GB * DISK_TOLERANCE:
        measured = _gb(best.size_bytes)
        g.add(
            "disk.capacity",
            "remediate" if rule.remediable else "fail",
            measured,
            limit,
            both(
                "largest usable disk {measured} is below the minimum {limit}",
                measured=measured,
                limit=limit,
            ),
            both("install a disk of at least {limit}", limit=limit) if rule.remediable else None,
        )
    else:
        measured = _gb(best.size_bytes)
        g.add(
            "disk.capacity",
            "pass",
            measured,
            limit,
            both("disk {measured} meets the minimum {limit}", measured=measured, limit=limit),
        )
    if rule.ssd != "any" and best is not None:
        is_ssd = best.rotational is False or best.transport == "nvme"
        kind = "SSD" if is_ssd else ("HDD" if best.rotational else "?")
        if is_ssd:
            g.add("disk.ssd", "pass", kind, "SSD", both("the system disk is an SSD"))
        else:
            required = rule.ssd == "required" and not rule.remediable
            g.add(
                "disk.ssd",
                "fail" if required else "remediate",
                kind,
                "SSD",
                both("the system disk is not an SSD"),
                None if required else both("install an SSD of at least {limit}", limit=limit),
            )


def _assess_all(disks: list[Disk], profile: Profile) -> list[tuple[Disk, str]]:
    return [(d, assess_disk_i18n(d.smart, profile.health)[0]) for d in disks]


def grade_optical(g: Grader, inventory: Inventory, rule: OpticalRule) -> None:
    if rule.required == "none":
        return
    needs: dict[str, tuple[Callable[[Any], bool], dict[str, str]]] = {
        "cd": (lambda d: d.can_read_cd or d.can_read_dvd, both("install a CD or DVD drive")),
        "dvd": (lambda d: d.can_read_dvd, both("install a DVD drive")),
        "dvd-writer": (lambda d: d.can_write_dvd, both("install a DVD writer")),
    }
    test, action = needs[rule.required]
    limit = rule.required.upper().replace("-WRITER", " writer")
    drives = inventory.optical
    good = [d for d in drives if test(d)]
    if good:
        drive = good[0]
        measured = " ".join(x for x in (drive.vendor, drive.model) if x) or drive.name
        g.add(
            "optical",
            "pass",
            measured,
            limit,
            both("optical drive {drive} meets the need ({limit})", drive=measured, limit=limit),
        )
        return
    measured = (
        _("none")
        if not drives
        else ", ".join(" ".join(x for x in (d.vendor, d.model) if x) or d.name for d in drives)
    )
    status: CriterionStatus = "remediate" if rule.remediable else "fail"
    g.add(
        "optical",
        status,
        measured,
        limit,
        both("no optical drive that can read {limit}", limit=limit)
        if not drives or rule.required != "dvd-writer"
        else both("no DVD writer"),
        action if rule.remediable else None,
    )


def grade_device(
    g: Grader,
    ident: str,
    present: bool,
    measured: str,
    rule: DeviceRule,
    missing: dict[str, str],
    action: dict[str, str],
    ok: dict[str, str],
) -> None:
    if not rule.required:
        return
    if present:
        g.add(ident, "pass", measured, _("present"), ok)
    else:
        g.add(
            ident,
            "remediate" if rule.remediable else "fail",
            _("none"),
            _("present"),
            missing,
            action if rule.remediable else None,
        )
