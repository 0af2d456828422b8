"""The programme's quantitative report over a period (and optionally one donor lot).

Pure computation: bench records and lifecycle events in, a :class:`ProgrammeReport` out, then
rendered as JSON, CSV or PDF (with bar charts drawn with fpdf2 primitives). The ledger's store
loads the inputs; nothing here touches the database.

Counting rules (what a funder reads as "how many machines"):
- A machine is counted once per figure, whatever the number of bench runs: for rejections and
  components out of order, the latest non-training record of each machine in the period counts.
- Lifecycle figures (received, packed = refurbished, delivered, returned, recycled) count the
  events of that kind in the period, once per machine and kind.
- Disks wiped count every sanitization certificate issued in the period (a disk wiped twice
  was wiped twice), by method; failed or aborted wipes are counted apart.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from bench_agent.i18n import N_
from bench_agent.ledger import environment as env
from bench_agent.ledger.lang import _
from bench_agent.models.record import BenchRecord

BENEFICIARY_CATEGORIES = ("family", "job_seeker", "student", "association", "school")
LIFECYCLE_KINDS = (
    "received",
    "tested",
    "wiped",
    "imaged",
    "packed",
    "given",
    "returned",
    "recycled",
)

# Component kinds, in the order funders list them (screens, keyboards, mice first).
COMPONENT_KINDS = ("screen", "keyboard", "mouse", "disk", "optical", "sound", "memory", "cpu")
# Guided and automatic checks that say a component is dead, by check id prefix.
_CHECK_KIND = {
    "screen": "screen",
    "keyboard": "keyboard",
    "mouse": "mouse",
    "optical": "optical",
    "sound": "sound",
    "ram": "memory",
    "memory": "memory",
    "cpu": "cpu",
    "disk": "disk",
}

LABELS = {
    "screen": N_("screens"),
    "keyboard": N_("keyboards"),
    "mouse": N_("mice"),
    "disk": N_("disks"),
    "optical": N_("optical drives"),
    "sound": N_("sound cards"),
    "memory": N_("memory"),
    "cpu": N_("processors"),
    "family": N_("families"),
    "job_seeker": N_("job seekers"),
    "student": N_("students"),
    "association": N_("associations"),
    "school": N_("schools"),
    "disk.failed": N_("failed disk"),
    "guided.screen": N_("screen out of order"),
    "guided.keyboard": N_("keyboard out of order"),
    "guided.mouse": N_("mouse out of order"),
    "guided.sound": N_("no sound"),
    "guided.optical": N_("optical drive out of order"),
}


@dataclass(frozen=True)
class LifecycleEvent:
    """One step in a machine's life, as the ledger stores it."""

    asset: str
    kind: str  # one of LIFECYCLE_KINDS ("given" carries a beneficiary category)
    at: datetime
    lot: str = ""
    category: str = ""


@dataclass
class ProgrammeReport:
    period_from: date
    period_to: date
    lot: str | None = None
    received: int = 0
    tested: int = 0
    refurbished: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    out_of_order: dict[str, int] = field(default_factory=dict)
    disks_wiped: int = 0
    wiped_by_method: dict[str, int] = field(default_factory=dict)
    wipes_failed: int = 0
    imaged: int = 0
    delivered: int = 0
    delivered_by_category: dict[str, int] = field(default_factory=dict)
    returned: int = 0
    returned_by_category: dict[str, int] = field(default_factory=dict)
    recycled: int = 0
    monthly: dict[str, dict[str, int]] = field(default_factory=dict)
    # The environmental account (issue 16 item 3), attached by the ledger's load_report.
    environment: env.EnvironmentalAccount | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["period_from"] = self.period_from.isoformat()
        data["period_to"] = self.period_to.isoformat()
        data["environment"] = self.environment.to_json() if self.environment else None
        return data


def record_asset(record: BenchRecord) -> str:
    """The machine a record is about: its asset tag, else its stable machine id."""
    return (
        record.asset_tag
        or record.inventory.system.machine_id
        or record.inventory.system.serial
        or record.record_id
    )


def record_time(record: BenchRecord) -> datetime | None:
    return record.finished_at or record.started_at


def reason_key(criterion_id: str) -> str:
    """Group per-device criteria: ``disk.sda.health`` and ``disk.sdb.health`` are one reason."""
    parts = criterion_id.split(".")
    if parts[0] == "disk" and parts[-1] == "health":
        return "disk.failed"  # the same reason as a disk whose health check failed
    if len(parts) >= 3 and parts[0] in ("disk", "optical", "sound", "net"):
        return ".".join([parts[0], *parts[2:]])
    return criterion_id


def rejection_reasons(record: BenchRecord) -> set[str]:
    """Why a rejected machine was rejected: failed criteria, failed disks, dead components."""
    reasons: set[str] = set()
    if record.verdict is not None:
        reasons |= {reason_key(c.id) for c in record.verdict.criteria if c.status == "fail"}
    if any(d.health == "fail" for d in record.inventory.disks):
        reasons.add("disk.failed")
    for check in record.guided_checks:
        if check.status == "fail":
            reasons.add(f"guided.{check.id}")
    return reasons


def dead_components(record: BenchRecord) -> Counter[str]:
    """Components out of order in one machine, by kind (each failed disk counts)."""
    kinds: set[str] = set()
    for check in record.guided_checks:
        if check.status == "fail":
            kinds.add(_CHECK_KIND.get(check.id.split(".")[0], check.id))
    for auto in record.auto_checks:
        if auto.status == "fail":
            kind = _CHECK_KIND.get(auto.id.split(".")[0])
            if kind is not None and kind != "disk":
                kinds.add(kind)
    counts: Counter[str] = Counter(k for k in kinds if k != "disk")
    failed_disks = sum(1 for d in record.inventory.disks if d.health == "fail" and d.kind != "loop")
    if failed_disks:
        counts["disk"] = failed_disks
    return counts


def _naive(when: datetime | None) -> datetime:
    """Comparable times whether the station sent them with a time zone or not."""
    if when is None:
        return datetime.min
    if when.tzinfo is not None:
        return when.astimezone(UTC).replace(tzinfo=None)
    return when


def _in_period(when: datetime | None, start: date, end: date) -> bool:
    return when is not None and start <= when.date() <= end


def _sorted(counter: Counter[str], order: Iterable[str] = ()) -> dict[str, int]:
    """Known keys in their usual order first, then the rest by decreasing count."""
    order = list(order)
    first = [k for k in order if counter.get(k)]
    rest = sorted(
        (k for k in counter if k not in order and counter[k]), key=lambda k: (-counter[k], k)
    )
    return {k: counter[k] for k in [*first, *rest]}


def compute_report(
    records: Iterable[BenchRecord],
    events: Iterable[LifecycleEvent],
    *,
    start: date,
    end: date,
    lot: str | None = None,
    asset_key: Callable[[BenchRecord], str] = record_asset,
) -> ProgrammeReport:
    """The report for ``start``..``end`` (both days included), for one ``lot`` or all.

    ``asset_key`` says which machine a record is about (the ledger passes its asset ids).
    """
    report = ProgrammeReport(period_from=start, period_to=end, lot=lot)
    monthly: dict[str, Counter[str]] = {}

    latest: dict[str, BenchRecord] = {}
    wipe_methods: Counter[str] = Counter()
    seen_certificates: set[str] = set()
    for record in records:
        when = record_time(record)
        if record.training or not _in_period(when, start, end):
            continue
        if lot is not None and record.lot != lot:
            continue
        key = asset_key(record)
        current = latest.get(key)
        if current is None or _naive(record_time(current)) <= _naive(when):
            latest[key] = record
        for wipe in record.wipes:
            if wipe.certificate_id:
                if wipe.certificate_id in seen_certificates:
                    continue  # the same certificate sent twice (a retry) is one wipe
                seen_certificates.add(wipe.certificate_id)
            if wipe.status in ("erased", "erased_with_exceptions"):
                wipe_methods[str(wipe.method)] += 1
            else:
                report.wipes_failed += 1

    reasons: Counter[str] = Counter()
    components: Counter[str] = Counter()
    for record in latest.values():
        components += dead_components(record)
        if record.verdict is not None and record.verdict.outcome == "rejected":
            report.rejected += 1
            reasons.update(rejection_reasons(record))
    report.tested = len(latest)
    report.rejected_by_reason = _sorted(reasons)
    report.out_of_order = _sorted(components, COMPONENT_KINDS)
    report.wiped_by_method = _sorted(wipe_methods)
    report.disks_wiped = sum(wipe_methods.values())

    seen: set[tuple[str, str]] = set()
    per_kind: Counter[str] = Counter()
    delivered: Counter[str] = Counter()
    returned: Counter[str] = Counter()
    for event in sorted(events, key=lambda e: _naive(e.at)):
        if not _in_period(event.at, start, end):
            continue
        if lot is not None and event.lot != lot:
            continue
        if (event.asset, event.kind) in seen:
            continue
        seen.add((event.asset, event.kind))
        per_kind[event.kind] += 1
        month = monthly.setdefault(event.at.strftime("%Y-%m"), Counter())
        month[event.kind] += 1
        if event.kind == "given":
            delivered[event.category or "unknown"] += 1
        elif event.kind == "returned":
            returned[event.category or "unknown"] += 1
    report.received = per_kind["received"]
    report.refurbished = per_kind["packed"]
    report.imaged = per_kind["imaged"]
    report.delivered = per_kind["given"]
    report.returned = per_kind["returned"]
    report.recycled = per_kind["recycled"]
    report.delivered_by_category = _sorted(delivered, BENEFICIARY_CATEGORIES)
    report.returned_by_category = _sorted(returned, BENEFICIARY_CATEGORIES)
    report.monthly = {
        month: {k: counts[k] for k in ("received", "packed", "given")}
        for month, counts in sorted(monthly.items())
    }
    return report


def label(key: str) -> str:
    """A report key in the current language (criterion ids and methods stay as they are)."""
    return _(LABELS[key]) if key in LABELS else key


def headline_figures(report: ProgrammeReport) -> list[tuple[str, int]]:
    """The report's headline (title, count) pairs, for the PDF and the dashboard's report page."""
    return [
        (_("Machines received"), report.received),
        (_("Machines tested"), report.tested),
        (_("Machines refurbished"), report.refurbished),
        (_("Machines rejected"), report.rejected),
        (_("Disks wiped"), report.disks_wiped),
        (_("Wipes failed"), report.wipes_failed),
        (_("Machines imaged"), report.imaged),
        (_("Machines delivered"), report.delivered),
        (_("Machines returned"), report.returned),
        (_("Machines recycled"), report.recycled),
    ]


def report_sections(report: ProgrammeReport) -> list[tuple[str, str, dict[str, int]]]:
    """The report's breakdowns (key, title, counts), for the PDF, the CSV and the report page."""
    return [
        ("rejected_by_reason", _("Rejected, by reason"), report.rejected_by_reason),
        ("out_of_order", _("Components out of order"), report.out_of_order),
        ("wiped_by_method", _("Disks wiped, by method"), report.wiped_by_method),
        ("delivered_by_category", _("Delivered, by beneficiary"), report.delivered_by_category),
        ("returned_by_category", _("Returned, by beneficiary"), report.returned_by_category),
    ]


def render_json(report: ProgrammeReport) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"


def render_csv(report: ProgrammeReport) -> str:
    """Long format: ``section,key,value`` — opens in any spreadsheet, easy to pivot."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "key", "value"])
    writer.writerow(["period", "from", report.period_from.isoformat()])
    writer.writerow(["period", "to", report.period_to.isoformat()])
    writer.writerow(["period", "lot", report.lot or ""])
    data = report.to_json()
    for key in (
        "received",
        "tested",
        "refurbished",
        "rejected",
        "disks_wiped",
        "wipes_failed",
        "imaged",
        "delivered",
        "returned",
        "recycled",
    ):
        writer.writerow(["total", key, data[key]])
    for section, _title, values in report_sections(report):
        for key, value in values.items():
            writer.writerow([section, key, value])
    for month, values in report.monthly.items():
        for key, value in values.items():
            writer.writerow([f"monthly.{key}", month, value])
    if report.environment is not None:
        writer.writerows(env.csv_rows(report.environment))
    return buffer.getvalue()


def render_pdf(report: ProgrammeReport) -> bytes:
    """A4 report: headline figures, then each breakdown as a bar chart with its numbers."""
    from bench_agent.ledger.pdf import new_pdf, text, use_font

    pdf = new_pdf(orientation="P", unit="mm", format="A4")
    pdf.set_title(_("Programme report"))
    pdf.add_page()
    margin = 15.0
    width = 210 - 2 * margin
    use_font(pdf, "B", 16)
    pdf.set_xy(margin, margin)
    pdf.cell(width, 9, text(pdf, _("Programme report")), new_x="LMARGIN", new_y="NEXT")
    use_font(pdf, "", 10)
    period = _(
        "From {start} to {end}",
        start=report.period_from.isoformat(),
        end=report.period_to.isoformat(),
    )
    if report.lot:
        period += " — " + _("donor lot {lot}", lot=report.lot)
    pdf.set_x(margin)
    pdf.cell(width, 6, text(pdf, period), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    for title, value in headline_figures(report):
        pdf.set_x(margin)
        use_font(pdf, "", 11)
        pdf.cell(width - 30, 6.5, text(pdf, title))
        use_font(pdf, "B", 11)
        pdf.cell(30, 6.5, str(value), align="R", new_x="LMARGIN", new_y="NEXT")
    if report.environment is not None:
        _environment_block(pdf, report.environment, x=margin, width=width)

    charts: list[tuple[str, dict[str, int]]] = [
        (title, {label(k): v for k, v in values.items()})
        for _key, title, values in report_sections(report)
    ]
    if report.monthly:
        charts.insert(
            0,
            (
                _("Machines refurbished, by month"),
                {month: values.get("packed", 0) for month, values in report.monthly.items()},
            ),
        )
    for title, values in charts:
        if not values:
            continue
        needed = 12 + 6.5 * len(values)
        if pdf.get_y() + needed > 297 - margin:
            pdf.add_page()
            pdf.set_y(margin)
        pdf.ln(4)
        _bar_chart(pdf, title, values, x=margin, width=width)
    output = pdf.output()
    return bytes(output)


def _environment_block(
    pdf: Any, account: env.EnvironmentalAccount, *, x: float, width: float
) -> None:
    """The environmental account's figures, then its factors and their sources in small type."""
    from bench_agent.ledger.pdf import text, use_font

    pdf.ln(4)
    use_font(pdf, "B", 12)
    pdf.set_x(x)
    pdf.cell(width, 8, text(pdf, _("Environmental account")), new_x="LMARGIN", new_y="NEXT")
    for title, value in env.account_lines(account):
        pdf.set_x(x)
        use_font(pdf, "", 10)
        pdf.cell(88, 6, text(pdf, title))
        use_font(pdf, "B", 10)
        pdf.multi_cell(width - 88, 6, text(pdf, value), new_x="LMARGIN", new_y="NEXT")
    use_font(pdf, "", 7.5)
    for line in env.source_lines(account):
        pdf.set_x(x)
        pdf.multi_cell(width, 3.8, text(pdf, line), new_x="LMARGIN", new_y="NEXT")


def _bar_chart(pdf: Any, title: str, values: dict[str, int], *, x: float, width: float) -> None:
    """Horizontal bars: label, bar proportional to the largest value, then the number."""
    from bench_agent.ledger.pdf import text, use_font

    use_font(pdf, "B", 12)
    pdf.set_x(x)
    pdf.cell(width, 8, text(pdf, title), new_x="LMARGIN", new_y="NEXT")
    label_w, number_w = 60.0, 18.0
    bar_w = width - label_w - number_w - 2
    top = max(values.values()) or 1
    use_font(pdf, "", 9)
    for key, value in values.items():
        y = pdf.get_y()
        pdf.set_xy(x, y)
        pdf.cell(label_w, 6, text(pdf, key)[:40])
        pdf.set_fill_color(40, 40, 40)
        length = bar_w * value / top
        if length > 0:
            pdf.rect(x + label_w, y + 1, max(length, 0.6), 4, style="F")
        pdf.set_xy(x + label_w + bar_w + 2, y)
        pdf.cell(number_w, 6, str(value), align="R", new_x="LMARGIN", new_y="NEXT")
