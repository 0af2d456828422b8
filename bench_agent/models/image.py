"""Imaging results: which master went onto which disk, verified how."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from bench_agent.models.base import SCHEMA_VERSION, Model


class ImageReport(Model):
    schema_version: int = SCHEMA_VERSION
    device: str
    image: str  # catalogue name
    version: str = ""
    architecture: str = ""
    image_sha256: str = ""
    status: Literal["success", "failed", "aborted"]
    status_detail: str = ""
    bytes_written: int = 0
    ranges_total: int = 0
    ranges_verified: int = 0
    readback_verified: bool = False
    grown: bool = False
    final_partition_bytes: int | None = None
    checks: dict[str, str] = Field(default_factory=dict)  # "sgdisk -v": "ok", "e2fsck -n": "ok"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    throughput_mbps: float | None = None
