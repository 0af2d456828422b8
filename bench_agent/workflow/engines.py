"""The engines the workflow drives: typed protocols, gathered in one injectable bundle.

Each default below is the real engine behind a plain import made inside the function, on
first call: starting the bench stays fast on old machines (the engine packages together cost
a quarter of a second here, several seconds on a Pentium IV), while mypy, import-linter and a
reader still see the whole main path. The training engines replace some of them with
stand-ins of the same types.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bench_agent.progress import ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from bench_agent.config import AgentSettings
    from bench_agent.devices.guard import GuardPolicy
    from bench_agent.devices.lsblk import BlockDevice
    from bench_agent.imaging.personalise import Personalisation
    from bench_agent.inventory.profiles import Profile
    from bench_agent.models.image import ImageEntry, ImageReport
    from bench_agent.models.inventory import Inventory
    from bench_agent.models.record import AutoCheck, BenchRecord, GuidedCheck
    from bench_agent.models.verdict import Verdict
    from bench_agent.models.wipe import VerifyMode, WipePlan, WipeReport
    from bench_agent.sanitize.certificate import CertificateContext
    from bench_agent.sanitize.plan import RequestedMethod
    from bench_agent.sanitize.validation import ValidationOptions

# One signed certificate per disk that ended erased (None otherwise).
WipeResult = tuple["WipeReport", "dict[str, Any] | None"]


class CollectInventory(Protocol):
    def __call__(
        self, evidence_dir: Path | None = None, save_evidence: Path | None = None
    ) -> Inventory: ...


class LoadProfile(Protocol):
    def __call__(self, name_or_path: str) -> Profile: ...


class GradeInventory(Protocol):
    def __call__(
        self,
        inventory: Inventory,
        profile: Profile,
        guided: list[GuidedCheck] | None = None,
        auto_checks: list[AutoCheck] | None = None,
    ) -> Verdict: ...


class RunAutoChecks(Protocol):
    def __call__(
        self, inventory: Inventory, *, quick: bool, progress: ProgressCallback
    ) -> list[AutoCheck]: ...


class SelfTest(Protocol):
    def __call__(self, device: str, progress: ProgressCallback) -> str: ...


class CheckTarget(Protocol):
    def __call__(self, device: str, policy: GuardPolicy | None = None) -> BlockDevice | None: ...


class PlanWipes(Protocol):
    def __call__(
        self,
        devices: list[str],
        *,
        method: RequestedMethod = "auto",
        verify: VerifyMode = "sample",
        allowed_methods: list[str] | None = None,
        policy: GuardPolicy | None = None,
    ) -> list[WipePlan]: ...


class RunWipes(Protocol):
    def __call__(
        self,
        plans: list[WipePlan],
        *,
        settings: AgentSettings,
        context: CertificateContext,
        progress: ProgressCallback,
        cancel: threading.Event | None = None,
        report_dir: Path | None = None,
        validation: ValidationOptions | None = None,
    ) -> list[WipeResult]: ...


class LoadCatalogue(Protocol):
    def __call__(self) -> list[ImageEntry]: ...


class ChooseImage(Protocol):
    def __call__(
        self,
        inventory: Inventory,
        profile: Profile,
        entries: list[ImageEntry],
        target_disk_bytes: int | None = None,
    ) -> tuple[ImageEntry | None, list[str]]: ...


class WriteImage(Protocol):
    def __call__(
        self,
        entry: ImageEntry,
        device: str,
        *,
        settings: AgentSettings,
        grow: bool = True,
        progress: ProgressCallback = ignore_progress,
        cancel: threading.Event | None = None,
        policy: GuardPolicy | None = None,
        personalisation: Personalisation | None = None,
    ) -> ImageReport: ...


class SubmitRecord(Protocol):
    def __call__(self, record: BenchRecord, settings: AgentSettings) -> str: ...


class PostHeartbeat(Protocol):
    def __call__(self, state: dict[str, Any], settings: AgentSettings) -> bool: ...


class LedgerStatus(Protocol):
    def __call__(self, settings: AgentSettings) -> tuple[bool, int]: ...


# ----------------------------------------------------------------- the real engines
def collect_inventory(
    evidence_dir: Path | None = None, save_evidence: Path | None = None
) -> Inventory:
    from bench_agent.inventory import collect_inventory

    return collect_inventory(evidence_dir=evidence_dir, save_evidence=save_evidence)


def load_profile(name_or_path: str) -> Profile:
    from bench_agent.inventory.profiles import load_profile

    return load_profile(name_or_path)


def grade_inventory(
    inventory: Inventory,
    profile: Profile,
    guided: list[GuidedCheck] | None = None,
    auto_checks: list[AutoCheck] | None = None,
) -> Verdict:
    from bench_agent.inventory.profiles import grade_inventory

    return grade_inventory(inventory, profile, guided=guided, auto_checks=auto_checks)


def run_auto_checks(
    inventory: Inventory, *, quick: bool, progress: ProgressCallback
) -> list[AutoCheck]:
    from bench_agent.inventory.checks import run_auto_checks

    return run_auto_checks(inventory, quick=quick, progress=progress)


def self_test(device: str, progress: ProgressCallback) -> str:
    from bench_agent.inventory.selftest import run_short_self_test

    return run_short_self_test(device, progress)


def check_target(device: str, policy: GuardPolicy | None = None) -> BlockDevice | None:
    from bench_agent.devices.guard import check_target

    return check_target(device, policy)


def plan_wipes(
    devices: list[str],
    *,
    method: RequestedMethod = "auto",
    verify: VerifyMode = "sample",
    allowed_methods: list[str] | None = None,
    policy: GuardPolicy | None = None,
) -> list[WipePlan]:
    from bench_agent.sanitize.plan import plan_wipes

    return plan_wipes(
        devices, method=method, verify=verify, allowed_methods=allowed_methods, policy=policy
    )


def run_wipes(
    plans: list[WipePlan],
    *,
    settings: AgentSettings,
    context: CertificateContext,
    progress: ProgressCallback,
    cancel: threading.Event | None = None,
    report_dir: Path | None = None,
    validation: ValidationOptions | None = None,
) -> list[WipeResult]:
    from bench_agent.sanitize.engine import run_wipes

    return run_wipes(
        plans,
        settings=settings,
        context=context,
        progress=progress,
        cancel=cancel,
        report_dir=report_dir,
        validation=validation,
    )


def station_catalogue(settings: AgentSettings) -> list[ImageEntry]:
    """The image catalogue of the station whose settings these are (``load_catalogue=None``)."""
    from bench_agent.imaging.catalogue import load_catalogue, station_images_dir

    return load_catalogue(station_images_dir(settings))


def choose_image(
    inventory: Inventory,
    profile: Profile,
    entries: list[ImageEntry],
    target_disk_bytes: int | None = None,
) -> tuple[ImageEntry | None, list[str]]:
    from bench_agent.imaging.choose import choose_image

    return choose_image(inventory, profile, entries, target_disk_bytes=target_disk_bytes)


def write_image(
    entry: ImageEntry,
    device: str,
    *,
    settings: AgentSettings,
    grow: bool = True,
    progress: ProgressCallback = ignore_progress,
    cancel: threading.Event | None = None,
    policy: GuardPolicy | None = None,
    personalisation: Personalisation | None = None,
) -> ImageReport:
    from bench_agent.imaging.writer import write_image

    return write_image(
        entry,
        device,
        settings=settings,
        grow=grow,
        progress=progress,
        cancel=cancel,
        policy=policy,
        personalisation=personalisation,
    )


def submit_record(record: BenchRecord, settings: AgentSettings) -> str:
    from bench_agent.sync import submit_record

    return submit_record(record, settings)


def post_heartbeat(state: dict[str, Any], settings: AgentSettings) -> bool:
    from bench_agent.sync import post_heartbeat

    return post_heartbeat(state, settings)


def ledger_status(settings: AgentSettings) -> tuple[bool, int]:
    from bench_agent.sync import ledger_status

    return ledger_status(settings)


@dataclass
class Engines:
    """The engines of one workflow; the defaults are the real ones (see their modules)."""

    collect_inventory: CollectInventory = collect_inventory
    load_profile: LoadProfile = load_profile
    grade_inventory: GradeInventory = grade_inventory
    run_auto_checks: RunAutoChecks = run_auto_checks
    self_test: SelfTest = self_test
    check_target: CheckTarget = check_target
    plan_wipes: PlanWipes = plan_wipes
    run_wipes: RunWipes = run_wipes
    # None: the workflow's station catalogue (``station_catalogue(settings)``); a stand-in
    # returns its own entries.
    load_catalogue: LoadCatalogue | None = None
    choose_image: ChooseImage = choose_image
    write_image: WriteImage = write_image
    submit_record: SubmitRecord = submit_record
    post_heartbeat: PostHeartbeat = post_heartbeat
    ledger_status: LedgerStatus = ledger_status
