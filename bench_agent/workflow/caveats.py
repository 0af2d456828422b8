"""What a bench record does NOT prove, said plainly for the supervisor (and anyone reading it).

A green verdict can hide answers given without their test, checks that did not apply, a wipe
or image stopped and run again, automatic checks that never ran, or remediation still to do on
a machine kept "to complete". ``record_caveats`` lists them from the record alone; each caveat
is translated when shown, in the reader's language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench_agent.i18n import N_
from bench_agent.models.record import BenchRecord
from bench_agent.workflow.guided import CHECK_TITLES

STEP_WORDS = {"wipe": N_("the wipe"), "image": N_("the image")}


@dataclass(frozen=True)
class Caveat:
    kind: str  # untested | not_applicable | not_done | auto_skipped | interrupted | pending | ...
    msgid: str
    params: dict[str, str] = field(default_factory=dict)
    translated: tuple[str, ...] = ()  # params that are themselves message ids

    def render(self, translate: Callable[..., str]) -> str:
        values: dict[str, Any] = {
            k: translate(v) if k in self.translated else v for k, v in self.params.items()
        }
        return translate(self.msgid, **values)


def record_caveats(record: BenchRecord) -> list[Caveat]:
    caveats: list[Caveat] = []
    if record.training:
        caveats.append(Caveat("training", N_("Training run: nothing in it is real.")))
    for check in record.guided_checks:
        name = CHECK_TITLES.get(check.id, check.id)
        if check.status == "pass" and check.tested is False:
            caveats.append(
                Caveat(
                    "untested",
                    N_("{check}: answered 'it works' without running its test."),
                    {"check": name},
                    ("check",),
                )
            )
        elif check.status == "not_applicable":
            caveats.append(
                Caveat(
                    "not_applicable",
                    N_("{check}: answered 'not applicable' (not counted as working)."),
                    {"check": name},
                    ("check",),
                )
            )
        elif check.status == "not_done":
            caveats.append(
                Caveat("not_done", N_("{check}: not done."), {"check": name}, ("check",))
            )
    if not record.auto_checks:
        caveats.append(
            Caveat("auto_skipped", N_("No automatic check ran (recorded machine or training).")),
        )
    for auto in record.auto_checks:
        if auto.status == "skipped":
            caveats.append(
                Caveat(
                    "auto_skipped",
                    N_("Automatic check {check} skipped: {reason}"),
                    {"check": auto.id, "reason": auto.message or "–"},
                )
            )
    for stop in record.interruptions:
        when = stop.detected_at.strftime("%Y-%m-%d %H:%M") if stop.detected_at else "–"
        caveats.append(
            Caveat(
                "interrupted",
                N_("{when}: {step} stopped or interrupted, then run again from scratch."),
                {"step": STEP_WORDS.get(stop.step, stop.step), "when": when},
                ("step",) if stop.step in STEP_WORDS else (),
            )
        )
    verdict = record.verdict
    if verdict is not None and verdict.outcome == "remediate":
        caveats.append(
            Caveat(
                "pending",
                N_("Kept, to complete: still to do: {actions}"),
                {"actions": "; ".join(verdict.actions) or "–"},
            )
        )
    return caveats
