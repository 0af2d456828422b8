"""The label stuck on a processed machine: asset tag, outcome, image, date, and a QR code.

The text file prints on any label printer driver; the QR code (SVG) carries the record id so
a scan at the packing table or in the ledger finds the machine's history.
"""

from __future__ import annotations

from pathlib import Path

from bench_agent.durable import atomic_write
from bench_agent.i18n import N_, _
from bench_agent.workflow.guided import CHECK_TITLES
from bench_agent.workflow.state import MachineState

OUTCOME_WORDS = {
    "kept": N_("kept"),
    "remediate": N_("kept, to remediate"),
    "rejected": N_("rejected"),
}
DESTINATION_WORDS = {"reuse": N_("reuse"), "parts": N_("parts"), "recycling": N_("recycling")}


def label_lines(state: MachineState) -> list[str]:
    inventory = state.inventory
    outcome = state.verdict.outcome if state.verdict else ""
    if outcome == "kept" and state.remediation_rounds:
        outcome_text = _("kept after remediation")
    else:
        outcome_text = _(OUTCOME_WORDS[outcome]) if outcome in OUTCOME_WORDS else "–"
    destination = state.destination
    lines = [
        _("Asset: {tag}", tag=state.asset_tag),
        _("Outcome: {outcome}", outcome=outcome_text),
        _(
            "Destination: {destination}",
            destination=_(DESTINATION_WORDS[destination])
            if destination in DESTINATION_WORDS
            else "–",
        ),
    ]
    if inventory is not None:
        ram_mb = inventory.memory.total_bytes // (1024 * 1024)
        lines.append(_("CPU: {cpu}", cpu=inventory.cpu.model))
        lines.append(_("RAM: {mb} MB", mb=ram_mb))
    if state.image is not None and state.image.status == "success":
        lines.append(
            _("Image: {name} {version}", name=state.image.image, version=state.image.version)
        )
    if outcome == "remediate" and state.verdict is not None:
        # Kept "to complete": what is still to do travels on the machine itself.
        for action in state.verdict.actions or ["–"]:
            lines.append(_("To do: {action}", action=action))
    unconfirmed = [
        _(CHECK_TITLES.get(c.id, c.id))
        for c in state.guided
        if c.status == "not_applicable" or (c.status == "pass" and c.tested is False)
    ]
    if unconfirmed:
        lines.append(_("Not confirmed by a test: {checks}", checks=", ".join(unconfirmed)))
    lines.append(_("Record: {id}", id=state.machine_id))
    if state.training:
        lines.insert(0, _("TRAINING - not a real machine"))
    return lines


def write_label(state: MachineState, folder: Path) -> Path:
    lines = label_lines(state)
    path = folder / f"label-{state.asset_tag or state.machine_id}.txt"
    atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"))
    try:
        import segno

        qr = segno.make(f"bench-record:{state.machine_id}", error="m")
        qr.save(str(path.with_suffix(".svg")), scale=4)
    except ImportError:  # the text label is enough to pack the machine
        pass
    return path
