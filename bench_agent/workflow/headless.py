"""``bench-agent run``: the same workflow as the TUI, driven from the command line.

Unattended, every question gets the station's policy answer (guided checks "not done",
interrupted destructive steps re-run from scratch, remediation left for later); attended, the
questions are asked on the terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bench_agent.config import AgentSettings
from bench_agent.console.output import ConsoleProgress
from bench_agent.errors import EXIT_FAILURE, EXIT_OK, EXIT_REJECTED, EXIT_REMEDIATE, InputError
from bench_agent.i18n import _
from bench_agent.workflow.engines import Engines
from bench_agent.workflow.machine import UNATTENDED, Workflow
from bench_agent.workflow.state import MachineState, Step


@dataclass
class RunOptions:
    profile: str | None = None
    unattended: bool = False
    asset: str = ""
    lot: str = ""
    evidence: Path | None = None
    disks: list[str] = field(default_factory=list)
    image: str = ""
    training: bool = False
    quick: bool = True
    self_test: bool = False


# In a log (the live system's unattended run tees it to the console and a file): one progress
# line per job every few seconds, like the disk station's, besides each phase's start and end.
LOG_INTERVAL_S = 5.0


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def exit_code_for(state: MachineState) -> int:
    """0 kept and everything verified, 1 a wipe or the image failed, 3 remediate, 4 rejected."""
    if any(w.status not in ("erased",) for w in state.wipes):
        return EXIT_FAILURE
    if state.image is not None and state.image.status != "success":
        return EXIT_FAILURE
    outcome = state.verdict.outcome if state.verdict else "rejected"
    if outcome == "rejected":
        return EXIT_REJECTED
    if outcome == "remediate":
        return EXIT_REMEDIATE
    return EXIT_OK


def summary(state: MachineState) -> dict[str, Any]:
    return {
        "record_id": state.machine_id,
        "asset_tag": state.asset_tag,
        "lot": state.lot,
        "operator": state.operator,
        "profile": state.profile,
        "training": state.training,
        "step": state.step.value,
        "outcome": state.verdict.outcome if state.verdict else None,
        "destination": state.destination,
        "remediation_rounds": state.remediation_rounds,
        "guided_checks": {g.id: g.status for g in state.guided},
        "wipes": [
            {
                "device": w.device,
                "method": w.method,
                "status": w.status,
                "verification": w.verification_result,
                "certificate_id": w.certificate_id,
            }
            for w in state.wipes
        ],
        "wipe_skipped": [s.model_dump() for s in state.wipe_skipped],
        "image": (
            {"device": state.image.device, "image": state.image.image, "status": state.image.status}
            if state.image
            else None
        ),
        "image_reasons": state.image_reasons,
        "interruptions": [i.model_dump(mode="json") for i in state.interruptions],
        "record_state": state.record_state,
        "record_path": state.record_path,
        "label_path": state.label_path,
    }


def run_headless(
    settings: AgentSettings,
    options: RunOptions,
    *,
    engines: Engines | None = None,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = _stderr,
    stream: TextIO | None = None,
) -> tuple[MachineState, int]:
    """Drive the workflow to the end of this machine. ``say`` prints the run's lines, the
    progress of its long steps goes to ``stream`` (standard error by default) through the
    wipe and image commands' console renderer."""
    wf = Workflow(
        settings,
        engines,
        profile=options.profile,
        training=options.training,
        unattended=options.unattended,
        evidence_dir=options.evidence,
        disks=options.disks,
        image=options.image,
    )
    if wf.resumed:
        say(
            _(
                "Resuming machine {asset} at the step '{step}'.",
                asset=wf.state.asset_tag or "?",
                step=wf.step.value,
            )
        )

    def display(jobs: Sequence[str] = ()) -> ConsoleProgress:
        # A fresh one per long step: on a terminal its bars are drawn below the lines said
        # since the last step's bars, and redrawn in place.
        return ConsoleProgress(jobs, stream or sys.stderr, interval_s=LOG_INTERVAL_S)

    unattended = wf.state.unattended
    raw_ask = ask

    def answer(question: str) -> str:
        try:
            return raw_ask(question)
        except EOFError as exc:
            raise InputError(
                _("No answer to '{question}': the input is closed.", question=question.strip()),
                _("Run with --unattended for automation, or answer on a terminal."),
            ) from exc

    def yes(question: str) -> bool:
        if unattended:
            return True
        return answer(question + " ").strip().lower() in ("y", "yes", "o", "oui")

    while True:
        if wf.state.pending_interruption:
            step = wf.state.pending_interruption
            say(_("The {step} was interrupted (crash or power cut).", step=step))
            if unattended or yes(_("Re-run the {step} from scratch? [y/N]", step=step)):
                wf.confirm_rerun(by=UNATTENDED if unattended else wf.state.operator)
                say(_("The {step} is re-run from scratch.", step=step))
            else:
                raise InputError(
                    _("The interrupted {step} was not confirmed.", step=step),
                    _("Run again and confirm, or move the journal aside."),
                )
        step = wf.step
        if step is Step.OPERATOR:
            name = settings.operator or (
                "unattended" if unattended else answer(_("Operator:") + " ")
            )
            wf.login(name)
        elif step is Step.INTAKE:
            wf.intake(options.asset, options.lot)
            say(_("Asset {tag}", tag=wf.state.asset_tag))
        elif step is Step.INVENTORY:
            inventory = wf.take_inventory()
            say(
                _(
                    "Inventory: {cpu}, {mb} MB of RAM, {disks} disk(s), {optical} optical, "
                    "{sound} sound card(s)",
                    cpu=inventory.cpu.model or "?",
                    mb=inventory.memory.total_bytes >> 20,
                    disks=len(inventory.disks),
                    optical=len(inventory.optical),
                    sound=len(inventory.sound),
                )
            )
            for disk in inventory.disks:
                say(
                    f"  {disk.name}: {disk.model or '?'} ({disk.size_bytes // 10**9} GB), {disk.health}"
                )
        elif step is Step.AUTO_CHECKS:
            wf.run_auto_checks(quick=options.quick, self_test=options.self_test, progress=display())
        elif step is Step.GUIDED:
            for check in list(wf.state.guided):
                if unattended:
                    status, note = "not_done", _("unattended run")
                else:
                    reply = answer(
                        _("Guided check '{check}': pass, fail or n/a? [p/f/n]", check=check.id)
                        + " "
                    )
                    status = {"p": "pass", "f": "fail", "n": "not_applicable"}.get(
                        reply.strip().lower()[:1], "not_done"
                    )
                    note = ""
                wf.record_guided(check.id, status, note)
            wf.finish_guided()
        elif step is Step.VERDICT:
            assert wf.state.verdict is not None
            verdict = wf.state.verdict
            say(_("Verdict: {outcome}", outcome=verdict.outcome))
            if verdict.summary:
                say("  " + verdict.summary)
            wf.accept_verdict()
        elif step is Step.WIPE_PLAN:
            if wf.state.wipe_state != "planned":  # planning failed before: plan again
                wf.plan_wipes()
            for target in wf.state.wipe_plans:
                say(
                    _(
                        "Wipe {device} ({method}, verify {verify})",
                        device=target.device,
                        method=target.method,
                        verify=target.verify,
                    )
                )
            if wf.state.wipe_plans and not yes(_("Erase these disks? [y/N]")):
                raise InputError(_("The wipe was not confirmed."))
            wf.confirm_wipe()
        elif step is Step.WIPE:
            wf.run_wipe(progress=display([plan.kname for plan in wf.state.wipe_plans]))
            if wf.state.wipe_state == "aborted":
                break
        elif step is Step.IMAGE:
            wf.run_image(progress=display())
            if wf.state.image_state == "aborted":
                break
        elif step is Step.RECORD:
            wf.make_record()
            say(
                _("Record signed and queued for the ledger.")
                if wf.state.record_state == "queued"
                else _("Training record kept on this bench only.")
            )
        elif step is Step.LABEL:
            wf.make_label()
        elif step is Step.DONE:
            final = wf.state
            wf.next_machine(start_next=False)
            wf.flush_heartbeats()
            return final, exit_code_for(final)
    wf.flush_heartbeats()
    return wf.state, EXIT_FAILURE
