"""The grading of an inventory against a profile: per criterion pass / remediate / fail."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bench_agent.models.base import SCHEMA_VERSION, Model

CriterionStatus = Literal["pass", "remediate", "fail", "unknown"]
Outcome = Literal["kept", "remediate", "rejected"]


class Criterion(Model):
    id: str  # e.g. "ram", "cpu.sse2", "disk.sda.health", "optical"
    status: CriterionStatus
    measured: str = ""
    limit: str = ""
    message: str = ""  # in the language of the run
    messages: dict[str, str] = Field(default_factory=dict)  # {"en": ..., "fr": ...}
    action: str = ""  # remediation to do ("install a DVD drive"), in the language of the run
    actions: dict[str, str] = Field(default_factory=dict)


class Verdict(Model):
    schema_version: int = SCHEMA_VERSION
    profile: str = ""
    outcome: Outcome
    criteria: list[Criterion] = Field(default_factory=list)
    destination: Literal["", "reuse", "parts", "recycling"] = ""
    # One-line reason for the outcome, in the language of the run and in every language.
    summary: str = ""
    summaries: dict[str, str] = Field(default_factory=dict)
    # The remediation actions to do before the machine is kept (language of the run).
    actions: list[str] = Field(default_factory=list)
