"""The overwrite's conclusions, shared by the engine (``engine.DiskWipe``) and the wipe-only
path of CPUs without SSE2 (``lite``): how a read-back is judged and how bad ranges are declared.
Standard library only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from bench_agent.sanitize.blockio import PassOutcome


class Span(Protocol):
    """A bad range: ``blockio.BadSpan`` or ``models.wipe.BadRange``."""

    @property
    def start_byte(self) -> int: ...

    @property
    def length(self) -> int: ...


def judge_read_back(
    write: PassOutcome, verify: PassOutcome, detail: str
) -> tuple[Literal["passed", "failed"], str]:
    """(verification result, detail) of the read-back after an overwrite.

    Bytes that differ inside ranges the write could not reach are excused (they are declared as
    bad ranges, an exception on the certificate); anywhere else they fail the verification.
    """
    unexplained = [
        offset
        for offset in verify.mismatch_examples
        if not any(b.start_byte <= offset < b.start_byte + b.length for b in write.bad_ranges)
    ]
    if verify.fatal:
        return "failed", f"{detail}; stopped: {verify.fatal}"
    if verify.mismatched_bytes and (unexplained or not write.bad_ranges):
        return "failed", (
            f"{detail}; {verify.mismatched_bytes} bytes differ from what was written "
            f"(first at byte offsets {verify.mismatch_examples[:8]})"
        )
    if verify.mismatched_bytes:
        detail += f"; {verify.mismatched_bytes} bytes inside the unwritable ranges still differ"
    return "passed", detail


def union(ranges: Sequence[Span]) -> list[tuple[int, int]]:
    """Merged [start, end) spans of the bad ranges of every phase."""
    spans: list[tuple[int, int]] = []
    for start, end in sorted((r.start_byte, r.start_byte + r.length) for r in ranges):
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def bad_ranges_exception(ranges: Sequence[Span]) -> str:
    """The certificate's exception for bad ranges ("" when there are none)."""
    if not ranges:
        return ""
    spans = union(ranges)
    bad = sum(end - start for start, end in spans)
    where = ", ".join(f"{start}-{end - 1}" for start, end in spans[:5])
    return (
        f"{bad} bytes in {len(spans)} bad ranges (bytes {where}"
        f"{', ...' if len(spans) > 5 else ''}) could not be written or read back"
    )
