"""The parts bin at the bench: what to keep from a rejected or remediated machine, what the bin
holds for a machine whose RAM is to remediate, and fitting a part then re-inventorying the
machine to check the part is seen and the RAM criterion passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench_agent.config import AgentSettings
from bench_agent.inventory.grading import grade_inventory
from bench_agent.inventory.parts import (
    MemorySuggestion,
    fitted_module_problem,
    harvestable_parts,
    suggest_memory,
)
from bench_agent.inventory.profiles import Profile
from bench_agent.models.inventory import Inventory
from bench_agent.models.part import Part, StockedPart
from bench_agent.models.record import BenchRecord
from bench_agent.models.verdict import Criterion, Verdict
from bench_agent.sync.parts import fit_part, list_stock


def wiped_certificates(record: BenchRecord) -> dict[str, str]:
    """Disk serial → certificate id of each disk this run erased (fully, no exceptions)."""
    return {
        w.serial: w.certificate_id
        for w in record.wipes
        if w.status == "erased" and w.serial and w.certificate_id
    }


def harvest_proposal(record: BenchRecord) -> list[Part]:
    """The parts worth keeping, for a machine rejected or to remediate (none for a kept one)."""
    if record.verdict is None or record.verdict.outcome not in ("rejected", "remediate"):
        return []
    return harvestable_parts(record.inventory, wiped_certificates(record))


def bin_suggestion(
    settings: AgentSettings, inventory: Inventory, verdict: Verdict
) -> MemorySuggestion | None:
    """What the bin holds for this machine, if its RAM is to remediate (None otherwise): the
    ledger's stocked modules, matched here against the machine on the bench (its record is
    not in the ledger before the run ends)."""
    if not any(c.id == "ram" and c.status == "remediate" for c in verdict.criteria):
        return None
    return suggest_memory(inventory, verdict, list_stock(settings, "memory"))


@dataclass
class FitCheck:
    part: StockedPart
    after: Inventory
    verdict: Verdict
    not_seen: str | None  # why the re-inventory does not see the part (None: seen)

    @property
    def ram(self) -> Criterion | None:
        return next((c for c in self.verdict.criteria if c.id == "ram"), None)

    @property
    def ok(self) -> bool:
        ram = self.ram
        return self.not_seen is None and (ram is None or ram.status == "pass")


def fit_and_check(
    settings: AgentSettings,
    code: str,
    asset_tag: str,
    before: Inventory,
    reinventory: Callable[[], Inventory],
    profile: Profile,
) -> FitCheck:
    """Record the fitted part in the ledger (refused there if it is not in stock or does not
    fit), re-inventory the machine, and say whether the part is seen and the grading passes."""
    part = fit_part(settings, code, asset_tag, before)
    after = reinventory()
    not_seen = fitted_module_problem(before, after, part) if part.kind == "memory" else None
    return FitCheck(part, after, grade_inventory(after, profile), not_seen)
