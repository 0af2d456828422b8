"""Sanitization results: per-disk report and certificate (NIST SP 800-88 §4.8 fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from bench_agent.models.base import SCHEMA_VERSION, Model

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
