"""Sanitization results: per-disk report and certificate (NIST SP 800-88 §4.8 fields)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bench_agent.models.base import SCHEMA_VERSION, Model

if TYPE_CHECKING:
    from bench_agent.devices.guard import GuardPolicy
    from bench_agent.models.inventory import Disk

WipeStatus = Literal["erased", "erased_with_exceptions", "failed", "aborted"]
WipeMethod = Literal[
    "zero",
    "random",
    "nvme-sanitize-crypto",
    "nvme-sanitize-block",
    "nvme-format-crypto",
    "nvme-format-user-data",
    "ata-sanitize-crypto",
    "ata-sanitize-block",
    "ata-sanitize-overwrite",
    "ata-secure-erase-enhanced",
    "ata-secure-erase",
]
VerifyMode = Literal["full", "sample", "none"]

# Strongest first. Sanitize purges everything (including remapped and hidden sectors);
# crypto erase is the fastest purge.
FIRMWARE_METHODS: list[str] = [
    "nvme-sanitize-crypto",
    "nvme-sanitize-block",
    "nvme-format-crypto",
    "nvme-format-user-data",
    "ata-sanitize-crypto",
    "ata-sanitize-block",
    "ata-sanitize-overwrite",
    "ata-secure-erase-enhanced",
    "ata-secure-erase",
]


class BadRange(Model):
    start_byte: int
    length: int
    phase: str = "write"  # write | verify
    error: str = ""


class HiddenAreas(Model):
    """HPA/DCO as detected; never claim hidden sectors were erased when they were not."""

    checked: bool = False
    hpa_present: bool | None = None
    dco_present: bool | None = None
    native_max_sectors: int | None = None
    visible_sectors: int | None = None
    erased: bool = False
    note: str = ""


class MethodOption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str
    level: Literal["clear", "purge"]
    supported: bool
    allowed: bool
    reason: str = ""


class WipePlan(BaseModel):
    """What will be done to one disk (shown by ``--dry-run``, confirmed by the operator,
    journaled by the workflow and run by ``run_wipes``)."""

    model_config = ConfigDict(extra="forbid")

    device: str
    kname: str
    model: str = ""
    vendor: str = ""
    serial: str = ""
    size_bytes: int
    logical_sector: int = 512
    physical_sector: int = 512
    transport: str = ""
    rotational: bool | None = None
    media_type: str = ""
    method: str
    level: Literal["clear", "purge"]
    verify: VerifyMode = "sample"
    fallback: str | None = None  # overwrite used if the firmware purge fails
    options: list[MethodOption] = Field(default_factory=list)
    hidden_areas: HiddenAreas = Field(default_factory=HiddenAreas)
    estimate_s: float | None = None
    notes: list[str] = Field(default_factory=list)
    detection: dict[str, Any] = Field(default_factory=dict)
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    allow_removable: bool = False
    allow_loop: bool = True
    resume_journal: str = ""
    resume_from: int = 0
    seed: str = ""

    @classmethod
    def for_disk(cls, disk: Disk, **fields: Any) -> WipePlan:
        """The plan of ``disk``: its identity fields copied here, and only here (the one step
        inventory disk -> plan); ``fields`` give the method, and what the drive's own firmware
        said when lsblk knew less (model, serial)."""
        from bench_agent.devices.lsblk import disk_vendor

        identity: dict[str, Any] = {
            "device": disk.path or f"/dev/{disk.name}",
            "kname": disk.name,
            "model": disk.model,
            "vendor": disk_vendor(disk.vendor),
            "serial": disk.serial,
            "size_bytes": disk.size_bytes,
            "logical_sector": disk.logical_sector_size,
            "physical_sector": disk.physical_sector_size,
            "transport": disk.transport,
            "rotational": disk.rotational,
            "media_type": disk.media_type,
        }
        return cls(**{**identity, **fields})

    @property
    def is_firmware(self) -> bool:
        return self.method in FIRMWARE_METHODS

    @property
    def identity(self) -> str:
        return self.serial or self.kname

    def policy(self) -> GuardPolicy:
        from bench_agent.devices.guard import GuardPolicy

        return GuardPolicy(allow_removable=self.allow_removable, allow_loop=self.allow_loop)


class WipeReport(Model):
    schema_version: int = SCHEMA_VERSION
    device: str
    model: str = ""
    vendor: str = ""
    serial: str = ""
    size_bytes: int = 0
    media_type: str = ""  # magnetic (HDD), flash (SSD), NVMe flash, USB
    method: WipeMethod | str
    level: Literal["clear", "purge"]
    tool: str = ""
    tool_version: str = ""
    verification: Literal["full", "sample", "none"] = "none"
    verification_result: Literal["passed", "failed", "not_done"] = "not_done"
    verification_detail: str = ""
    status: WipeStatus
    status_detail: str = ""
    bytes_written: int = 0
    bytes_verified: int = 0
    bad_ranges: list[BadRange] = Field(default_factory=list)
    hidden_areas: HiddenAreas = Field(default_factory=HiddenAreas)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    throughput_mbps: float | None = None
    certificate_id: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def for_plan(cls, plan: WipePlan, **fields: Any) -> WipeReport:
        """The report of ``plan``'s disk: the identity fields the certificate states, copied
        here and only here (the one step plan -> report); ``fields`` give the rest."""
        identity: dict[str, Any] = {
            "device": plan.device,
            "model": plan.model,
            "vendor": plan.vendor,
            "serial": plan.serial,
            "size_bytes": plan.size_bytes,
            "media_type": plan.media_type,
            "method": plan.method,
            "level": plan.level,
            "verification": plan.verify,
        }
        return cls(**{**identity, **fields})
