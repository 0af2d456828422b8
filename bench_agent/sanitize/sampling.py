"""Where verification reads: NIST SP 800-88 sampling (or the whole device).

Sampling splits the media into at least 1000 equal subsections, reads two pseudo-random
samples in each (one per half, so they never overlap) plus the first and the last block, and
sizes the samples so that at least 10 % of the media is read. The seed is recorded so the
same samples can be read again by an auditor.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

MiB = 1 << 20
NIST_SUBSECTIONS = 1000
NIST_FRACTION = 0.10


@dataclass(frozen=True)
class SamplePlan:
    ranges: list[tuple[int, int]]  # (offset, length), sorted, non-overlapping
    subsections: int
    seed: int
    size_bytes: int

    @property
    def bytes_total(self) -> int:
        return sum(length for _offset, length in self.ranges)

    @property
    def fraction(self) -> float:
        return self.bytes_total / self.size_bytes if self.size_bytes else 0.0

    def describe(self) -> str:
        return (
            f"NIST SP 800-88 sampling: {self.subsections} subsections x 2 pseudo-random samples "
            f"+ first and last block, {len(self.ranges)} reads, {self.bytes_total} bytes "
            f"({self.fraction:.1%} of the media), seed {self.seed}"
        )


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for offset, length in sorted(ranges):
        if merged and offset <= merged[-1][0] + merged[-1][1]:
            last_offset, last_length = merged[-1]
            end = max(last_offset + last_length, offset + length)
            merged[-1] = (last_offset, end - last_offset)
        else:
            merged.append((offset, length))
    return merged


def full_plan(size_bytes: int) -> SamplePlan:
    return SamplePlan([(0, size_bytes)] if size_bytes else [], 1, 0, size_bytes)


def nist_sample_plan(
    size_bytes: int,
    sector: int,
    *,
    subsections: int = NIST_SUBSECTIONS,
    fraction: float = NIST_FRACTION,
    seed: int | None = None,
) -> SamplePlan:
    """The NIST sampling plan for a device of ``size_bytes`` with ``sector``-byte blocks."""
    seed = random.SystemRandom().getrandbits(63) if seed is None else seed
    rng = random.Random(seed)
    sectors = size_bytes // sector
    if sectors < 4 * subsections:
        # Tiny media: reading it all is the only way to meet the plan.
        plan = full_plan(size_bytes)
        return SamplePlan(plan.ranges, plan.subsections, seed, size_bytes)
    sub_sectors = sectors // subsections
    # Two samples per subsection, each fraction/2 of an average subsection (rounded up to
    # whole sectors): sized from the whole media, so the sectors left over by the integer
    # division (they go to the last subsection) are counted too.
    sample_sectors = min(
        max(1, math.ceil(sectors * fraction / (2 * subsections))), sub_sectors // 2
    )
    ranges: list[tuple[int, int]] = []
    for index in range(subsections):
        first = index * sub_sectors
        last = sectors if index == subsections - 1 else first + sub_sectors
        half = first + (last - first) // 2
        for lo, hi in ((first, half), (half, last)):
            start = rng.randint(lo, max(lo, hi - sample_sectors))
            ranges.append((start * sector, sample_sectors * sector))
    # The first and last blocks, as large as one sample.
    edge = sample_sectors * sector
    ranges.append((0, edge))
    ranges.append((size_bytes - edge, edge))
    return SamplePlan(_merge(ranges), subsections, seed, size_bytes)


def plan_summary(samples: SamplePlan, *, sampled: bool) -> dict[str, Any]:
    """What the certificate states about the verification: full or sampled, coverage, seed."""
    return {
        "scope": "sampled" if sampled and samples.fraction < 1.0 else "full",
        "bytes_planned": samples.bytes_total,
        "coverage_percent": round(samples.fraction * 100, 2),
        "subsections": samples.subsections if sampled else None,
        "sample_seed": samples.seed if sampled else None,
    }
