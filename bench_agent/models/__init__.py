"""Pydantic schemas shared by the agent and the ledger (versioned, exported as JSON Schema)."""

from __future__ import annotations

from typing import Any

from bench_agent.models.base import SCHEMA_VERSION, Model
from bench_agent.models.image import ImageReport
from bench_agent.models.inventory import (
    Cpu,
    Disk,
    Inventory,
    Memory,
    MemoryModule,
    NetworkInterface,
    OpticalDrive,
    Smart,
    SmartAttribute,
    SoundCard,
    System,
)
from bench_agent.models.record import AutoCheck, BenchRecord, GuidedCheck, Signature
from bench_agent.models.verdict import Criterion, Verdict
from bench_agent.models.wipe import BadRange, HiddenAreas, WipeReport

__all__ = [
    "SCHEMA_VERSION",
    "AutoCheck",
    "BadRange",
    "BenchRecord",
    "Cpu",
    "Criterion",
    "Disk",
    "GuidedCheck",
    "HiddenAreas",
    "ImageReport",
    "Inventory",
    "Memory",
    "MemoryModule",
    "Model",
    "NetworkInterface",
    "OpticalDrive",
    "Signature",
    "Smart",
    "SmartAttribute",
    "SoundCard",
    "System",
    "Verdict",
    "WipeReport",
    "json_schemas",
]


def json_schemas() -> dict[str, Any]:
    """JSON Schema of every top-level document, keyed by name."""
    return {
        cls.__name__: cls.model_json_schema()
        for cls in (Inventory, Verdict, WipeReport, ImageReport, BenchRecord)
    }
