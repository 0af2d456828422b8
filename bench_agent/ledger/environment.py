"""The environmental account: machines (and later parts) reused, weight kept out of the waste
stream, greenhouse-gas emissions avoided.

The factors come from the versioned table shipped with the ledger (``environment_factors.toml``,
one value and one source per category and quantity), overridden value by value by the
workshop's own file (``BENCH_LEDGER_ENVIRONMENT_FACTORS``). A machine counts as reused exactly as
the programme report counts "Machines delivered": a ``given`` lifecycle event in the period, once
per machine (``reports.compute_report``). Its category is its chassis type from the inventory
(DMI), a desktop tower when the inventory recorded none. A factor left unset makes the figure
"not computed (factor unset: ...)", never 0. Parts reused are the parts bin's parts fitted into a
machine in the period (``ledger/parts.py``), counted by kind, each with its kind's factors
(memory module, hard disk...): while one of those is unset, the figure says so.

The loading and the computation are pure; :func:`load_account` reads the ledger's store.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_agent.errors import InputError
from bench_agent.i18n import N_, format_decimal
from bench_agent.ledger.lang import _, current_language

FACTORS_FILE = Path(__file__).with_name("environment_factors.toml")
OVERRIDE_VARIABLE = "BENCH_LEDGER_ENVIRONMENT_FACTORS"
QUANTITIES = ("weight_kg", "co2e_kg")
SOURCE_OF = {"weight_kg": "weight_source", "co2e_kg": "co2e_source"}

CATEGORY_LABELS = {
    "desktop": N_("desktop tower"),
    "laptop": N_("laptop"),
    "all_in_one": N_("all-in-one computer"),
    "lcd_screen": N_("LCD screen"),
    "crt_screen": N_("CRT screen"),
    "keyboard": N_("keyboard"),
    "mouse": N_("mouse"),
    "memory_module": N_("memory module"),
    "hard_disk": N_("hard disk"),
    "optical_drive": N_("optical drive"),
    "sound_card": N_("sound card"),
    "power_supply": N_("power supply"),
}
QUANTITY_LABELS = {"weight_kg": N_("weight"), "co2e_kg": N_("emissions avoided")}

# SMBIOS chassis types (bench_agent.inventory.system.CHASSIS_TYPES) that are not desktop towers.
_LAPTOP_CHASSIS = frozenset(
    {"portable", "laptop", "notebook", "sub notebook", "hand held", "convertible", "detachable"}
)
_ALL_IN_ONE_CHASSIS = frozenset({"all in one"})


def category_of(chassis: str) -> str:
    """A machine's category from its DMI chassis type; a desktop tower when none was recorded."""
    kind = chassis.strip().lower()
    if kind in _LAPTOP_CHASSIS:
        return "laptop"
    if kind in _ALL_IN_ONE_CHASSIS:
        return "all_in_one"
    return "desktop"


def category_label(category: str) -> str:
    return _(CATEGORY_LABELS[category]) if category in CATEGORY_LABELS else category


# ------------------------------------------------------------------------------- factors
@dataclass(frozen=True)
class Factor:
    value: float | None  # None: unset, "to fill by the workshop"
    source: str
    overridden: bool = False


@dataclass(frozen=True)
class FactorTable:
    version: str
    date: str
    factors: dict[tuple[str, str], Factor]  # (category, quantity) -> factor
    override: str = ""  # the workshop's override file, when one was read

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(category for category, _quantity in self.factors))

    def get(self, category: str, quantity: str) -> Factor:
        return self.factors.get((category, quantity), Factor(None, ""))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise InputError(
            _("Cannot read the environment factors file {path}: {error}", path=path,
              error=exc.strerror or exc),
            _("Check the path in {variable}, or unset it to use the shipped table.",
              variable=OVERRIDE_VARIABLE),
        ) from exc  # fmt: skip
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            _("The environment factors file {path} is not valid TOML: {error}", path=path,
              error=exc),
            _("Fix the file (same layout as the shipped table, see the README)."),
        ) from exc  # fmt: skip


def _bad(path: Path, where: str, problem: str) -> InputError:
    return InputError(
        _("Environment factors file {path}, field {field}: {problem}", path=path, field=where,
          problem=problem),
        _("Write a number of kilograms, 0 or more, or \"\" to leave the factor unset; "
          "categories: {categories}.", categories=", ".join(CATEGORY_LABELS)),
    )  # fmt: skip


def _factor_value(path: Path, where: str, raw: Any) -> float | None:
    if raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _bad(path, where, _("{value} is not a number", value=repr(raw)))
    value = float(raw)
    if value < 0 or value != value or value == float("inf"):
        raise _bad(path, where, _("{value} is negative or not finite", value=raw))
    return value


def _parse(path: Path, data: dict[str, Any], known: Iterable[str] | None) -> FactorTable:
    """A table file's factors; ``known`` limits the categories (an override's: the shipped ones)."""
    extra = sorted(set(data) - {"version", "date", "categories"})
    if extra:
        raise _bad(path, extra[0], _("unknown field"))
    categories = data.get("categories", {})
    if not isinstance(categories, dict):
        raise _bad(path, "categories", _("expected a table of categories"))
    allowed = set(known) if known is not None else set(CATEGORY_LABELS)
    factors: dict[tuple[str, str], Factor] = {}
    for category, entry in categories.items():
        if category not in allowed:
            raise _bad(path, f"categories.{category}", _("unknown category"))
        if not isinstance(entry, dict):
            raise _bad(path, f"categories.{category}", _("expected a table of factors"))
        unknown = sorted(set(entry) - set(QUANTITIES) - set(SOURCE_OF.values()))
        if unknown:
            raise _bad(path, f"categories.{category}.{unknown[0]}", _("unknown field"))
        for quantity in QUANTITIES:
            source_key = SOURCE_OF[quantity]
            if quantity not in entry:
                if source_key in entry:
                    raise _bad(path, f"categories.{category}.{source_key}",
                               _("a source without its value {field}", field=quantity))  # fmt: skip
                continue
            where = f"categories.{category}.{quantity}"
            value = _factor_value(path, where, entry[quantity])
            source = entry.get(source_key, "")
            if not isinstance(source, str):
                raise _bad(path, f"categories.{category}.{source_key}", _("expected text"))
            factors[(category, quantity)] = Factor(value, source.strip())
    return FactorTable(str(data.get("version", "")), str(data.get("date", "")), factors)


def load_factors(override: Path | None = None) -> FactorTable:
    """The shipped table, with the values of the workshop's ``override`` file in place."""
    shipped = _parse(FACTORS_FILE, _read_toml(FACTORS_FILE), None)
    if override is None:
        return shipped
    changes = _parse(override, _read_toml(override), shipped.categories)
    factors = dict(shipped.factors)
    for key, factor in changes.factors.items():
        source = factor.source or _("workshop's value ({path})", path=override)
        factors[key] = Factor(factor.value, source, overridden=True)
    return FactorTable(shipped.version, shipped.date, factors, override=str(override))


def configured_override() -> Path | None:
    """The override file the ledger is configured with (``BENCH_LEDGER_ENVIRONMENT_FACTORS``)."""
    from bench_agent.ledger.settings import ledger_settings

    return ledger_settings().environment_factors


# ------------------------------------------------------------------------------- account
@dataclass
class Figure:
    value: float | None  # None: not computed, a counted category's factor is unset
    unset: list[str] = field(default_factory=list)


@dataclass
class EnvironmentalAccount:
    machines: dict[str, int]  # machines reused, by category
    weight_kg: Figure
    co2e_kg: Figure
    table: FactorTable
    parts: dict[str, int] = field(default_factory=dict)  # parts fitted into machines, by kind

    @property
    def machines_reused(self) -> int:
        return sum(self.machines.values())

    @property
    def parts_reused(self) -> int:
        return sum(self.parts.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "machines_reused": self.machines_reused,
            "machines_by_category": dict(self.machines),
            "parts_reused": self.parts_reused,
            "parts_by_kind": dict(self.parts),
            "parts_note": "parts bin parts fitted into a machine, in weight_kg and co2e_kg",
            "weight_kg": self.weight_kg.value,
            "weight_unset": list(self.weight_kg.unset),
            "co2e_kg": self.co2e_kg.value,
            "co2e_unset": list(self.co2e_kg.unset),
            "factors": {
                "version": self.table.version,
                "date": self.table.date,
                "override": self.table.override,
                "used": [
                    {"category": c, "quantity": q, "value": f.value, "source": f.source,
                     "overridden": f.overridden}
                    for c, q, f in used_factors(self)
                ],
            },
        }  # fmt: skip


# The factor table's category of each kind of part in the parts bin (``models.part``).
PART_CATEGORIES = {
    "memory": "memory_module",
    "disk": "hard_disk",
    "optical": "optical_drive",
    "sound": "sound_card",
    "psu": "power_supply",
}


def compute_account(
    categories: Iterable[str], table: FactorTable, parts: dict[str, int] | None = None
) -> EnvironmentalAccount:
    """The account of the reused items, one category per item (e.g. one per machine), and of
    the parts fitted into machines (count by kind), each part with its kind's factors."""
    counts = Counter(categories)
    order = {c: i for i, c in enumerate(table.categories)}
    machines = dict(sorted(counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    parts = dict(parts or {})
    items = Counter(machines)
    for kind, n in parts.items():
        items[PART_CATEGORIES.get(kind, kind)] += n
    figures: dict[str, Figure] = {}
    for quantity in QUANTITIES:
        unset = [c for c in items if table.get(c, quantity).value is None]
        if unset:
            figures[quantity] = Figure(None, unset)
        else:
            total = sum(n * (table.get(c, quantity).value or 0.0) for c, n in items.items())
            figures[quantity] = Figure(round(total, 3))
    return EnvironmentalAccount(machines, figures["weight_kg"], figures["co2e_kg"], table, parts)


def used_factors(account: EnvironmentalAccount) -> list[tuple[str, str, Factor]]:
    """The factors the account used or missed: (category, quantity, factor)."""
    categories = list(account.machines) or ["desktop", "laptop"]  # none yet: the usual ones
    categories += [PART_CATEGORIES.get(kind, kind) for kind in account.parts]
    return [
        (category, quantity, account.table.get(category, quantity))
        for category in categories
        for quantity in QUANTITIES
    ]


# ------------------------------------------------------------------------------- wording
def _kg(value: float) -> str:
    return format_decimal(value, 1, current_language())


def _figure_text(figure: Figure, unit: str) -> str:
    if figure.value is None:
        return _("not computed (factor unset: {categories})",
                 categories=", ".join(category_label(c) for c in figure.unset))  # fmt: skip
    return f"{_kg(figure.value)}\u00a0{unit}"


PART_LABELS = {
    "memory": N_("memory modules"),
    "disk": N_("disks"),
    "optical": N_("optical drives"),
    "sound": N_("sound cards"),
    "psu": N_("power supplies"),
}


def _parts_text(parts: dict[str, int]) -> str:
    by_kind = ", ".join(f"{_(PART_LABELS.get(k, k))} {n}" for k, n in parts.items())
    return str(sum(parts.values())) + (f" ({by_kind})" if by_kind else "")


def account_lines(account: EnvironmentalAccount) -> list[tuple[str, str]]:
    """(title, value) lines in the current language, for the report page, PDF and bundles."""
    by_category = ", ".join(f"{category_label(c)} {n}" for c, n in account.machines.items())
    machines = str(account.machines_reused) + (f" ({by_category})" if by_category else "")
    return [
        (_("Machines reused (delivered)"), machines),
        (_("Parts reused"), _parts_text(account.parts)),
        (_("Weight kept out of waste"), _figure_text(account.weight_kg, "kg")),
        (_("Greenhouse-gas emissions avoided"), _figure_text(account.co2e_kg, "kg CO2e")),
    ]


def source_lines(account: EnvironmentalAccount) -> list[str]:
    """The factors table's version and each factor used with its source, current language."""
    table = account.table
    lines = [_("Factors table {version} of {date}.", version=table.version, date=table.date)]
    if table.override:
        lines.append(_("Values overridden by the workshop's file {path}.", path=table.override))
    for category, quantity, factor in used_factors(account):
        what = f"{category_label(category)}, {_(QUANTITY_LABELS[quantity])}"
        if factor.value is None:
            lines.append(_("{what}: unset, to fill by the workshop.", what=what))
        else:
            unit = "kg" if quantity == "weight_kg" else "kg CO2e"
            lines.append(
                _("{what}: {value} — {source}", what=what, value=f"{_kg(factor.value)}\u00a0{unit}",
                  source=factor.source)
            )  # fmt: skip
    return lines


def summary_line(account: EnvironmentalAccount, lot: str) -> str:
    """One line for a donor's bundle: the lot's machines reused, weight and emissions."""
    figures = {title: value for title, value in account_lines(account)}
    return _(
        "Lot {lot}: {machines} machines reused; weight kept out of waste: {weight}; "
        "greenhouse-gas emissions avoided: {co2e} (environment factors {version}).",
        lot=lot,
        machines=account.machines_reused,
        weight=figures[_("Weight kept out of waste")],
        co2e=figures[_("Greenhouse-gas emissions avoided")],
        version=account.table.version,
    )


def csv_rows(account: EnvironmentalAccount) -> list[list[Any]]:
    """``environment,key,value`` rows for the report's long CSV (empty value: not computed)."""
    rows: list[list[Any]] = [["environment", "machines_reused", account.machines_reused]]
    rows += [["environment", f"machines.{c}", n] for c, n in account.machines.items()]
    rows.append(["environment", "parts_reused", account.parts_reused])
    rows += [["environment", f"parts.{k}", n] for k, n in account.parts.items()]
    for quantity, figure in (("weight_kg", account.weight_kg), ("co2e_kg", account.co2e_kg)):
        rows.append(["environment", quantity, "" if figure.value is None else figure.value])
        if figure.unset:
            rows.append(["environment", f"{quantity}.unset", ";".join(figure.unset)])
    rows.append(["environment", "factors_version", account.table.version])
    return rows


# ------------------------------------------------------------------------------- ledger
def reused_categories(
    store: Any, start: date | None = None, end: date | None = None, lot: str | None = None
) -> list[str]:
    """One category per machine delivered (``given``) in the period (all time when no dates),
    for one lot or all, counted as the report counts "Machines delivered"."""
    from sqlalchemy import func, select

    from bench_agent.ledger.models import Asset, LifecycleEvent, Record

    query = select(LifecycleEvent.asset_id).where(LifecycleEvent.kind == "given").distinct()
    if start is not None:
        query = query.where(LifecycleEvent.at >= datetime(start.year, start.month, start.day,
                                                          tzinfo=UTC))  # fmt: skip
    if end is not None:
        until = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        query = query.where(LifecycleEvent.at < until)
    if lot is not None:
        query = query.join(Asset, Asset.id == LifecycleEvent.asset_id).where(Asset.lot == lot)
    chassis: dict[int, str] = {}
    with store.session() as session:
        assets = list(session.scalars(query))
        when = func.coalesce(Record.finished_at, Record.created_at)
        for start_at in range(0, len(assets), 500):
            chunk = assets[start_at : start_at + 500]
            rows = session.execute(
                select(Record.asset_id, Record.body)
                .where(Record.asset_id.in_(chunk), Record.training.is_(False))
                .order_by(when, Record.id)
            )
            for asset_id, body in rows:  # the latest record of each machine wins
                chassis[asset_id] = _chassis(body)
    return [category_of(chassis.get(asset_id, "")) for asset_id in assets]


def _chassis(body: str) -> str:
    try:
        value = json.loads(body)["inventory"]["system"].get("chassis", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def reused_by_kind(
    store: Any, start: date | None = None, end: date | None = None, lot: str | None = None
) -> dict[str, int]:
    """Parts of the parts bin (``ledger/parts.py``) fitted into a machine in the period (all
    time without dates), by kind; ``lot``: the machines of that lot that received parts."""
    from sqlalchemy import func, select

    from bench_agent.ledger.models import Asset, Part, PartEvent
    from bench_agent.models.part import PART_KINDS

    query = (
        select(Part.kind, func.count(func.distinct(Part.id)))
        .join(PartEvent, PartEvent.part_id == Part.id)
        .where(PartEvent.kind == "fitted", Part.state == "fitted")
        .group_by(Part.kind)
    )
    if start is not None:
        query = query.where(
            PartEvent.at >= datetime(start.year, start.month, start.day, tzinfo=UTC)
        )
    if end is not None:
        until = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        query = query.where(PartEvent.at < until)
    if lot is not None:
        tagged = select(Asset.asset_tag).where(Asset.lot == lot, Asset.asset_tag != "")
        query = query.where(Part.fitted_asset_tag.in_(tagged))
    with store.session() as session:
        counts = Counter({str(kind): int(n) for kind, n in session.execute(query)})
    return {kind: counts[kind] for kind in PART_KINDS if counts[kind]}


def load_account(
    store: Any,
    start: date | None = None,
    end: date | None = None,
    lot: str | None = None,
    *,
    table: FactorTable | None = None,
) -> EnvironmentalAccount:
    """The account of the period (or all time) for one lot or all, with the configured factors."""
    table = table or load_factors(configured_override())
    parts = reused_by_kind(store, start, end, lot)
    return compute_account(reused_categories(store, start, end, lot), table, parts)
