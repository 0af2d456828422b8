"""The parts bin on the bench's screens: on the verdict, what the bin holds for a machine whose
RAM is to remediate, fitting the suggested module (the screen names the labelled module to
take) and, on the verdict after the re-inventory, whether that module is seen; at the end of a
rejected machine's run, keeping its parts.

What the bench learnt lives per app (``bin_state``) for the machine on the bench: the lookup
runs once per verdict, the fit is remembered across the re-inventory.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from bench_agent.i18n import _
from bench_agent.inventory.parts import MemorySuggestion, fitted_module_problem
from bench_agent.models.inventory import Inventory
from bench_agent.models.part import Part, StockedPart
from bench_agent.tui.contracts import Bench


@dataclass
class Fitted:
    part: StockedPart
    before: Inventory
    asset_tag: str


@dataclass
class BinState:
    verdict_key: int = 0  # id() of the verdict the lookup was for
    looked: bool = False
    suggestion: MemorySuggestion | None = None
    problem: str = ""  # why the bin could not be asked
    fitted: Fitted | None = None
    kept: list[StockedPart] = field(default_factory=list)  # parts kept from ``kept_from``
    kept_from: str = ""


_STATES: weakref.WeakKeyDictionary[Any, BinState] = weakref.WeakKeyDictionary()


def bin_state(app: Bench) -> BinState:
    state = _STATES.get(app)
    if state is None:
        state = _STATES[app] = BinState()
    return state


def wants_bin(app: Bench) -> bool:
    """RAM to remediate on an enrolled bench: the parts bin may hold the module."""
    state, settings = app.wf.state, app.settings
    criteria = state.verdict.criteria if state.verdict is not None else []
    ram = any(c.id == "ram" and c.status == "remediate" for c in criteria)
    return ram and bool(settings.ledger_url and settings.token) and not state.training


def needs_lookup(app: Bench) -> bool:
    verdict = app.wf.state.verdict
    current = bin_state(app)
    return wants_bin(app) and not (current.looked and current.verdict_key == id(verdict))


def look_up(app: Bench) -> None:
    """Ask the ledger's stock (worker thread) and keep the answer for this verdict."""
    from bench_agent.errors import BenchError
    from bench_agent.workflow.parts import bin_suggestion

    wf_state = app.wf.state
    current = bin_state(app)
    current.verdict_key, current.suggestion, current.problem = id(wf_state.verdict), None, ""
    try:
        assert wf_state.inventory is not None and wf_state.verdict is not None
        current.suggestion = bin_suggestion(app.settings, wf_state.inventory, wf_state.verdict)
    except BenchError as exc:
        current.problem = exc.message
    current.looked = True


def suggestion_line(app: Bench) -> str:
    current = bin_state(app)
    if not wants_bin(app):
        return ""
    if not current.looked or current.verdict_key != id(app.wf.state.verdict):
        return _("Parts bin: looking…")
    if current.problem:
        return "→ " + _("Parts bin not reachable: {reason}", reason=current.problem)
    if current.suggestion is None:
        return ""
    return "→ " + _("Parts bin: {suggestion}", suggestion=current.suggestion.text)


def part_to_fit(app: Bench) -> tuple[str, str, str] | None:
    """(code, description, bin) of the module to take from the bin, if one fits."""
    current = bin_state(app)
    if not wants_bin(app) or current.verdict_key != id(app.wf.state.verdict):
        return None
    best = current.suggestion.best if current.suggestion is not None else None
    if best is None:
        return None
    return best.codes[0], best.description, best.bin


def fit_then_reinventory(app: Bench, code: str) -> None:
    """(Step worker) Record the fit in the ledger, then inventory the machine again."""
    from bench_agent.sync.parts import fit_part

    wf = app.wf
    before = wf.state.inventory
    assert before is not None
    part = fit_part(app.settings, code, wf.state.asset_tag, before)
    bin_state(app).fitted = Fitted(part, before, wf.state.asset_tag)
    wf.remediation_done()


def fitted_line(app: Bench) -> str:
    """On the verdict after the re-inventory: is the fitted module seen?"""
    fitted = bin_state(app).fitted
    inventory = app.wf.state.inventory
    if fitted is None or inventory is None or fitted.asset_tag != app.wf.state.asset_tag:
        return ""
    problem = fitted_module_problem(fitted.before, inventory, fitted.part)
    if problem is not None:
        return "⚠ " + problem
    return "✔ " + _(
        "{code} ({part}) fitted and seen by the new inventory.",
        code=fitted.part.code,
        part=fitted.part.description,
    )


# ------------------------------------------------------------------------------ harvest
def parts_to_keep(app: Bench) -> list[Part]:
    """At the end of a rejected machine's run on an enrolled bench: its parts worth keeping."""
    from bench_agent.inventory.parts import harvestable_parts

    state, settings = app.wf.state, app.settings
    if state.training or not (settings.ledger_url and settings.token):
        return []
    if state.verdict is None or state.verdict.outcome != "rejected" or state.inventory is None:
        return []
    if bin_state(app).kept_from == state.asset_tag:
        return []  # already kept
    wiped = {
        w.serial: w.certificate_id
        for w in state.wipes
        if w.status == "erased" and w.serial and w.certificate_id
    }
    return harvestable_parts(state.inventory, wiped)


def keep_parts(app: Bench) -> None:
    """(Step worker) Deliver the record, then keep the parts in the ledger (no bin yet: they
    are put in a bin later, ``bench-agent parts put``, by whoever shelves them)."""
    from bench_agent.sync import sync_once
    from bench_agent.sync.parts import harvest

    parts = parts_to_keep(app)
    if not parts:
        return
    sync_once(app.settings)  # the ledger checks the parts against the machine's record
    kept = harvest(app.settings, app.wf.state.asset_tag, parts, "")
    current = bin_state(app)
    current.kept, current.kept_from = kept, app.wf.state.asset_tag


def kept_lines(app: Bench) -> list[str]:
    current = bin_state(app)
    if current.kept_from != app.wf.state.asset_tag:
        return []
    return ["■ " + _("Kept for the parts bin (label each, then shelve it):")] + [
        f"   {p.code}  {p.description}" for p in current.kept
    ]
