"""Minimum-spec profiles (``profiles/*.toml``) and the grading of an inventory against one.

Grading is a pure function: inventory (+ guided and automatic check results) and a profile in,
:class:`Verdict` out. Each criterion says pass / remediate (with the action to do) / fail, with
the measured value and the limit, in English and French.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bench_agent.errors import InputError
from bench_agent.i18n import N_, _, both, get_language
from bench_agent.inventory.health import HealthThresholds, assess_disk_i18n
from bench_agent.models.inventory import Disk, Inventory
from bench_agent.models.record import AutoCheck, GuidedCheck
from bench_agent.models.verdict import Criterion, CriterionStatus, Outcome, Verdict
from bench_agent.models.wipe import WipeMethod
from bench_agent.resources import bundled_profiles

GUIDED_IDS = ("sound", "optical", "keyboard", "screen", "mouse")
MB = 1 << 20
GB = 1000**3  # disk sizes are sold in decimal gigabytes
# A disk sold as "40 GB" may hold a little less than 40·10⁹ bytes: it still meets 40 GB.
DISK_TOLERANCE = 0.98


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CpuRule(_Strict):
    min_mhz: float = 0
    min_logical_cpus: int = 1
    require_sse2: bool = False
    require_pae: bool = False
    require_64bit: bool = False


class MemoryRule(_Strict):
    min_mb: int = 0
    # Below this the machine is rejected instead of completed (its board cannot take enough).
    reject_below_mb: int = 0
    # The kernel and shared video memory hide part of the RAM: this much below counts as met.
    tolerance_mb: int = 64


class DiskRule(_Strict):
    min_gb: float = 0
    ssd: Literal["any", "preferred", "required"] = "any"
    # A missing, too small or failing disk is replaced from the workshop's stock.
    remediable: bool = True


class OpticalRule(_Strict):
    required: Literal["none", "cd", "dvd", "dvd-writer"] = "none"
    remediable: bool = True


class DeviceRule(_Strict):
    required: bool = False
    remediable: bool = True


def _default_methods() -> list[WipeMethod]:
    return ["random", "zero"]


class WipePolicy(_Strict):
    methods: list[WipeMethod] = Field(default_factory=lambda: _default_methods())
    verify: Literal["full", "sample", "none"] = "sample"
    allow_removable: bool = False
    allow_loop: bool = False
    # A rejected machine leaves for parts or recycling: its disks are wiped all the same.
    wipe_rejected: bool = True


class ImagePolicy(_Strict):
    prefer: list[str] = Field(default_factory=list)


class Profile(_Strict):
    name: str
    title: dict[str, str] = Field(default_factory=dict)
    description: dict[str, str] = Field(default_factory=dict)
    cpu: CpuRule = Field(default_factory=CpuRule)
    memory: MemoryRule = Field(default_factory=MemoryRule)
    disk: DiskRule = Field(default_factory=DiskRule)
    optical: OpticalRule = Field(default_factory=OpticalRule)
    sound: DeviceRule = Field(default_factory=DeviceRule)
    network: DeviceRule = Field(default_factory=DeviceRule)
    guided_checks: list[Literal["sound", "optical", "keyboard", "screen", "mouse"]] = Field(
        default_factory=list
    )
    # What a failed guided check means: remediate (replace the part) or reject the machine.
    guided_on_fail: dict[str, Literal["remediate", "reject"]] = Field(default_factory=dict)
    # More remediation actions than this and the machine goes to parts instead.
    max_actions: int = 3
    wipe: WipePolicy = Field(default_factory=WipePolicy)
    image: ImagePolicy = Field(default_factory=ImagePolicy)
    health: HealthThresholds = Field(default_factory=HealthThresholds)
    path: str = ""  # where it was loaded from (not in the TOML)

    @field_validator("title", "description")
    @classmethod
    def _languages(cls, value: dict[str, str]) -> dict[str, str]:
        if value and "en" not in value:
            raise ValueError("needs an 'en' entry (and 'fr')")
        return value

    @field_validator("guided_on_fail")
    @classmethod
    def _guided_keys(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(GUIDED_IDS))
        if unknown:
            raise ValueError(f"unknown guided check(s) {unknown}; use {list(GUIDED_IDS)}")
        return value

    def display_title(self, language: str | None = None) -> str:
        lang = language or get_language()
        return self.title.get(lang) or self.title.get("en") or self.name


# --- loading -----------------------------------------------------------------------------


def profiles_dir() -> Path:
    env = os.environ.get("BENCH_AGENT_PROFILES")
    if env:
        return Path(env)
    return bundled_profiles()


def _describe_expected(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _("no such field (check the spelling)")
    if kind == "missing":
        return _("this field is required")
    if kind.startswith("literal_error") and "expected" in ctx:
        return _("one of {choices}", choices=ctx["expected"])
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("a whole number")
    if kind in ("float_parsing", "float_type"):
        return _("a number")
    if kind in ("bool_parsing", "bool_type"):
        return _("true or false")
    if kind == "list_type":
        return _("a list in brackets")
    if kind in ("dict_type", "model_type"):
        return _("a table")
    if kind == "string_type":
        return _("a text in quotes")
    return str(error.get("msg", ""))


def parse_profile(text: str, source: str, default_name: str = "") -> Profile:
    """Validate a profile's TOML text; errors name the file, the field and what is expected."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            _("{file}: not valid TOML: {error}", file=source, error=exc),
            _("Fix the syntax; see profiles/pentium4.toml for an example."),
        ) from exc
    data.setdefault("name", default_name)
    data.pop("path", None)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "?"
        raise InputError(
            _(
                "{file}: field '{field}': expected {expected} (got {value})",
                file=source,
                field=field,
                expected=_describe_expected(dict(first)),
                value=repr(first.get("input"))[:60],
            ),
            _("Fix the profile; see profiles/pentium4.toml for every field."),
        ) from exc
    profile.path = source
    return profile


def load_profile(name_or_path: str) -> Profile:
    """A profile by name (``profiles/<name>.toml``) or by path to a TOML file."""
    candidate = Path(name_or_path)
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        path = candidate
    else:
        path = profiles_dir() / f"{name_or_path}.toml"
    if not path.is_file():
        available = ", ".join(p.name for p in list_profiles_quiet()) or "-"
        raise InputError(
            _("Unknown profile '{name}' ({path} not found).", name=name_or_path, path=path),
            _("Available profiles: {names}.", names=available),
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            _("Cannot read the profile {path}: {error}", path=path, error=exc),
            _("Check the file's permissions and encoding (UTF-8)."),
        ) from exc
    return parse_profile(text, str(path), default_name=path.stem)


def list_profiles() -> list[Profile]:
    """Every profile in the profiles directory, by name (a malformed one raises InputError)."""
    folder = profiles_dir()
    return [load_profile(str(p)) for p in sorted(folder.glob("*.toml"))]


def list_profiles_quiet() -> list[Profile]:
    out: list[Profile] = []
    for path in sorted(profiles_dir().glob("*.toml")):
        try:
            out.append(load_profile(str(path)))
        except InputError:
            continue
    return out


# --- grading -----------------------------------------------------------------------------


def _mb(n: int | float) -> str:
    return f"{round(n / MB)} MB"


def _gb(n: int | float) -> str:
    return f"{n / GB:.0f} GB" if n >= 10 * GB else f"{n / GB:.1f} GB"


def _round_ram_up(mb: int) -> int:
    """Installed RAM estimated from what the kernel sees (modules come in 64 MB steps)."""
    return int(math.ceil(mb / 64.0) * 64)


class _Grader:
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


def _eligible_disks(inventory: Inventory, profile: Profile) -> list[Disk]:
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


def _grade_cpu(g: _Grader, inventory: Inventory, rule: CpuRule) -> None:
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
        if not known:
            g.add("cpu.64bit", "unknown", "?", "64-bit", both("CPU features unknown"))
        elif cpu.is_64bit:
            g.add("cpu.64bit", "pass", "64-bit", "64-bit", both("the CPU is 64-bit capable"))
        else:
            g.add(
                "cpu.64bit",
                "fail",
                "32-bit",
                "64-bit",
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


def _grade_memory(g: _Grader, inventory: Inventory, rule: MemoryRule) -> None:
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


def _grade_disks(g: _Grader, inventory: Inventory, profile: Profile) -> None:
    rule = profile.disk
    eligible = _eligible_disks(inventory, profile)
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
            reason_en = "; ".join(r["en"] for r in reasons)
            reason_fr = "; ".join(r["fr"] for r in reasons)
            message = {
                "en": both("disk {disk} is failing: {reasons}", disk=label, reasons=reason_en)[
                    "en"
                ],
                "fr": both("disk {disk} is failing: {reasons}", disk=label, reasons=reason_fr)[
                    "fr"
                ],
            }
            g.add(
                ident,
                "remediate" if rule.remediable else "fail",
                "fail",
                "pass",
                message,
                action if rule.remediable else None,
            )
        elif level == "warn":
            reason_en = "; ".join(r["en"] for r in reasons)
            reason_fr = "; ".join(r["fr"] for r in reasons)
            g.add(
                ident,
                "pass",
                "warn",
                "pass",
                {
                    "en": both(
                        "disk {disk} is usable but worn: {reasons}", disk=label, reasons=reason_en
                    )["en"],
                    "fr": both(
                        "disk {disk} is usable but worn: {reasons}", disk=label, reasons=reason_fr
                    )["fr"],
                },
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


def _grade_optical(g: _Grader, inventory: Inventory, rule: OpticalRule) -> None:
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


def _grade_device(
    g: _Grader,
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


# What the workshop does about a part whose guided or automatic check failed: replace it.
_REPLACE_ACTIONS = {
    "sound": N_("replace the sound card or the speakers"),
    "optical": N_("replace the optical drive"),
    "keyboard": N_("replace the keyboard"),
    "screen": N_("replace the screen"),
    "mouse": N_("replace the mouse"),
    "ram": N_("replace the faulty RAM module"),
}
# Automatic checks of these areas that fail ask for the part to be replaced; others reject.
_AUTO_REPLACEABLE = ("ram", "optical", "sound")


def _grade_not_applicable(g: _Grader, profile: Profile, inventory: Inventory, ident: str) -> None:
    """A guided check answered "not applicable" never counts as met (a workshop's view).

    Where the profile requires the part (the optical drive or the sound card it names), the
    answer does not excuse it: a drive the inventory found must be tested before the machine is
    kept (a remediation: test it), and a missing one is already a remediation or a failure of
    the inventory's own criterion. Elsewhere (no such part on this machine, a tower without its
    own screen or keyboard) the criterion stays "not checked": never "pass".
    """
    required = (ident == "optical" and profile.optical.required != "none") or (
        ident == "sound" and profile.sound.required
    )
    present = bool(
        inventory.optical if ident == "optical" else inventory.sound if ident == "sound" else False
    )
    if required:
        message = both(
            "guided check '{name}' answered not applicable, but the profile requires it",
            name=ident,
        )
        if present:
            g.add(
                f"guided.{ident}",
                "remediate",
                _("not applicable"),
                _("pass"),
                message,
                both("test it: guided check '{name}'", name=ident),
            )
        else:
            g.add(f"guided.{ident}", "unknown", _("not applicable"), _("pass"), message)
        return
    g.add(
        f"guided.{ident}",
        "unknown",
        _("not applicable"),
        _("pass"),
        both("guided check '{name}' not applicable: not counted as met", name=ident),
    )


def _grade_guided(
    g: _Grader, profile: Profile, guided: list[GuidedCheck], inventory: Inventory
) -> None:
    by_id = {c.id: c for c in guided}
    for ident in profile.guided_checks:
        check = by_id.get(ident)
        name = ident
        if check is None or check.status == "not_done":
            g.add(
                f"guided.{ident}",
                "unknown",
                _("not done"),
                _("pass"),
                both("guided check '{name}' not done yet", name=name),
            )
        elif check.status == "pass":
            g.add(
                f"guided.{ident}",
                "pass",
                _("pass"),
                _("pass"),
                both("guided check '{name}' passed", name=name),
            )
        elif check.status == "not_applicable":
            _grade_not_applicable(g, profile, inventory, ident)
        else:
            on_fail = profile.guided_on_fail.get(ident, "remediate")
            note = f" ({check.note})" if check.note else ""
            message = both("guided check '{name}' failed{note}", name=name, note=note)
            if on_fail == "reject":
                g.add(f"guided.{ident}", "fail", _("fail"), _("pass"), message)
            else:
                g.add(
                    f"guided.{ident}",
                    "remediate",
                    _("fail"),
                    _("pass"),
                    message,
                    both(_REPLACE_ACTIONS[ident]),
                )


def _grade_auto(g: _Grader, checks: list[AutoCheck]) -> None:
    for check in checks:
        ident = f"auto.{check.id}"
        text = check.message or check.measured
        if check.status in ("pass", "skipped"):
            continue
        if check.status == "warn":
            g.add(
                ident,
                "pass",
                check.measured,
                "",
                both("automatic check {name}: warning: {text}", name=check.id, text=text),
            )
            continue
        area = check.id.split(".", 1)[0]
        message = both("automatic check {name} failed: {text}", name=check.id, text=text)
        if area in _AUTO_REPLACEABLE:
            action = both(_REPLACE_ACTIONS[area])
            g.add(ident, "remediate", check.measured, "", message, action)
        else:
            g.add(ident, "fail", check.measured, "", message)


def _destination(inventory: Inventory, profile: Profile) -> Literal["parts", "recycling"]:
    reusable_disk = any(
        assess_disk_i18n(d.smart, profile.health)[0] in ("pass", "warn")
        for d in _eligible_disks(inventory, profile)
    )
    reusable_parts = reusable_disk or bool(inventory.optical) or bool(inventory.memory.modules)
    return "parts" if reusable_parts else "recycling"


def grade_inventory(
    inventory: Inventory,
    profile: Profile,
    guided: list[GuidedCheck] | None = None,
    auto_checks: list[AutoCheck] | None = None,
) -> Verdict:
    """Grade ``inventory`` against ``profile`` (pure: no I/O)."""
    g = _Grader()
    _grade_cpu(g, inventory, profile.cpu)
    _grade_memory(g, inventory, profile.memory)
    _grade_disks(g, inventory, profile)
    _grade_optical(g, inventory, profile.optical)
    _grade_device(
        g,
        "sound",
        bool(inventory.sound),
        ", ".join(c.name or c.id for c in inventory.sound),
        profile.sound,
        both("no sound card"),
        both("install a sound card"),
        both("sound card present"),
    )
    physical_net = [n for n in inventory.network if n.mac]
    _grade_device(
        g,
        "network",
        bool(physical_net),
        ", ".join(n.name for n in physical_net),
        profile.network,
        both("no network interface"),
        both("install a network card"),
        both("network interface present"),
    )
    if guided is not None:
        _grade_guided(g, profile, guided, inventory)
    if auto_checks:
        _grade_auto(g, auto_checks)

    statuses = [c.status for c in g.criteria]
    actions = [c for c in g.criteria if c.status == "remediate" and c.action]
    outcome: Outcome
    if "fail" in statuses:
        outcome = "rejected"
        failed = [c for c in g.criteria if c.status == "fail"]
        summary = {
            lang: both(
                "rejected: {reasons}",
                reasons="; ".join(c.messages.get(lang, c.message) for c in failed),
            )[lang]
            for lang in ("en", "fr")
        }
    elif len(actions) > profile.max_actions:
        outcome = "rejected"
        summary = both(
            "rejected: {count} repairs needed (more than {limit})",
            count=len(actions),
            limit=profile.max_actions,
        )
    elif actions or "remediate" in statuses:
        outcome = "remediate"
        summary = {
            lang: both(
                "kept after: {actions}",
                actions="; ".join(c.actions.get(lang, c.action) for c in actions),
            )[lang]
            for lang in ("en", "fr")
        }
    else:
        outcome = "kept"
        unknown = statuses.count("unknown")
        summary = (
            both("kept: meets every criterion of {profile}", profile=profile.name)
            if not unknown
            else both(
                "kept: meets the criteria of {profile} ({count} not checked)",
                profile=profile.name,
                count=unknown,
            )
        )
    lang = get_language()
    return Verdict(
        profile=profile.name,
        outcome=outcome,
        criteria=g.criteria,
        destination="reuse" if outcome != "rejected" else _destination(inventory, profile),
        summary=summary.get(lang, summary["en"]),
        summaries=summary,
        actions=[c.action for c in actions],
    )
