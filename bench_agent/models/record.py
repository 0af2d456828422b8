"""The bench record: everything done to one machine, signed by the station, sent to the ledger."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from bench_agent.models.base import SCHEMA_VERSION, Model
from bench_agent.models.image import ImageReport
from bench_agent.models.inventory import Inventory
from bench_agent.models.verdict import Verdict
from bench_agent.models.wipe import WipeReport

GuidedStatus = Literal["pass", "fail", "not_applicable", "not_done"]


class GuidedCheck(Model):
    id: str  # sound, optical, keyboard, screen, mouse
    status: GuidedStatus = "not_done"
    note: str = ""
    at: datetime | None = None
    # Whether the bench ran the check's test (tone, tray, keys, colours, mouse) before the
    # answer: False is an answer given without it. None: not known (older records, headless).
    tested: bool | None = None


class AutoCheck(Model):
    """An automatic health check beyond SMART (CPU load, RAM pattern test, device answers)."""

    id: str  # cpu.load, cpu.mce, ram.pattern, ram.size, optical.answers, sound.answers...
    status: Literal["pass", "warn", "fail", "skipped"]
    measured: str = ""
    message: str = ""
    duration_s: float = 0.0


class Interruption(Model):
    """A step found interrupted at restart (crash, power cut) and what was done about it."""

    step: str  # wipe, image...
    detected_at: datetime | None = None
    action: Literal["rerun_from_scratch", "resumed", "skipped"] = "rerun_from_scratch"
    confirmed_by: str = ""  # operator name, or "unattended-policy"
    note: str = ""


class Signature(Model):
    algorithm: Literal["ed25519"] = "ed25519"
    key_id: str
    public_key: str
    value: str


class BenchRecord(Model):
    schema_version: int = SCHEMA_VERSION
    record_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    station: str
    operator: str = ""
    asset_tag: str = ""
    lot: str = ""
    profile: str = ""
    training: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    inventory: Inventory
    verdict: Verdict | None = None
    auto_checks: list[AutoCheck] = Field(default_factory=list)
    guided_checks: list[GuidedCheck] = Field(default_factory=list)
    wipes: list[WipeReport] = Field(default_factory=list)
    image: ImageReport | None = None
    # The signed certificate documents (JSON) of the wipes, as issued by the station.
    certificates: list[dict[str, Any]] = Field(default_factory=list)
    destination: str = ""  # reuse | parts | recycling
    evidence_sha256: str = ""  # digest of the evidence bundle kept with the record
    extra: dict[str, Any] = Field(default_factory=dict)
    # Steps found interrupted by a crash or power cut, and how each was resumed.
    interruptions: list[Interruption] = Field(default_factory=list)
    # How many "done, re-inventory" rounds the remediation took.
    remediation_rounds: int = 0
    # Disks the operator restricted destructive steps to (empty: every eligible disk).
    target_devices: list[str] = Field(default_factory=list)
    signature: Signature | None = None
