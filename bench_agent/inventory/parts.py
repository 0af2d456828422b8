"""The parts bin's rules, as pure functions of inventories: which parts of a rejected or
remediated machine are worth keeping, whether a stocked memory module fits a machine that
lacks RAM (type, form factor, free slot, board maximum), the suggestion its verdict shows,
and whether the re-inventory after fitting sees the module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bench_agent.i18n import _
from bench_agent.models.inventory import Inventory, MemoryModule
from bench_agent.models.part import Part, StockedPart
from bench_agent.models.verdict import Verdict

MB = 1 << 20


def size_text(size_bytes: int) -> str:
    if size_bytes >= 1 << 30 and size_bytes % (1 << 30) == 0:
        return f"{size_bytes >> 30} GB"
    if size_bytes >= 10 * 10**9:
        return f"{size_bytes / 10**9:.0f} GB"  # disks: decimal gigabytes, as on their label
    return f"{round(size_bytes / MB)} MB"


def memory_description(mem_type: str, speed_mts: int | None, size_bytes: int) -> str:
    """ "DDR-400 256 MB": what a technician reads on the module's sticker and on the bin."""
    kind = f"{mem_type}-{speed_mts}" if mem_type and speed_mts else (mem_type or "RAM")
    return f"{kind} {size_text(size_bytes)}"


def memory_part(module: MemoryModule) -> Part:
    return Part(
        kind="memory",
        description=memory_description(module.type, module.speed_mts, module.size_bytes),
        serial=module.serial,
        slot=module.locator,
        mem_type=module.type,
        form_factor=module.form_factor,
        size_bytes=module.size_bytes,
        speed_mts=module.speed_mts,
        model=module.manufacturer,
    )


def harvestable_parts(inventory: Inventory, wiped: Mapping[str, str] | None = None) -> list[Part]:
    """The parts worth keeping: every memory module DMI lists, every disk that passed SMART
    and was wiped (``wiped``: disk serial → certificate id of an erased disk), the optical
    drives and the sound cards. Power supplies are typed by hand (``power_supply``)."""
    wiped = wiped or {}
    parts = [memory_part(m) for m in inventory.memory.modules if m.size_bytes > 0]
    for disk in inventory.disks:
        if disk.kind != "disk" or disk.health != "pass" or disk.smart.overall == "FAILED":
            continue
        certificate = wiped.get(disk.serial, "") if disk.serial else ""
        if not certificate:
            continue  # not wiped (or not certified): never leaves the machine as a spare
        parts.append(
            Part(
                kind="disk",
                description=f"{disk.model or disk.name} {size_text(disk.size_bytes)}".strip(),
                serial=disk.serial,
                slot=disk.name,
                model=disk.model,
                size_bytes=disk.size_bytes,
                certificate_id=certificate,
            )
        )
    for drive in inventory.optical:
        parts.append(
            Part(
                kind="optical",
                description=" ".join(x for x in (drive.vendor, drive.model) if x) or drive.name,
                slot=drive.name,
                model=drive.model,
            )
        )
    for card in inventory.sound:
        parts.append(
            Part(
                kind="sound",
                description=card.name or card.id or f"card{card.card}",
                slot=f"card{card.card}",
                model=card.driver,
            )
        )
    return parts


def power_supply(description: str, watts: int | None = None, serial: str = "") -> Part:
    return Part(kind="psu", description=description.strip(), watts=watts, serial=serial.strip())


# ------------------------------------------------------------------------------ memory fit
def memory_fit_problem(target: Inventory, part: Part) -> str | None:
    """Why this module cannot go into the target machine (translated), or None if it fits."""
    if part.kind != "memory":
        return _("this part is not a memory module")
    memory = target.memory
    modules = [m for m in memory.modules if m.size_bytes > 0]
    if not modules:
        return _("the machine's memory type is unknown (DMI unreadable): check the board by hand")
    types = {m.type for m in modules if m.type}
    if part.mem_type and types and part.mem_type not in types:
        return _(
            "a {part} module does not fit a board that takes {board}",
            part=part.mem_type,
            board=", ".join(sorted(types)),
        )
    forms = {m.form_factor for m in modules if m.form_factor}
    if part.form_factor and forms and part.form_factor not in forms:
        return _(
            "a {part} module does not fit the board's {board} slots",
            part=part.form_factor,
            board=", ".join(sorted(forms)),
        )
    if memory.slots is not None and memory.slots - len(modules) <= 0:
        return _(
            "no free memory slot ({slots} slots, {modules} modules)",
            slots=memory.slots,
            modules=len(modules),
        )
    installed = sum(m.size_bytes for m in modules)
    if memory.max_capacity_bytes and installed + part.size_bytes > memory.max_capacity_bytes:
        return _(
            "the board takes at most {max} ({installed} installed)",
            max=size_text(memory.max_capacity_bytes),
            installed=size_text(installed),
        )
    return None


def _ram_criterion_limit(verdict: Verdict) -> tuple[str, int] | None:
    for criterion in verdict.criteria:
        if criterion.id == "ram" and criterion.status == "remediate":
            match = re.match(r"\s*(\d+)\s*MB", criterion.limit)
            if match:
                return criterion.action, int(match.group(1)) * MB
    return None


@dataclass
class StockGroup:
    description: str
    bin: str
    codes: list[str]
    size_bytes: int


@dataclass
class MemorySuggestion:
    action: str  # the verdict's remediation ("add 256 MB RAM")
    missing_bytes: int
    groups: list[StockGroup] = field(default_factory=list)  # fitting modules, best first
    refused: list[tuple[str, str]] = field(default_factory=list)  # (code, why it does not fit)

    @property
    def best(self) -> StockGroup | None:
        return self.groups[0] if self.groups else None

    @property
    def text(self) -> str:
        """ "add 256 MB RAM: 3 × DDR-400 256 MB in bin B3" (the best match), translated."""
        if self.best is None:
            return _("{action}: no matching module in stock", action=self.action)
        return _(
            "{action}: {count} × {part} in bin {bin}",
            action=self.action,
            count=len(self.best.codes),
            part=self.best.description,
            bin=self.best.bin or "?",
        )


def suggest_memory(
    target: Inventory, verdict: Verdict, stock: Iterable[StockedPart]
) -> MemorySuggestion | None:
    """The modules in stock that fit a machine whose RAM is "to remediate" (None otherwise):
    grouped by description and bin; a module that alone makes up the shortfall comes first,
    the smallest such first (the bigger ones stay for machines that need them)."""
    found = _ram_criterion_limit(verdict)
    if found is None:
        return None
    action, limit = found
    installed = target.memory.installed_bytes or target.memory.total_bytes
    suggestion = MemorySuggestion(action, max(0, limit - installed))
    groups: dict[tuple[str, str], StockGroup] = {}
    for part in stock:
        if part.kind != "memory" or part.state != "in_stock":
            continue
        problem = memory_fit_problem(target, part)
        if problem is not None:
            suggestion.refused.append((part.code, problem))
            continue
        key = (part.description, part.bin)
        group = groups.setdefault(key, StockGroup(part.description, part.bin, [], part.size_bytes))
        group.codes.append(part.code)

    def rank(group: StockGroup) -> tuple[int, int, str, str]:
        enough = group.size_bytes >= suggestion.missing_bytes
        return (
            0 if enough else 1,
            group.size_bytes if enough else -group.size_bytes,
            group.bin,
            group.description,
        )

    suggestion.groups = sorted(groups.values(), key=rank)
    return suggestion


def fitted_module_problem(before: Inventory, after: Inventory, part: Part) -> str | None:
    """Whether the re-inventory sees the fitted module: a module of its size (and type) in a
    slot that was empty before. None when seen; otherwise why not (translated)."""
    taken = {m.locator for m in before.memory.modules if m.size_bytes > 0}
    new = [m for m in after.memory.modules if m.size_bytes > 0 and m.locator not in taken]
    for module in new:
        if module.size_bytes == part.size_bytes and (
            not part.mem_type or not module.type or module.type == part.mem_type
        ):
            return None
    if not after.memory.modules and after.memory.total_bytes > before.memory.total_bytes:
        return None  # no DMI on this machine: the kernel sees more memory, as it should
    return _(
        "the fitted {part} module is not seen: check it is seated (slots: {slots})",
        part=part.description,
        slots=", ".join(f"{m.locator} {size_text(m.size_bytes)}" for m in new)
        or _("no new module"),
    )
