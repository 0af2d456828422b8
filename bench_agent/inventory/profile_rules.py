"""The minimum-spec profile's schema: what a ``profiles/*.toml`` file may say (loaded by
``profiles``, graded by ``grading``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bench_agent.i18n import get_language
from bench_agent.inventory.health import HealthThresholds
from bench_agent.models.wipe import WipeMethod

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
