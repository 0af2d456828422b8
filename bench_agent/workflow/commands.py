"""What a bench command decides before it calls an engine, in one place, by the workflow's rules.

The CLI commands (``disks``, ``wipe``, ``station``, ``images``, ``image``, ``check``) are thin
adapters over these calls: they read flags, ask the operator, print. The rules are the
workflow's: the station's profile unless one is named, the device policy from the one builder
``GuardPolicy.for_profile`` (a loop device only when named), the wipe methods and read-back the
profile allows, the automatic checks and then the grading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench_agent.progress import ProgressCallback

if TYPE_CHECKING:
    from bench_agent.config import AgentSettings
    from bench_agent.devices.guard import GuardPolicy
    from bench_agent.inventory.profiles import Profile
    from bench_agent.models.inventory import Inventory
    from bench_agent.models.record import AutoCheck
    from bench_agent.models.verdict import Verdict
    from bench_agent.models.wipe import VerifyMode, WipePlan
    from bench_agent.sanitize.plan import RequestedMethod


def station_profile(name: str | None, settings: AgentSettings) -> Profile | None:
    """The profile named on the command line, else the station's (None when neither is set)."""
    from bench_agent.inventory.profiles import load_profile

    chosen = name or settings.profile
    return load_profile(chosen) if chosen else None


def device_policy(profile: Profile | None, settings: AgentSettings, *, named: bool) -> GuardPolicy:
    """The guard's policy for a destructive step. ``named``: the disks were named by the
    operator (``wipe``, ``image``, ``run --disks``): only then is a loop device taken."""
    from bench_agent.devices.guard import GuardPolicy

    return GuardPolicy.for_profile(
        profile, station_allows_removable=bool(settings.allow_removable), named=named
    )


@dataclass(frozen=True)
class WipeRules:
    """How disks are wiped on this bench: the device policy, the methods the profile allows
    (None: every method the disk supports) and the profile's read-back."""

    policy: GuardPolicy
    methods: list[str] | None
    verify: VerifyMode


def wipe_rules(profile: Profile | None, settings: AgentSettings, *, named: bool) -> WipeRules:
    methods: list[str] | None = None
    verify: VerifyMode = "sample"
    if profile is not None:
        methods = [str(m) for m in profile.wipe.methods] or None
        verify = profile.wipe.verify
    return WipeRules(device_policy(profile, settings, named=named), methods, verify)


def plan_disk_wipes(
    devices: Sequence[str],
    rules: WipeRules,
    *,
    method: RequestedMethod = "auto",
    verify: VerifyMode | None = None,
    resume: bool = False,
    journal_directory: Path | None = None,
) -> list[WipePlan]:
    """Plan every disk under the bench's rules (any refusal stops all before a byte is written);
    ``verify`` overrides the profile's read-back; ``resume`` reads the station's journal
    (``journal_directory``)."""
    from bench_agent.sanitize import plan_wipes

    return plan_wipes(
        list(devices),
        method=method,
        verify=verify or rules.verify,
        allowed_methods=rules.methods,
        policy=rules.policy,
        resume=resume,
        journal_directory=journal_directory,
    )


def self_test_disks(inventory: Inventory, progress: ProgressCallback) -> None:
    """Run each disk's SMART short self-test and grade its health again with the result; a disk
    that cannot run one gets a warning in the inventory instead."""
    from bench_agent.errors import BenchError
    from bench_agent.inventory.health import judge_disk
    from bench_agent.inventory.selftest import run_short_self_test

    for disk in inventory.disks:
        if not disk.smart.available:
            continue
        try:
            disk.smart.self_test = run_short_self_test(disk.name, progress)
        except BenchError as exc:
            inventory.warnings.append(f"{disk.name}: {exc.message}")
            continue
        judge_disk(disk)  # check_machine grades it again with the profile's limits


def check_machine(
    inventory: Inventory, profile: Profile, *, quick: bool, progress: ProgressCallback
) -> tuple[list[AutoCheck], Verdict]:
    """The automatic checks, then the verdict against ``profile`` (guided checks not asked)."""
    from bench_agent.inventory.checks import run_auto_checks
    from bench_agent.inventory.profiles import grade_inventory

    judge_disks(inventory, profile)
    checks = run_auto_checks(inventory, quick=quick, progress=progress)
    return checks, grade_inventory(inventory, profile, auto_checks=checks)


def judge_disks(inventory: Inventory, profile: Profile) -> None:
    """One health value per disk: the grading profile's limits (shown, graded, and deciding
    which disk gets the image), in the check command as in the workflow."""
    from bench_agent.inventory.health import judge_disk

    for disk in inventory.disks:
        judge_disk(disk, profile.health)
