"""Programme report: a seeded year of bench records and lifecycle events, totals counted by hand."""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest

from bench_agent.ledger.reports import (
    LifecycleEvent,
    compute_report,
    render_csv,
    render_json,
    render_pdf,
)
from bench_agent.models.inventory import Disk, Inventory, System
from bench_agent.models.record import AutoCheck, BenchRecord, GuidedCheck
from bench_agent.models.verdict import Criterion, Verdict
from bench_agent.models.wipe import WipeReport

YEAR_START = date(2025, 1, 1)
YEAR_END = date(2025, 12, 31)
CATEGORIES = ["family", "job_seeker", "student", "association", "school"]
METHODS = ["zero", "random", "ata-secure-erase-enhanced", "nvme-sanitize-crypto"]
GUIDED = ["screen", "keyboard", "mouse", "sound", "optical"]


@dataclass
class Expected:
    """Totals counted while generating, one simple increment per fact, independently of the code."""

    received: int = 0
    tested: int = 0
    refurbished: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    out_of_order: Counter[str] = field(default_factory=Counter)
    wiped: Counter[str] = field(default_factory=Counter)
    wipes_failed: int = 0
    imaged: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    returned: int = 0
    recycled: int = 0
    packed_by_month: Counter[str] = field(default_factory=Counter)


def when_in(rng: random.Random, start: date, days: int) -> datetime:
    day = start + timedelta(days=rng.randrange(days))
    return datetime(day.year, day.month, day.day, rng.randrange(8, 18), rng.randrange(60))


def seed_year(seed: int, lot_of_interest: str | None = None):  # type: ignore[no-untyped-def]
    """A year of activity (plus noise outside the year and training runs) and its expected totals.

    With ``lot_of_interest``, only machines of that lot are counted in the expectations.
    """
    rng = random.Random(seed)
    records: list[BenchRecord] = []
    events: list[LifecycleEvent] = []
    expected = Expected()
    for n in range(600):
        asset = f"BSN-{n:05d}"
        lot = rng.choice(["LOT-A", "LOT-B", "LOT-C"])
        # Machines 0..19 arrived and were tested in December 2024: outside the year.
        outside = n < 20
        in_lot = lot_of_interest is None or lot == lot_of_interest
        # Bench figures count runs in the year; lifecycle figures count events in the year.
        count = not outside and in_lot
        arrived = datetime(2024, 12, 10, 9) if outside else when_in(rng, YEAR_START, 300)
        events.append(LifecycleEvent(asset, "received", arrived, lot))
        expected.received += count

        # Sometimes a first run that was abandoned and redone: only the latest run counts.
        if rng.random() < 0.15:
            first = BenchRecord(
                station="st-1",
                asset_tag=asset,
                lot=lot,
                finished_at=arrived + timedelta(hours=1),
                inventory=Inventory(),
                verdict=Verdict(outcome="rejected", criteria=[Criterion(id="ram", status="fail")]),
                guided_checks=[GuidedCheck(id="screen", status="fail")],
            )
            records.append(first)
        # A training run on the same machine never counts.
        if rng.random() < 0.05:
            records.append(
                BenchRecord(
                    station="st-9",
                    asset_tag=asset,
                    lot=lot,
                    training=True,
                    finished_at=arrived + timedelta(hours=3),
                    inventory=Inventory(),
                    verdict=Verdict(outcome="rejected"),
                    wipes=[WipeReport(device="sda", method="zero", level="clear", status="erased")],
                )
            )

        tested = arrived + timedelta(hours=2)
        disks = []
        wipes = []
        failed_disks = 0
        for d in range(rng.choice([1, 1, 1, 2])):
            health = "fail" if rng.random() < 0.12 else "pass"
            failed_disks += health == "fail"
            disks.append(Disk(name=f"sd{'ab'[d]}", serial=f"S{n}-{d}", health=health))
            if rng.random() < 0.93:
                ok = rng.random() < 0.95
                method = rng.choice(METHODS)
                wipes.append(
                    WipeReport(
                        device=f"sd{'ab'[d]}",
                        method=method,
                        level="clear",
                        status="erased" if ok else "failed",
                        certificate_id=f"cert-{n}-{d}",
                    )
                )
                if count:
                    if ok:
                        expected.wiped[method] += 1
                    else:
                        expected.wipes_failed += 1
        guided = []
        dead: set[str] = set()
        for check in GUIDED:
            status = "fail" if rng.random() < 0.08 else rng.choice(["pass", "not_applicable"])
            guided.append(GuidedCheck(id=check, status=status))
            if status == "fail":
                dead.add(check)
        guided_dead = set(dead)
        autos = []
        if rng.random() < 0.04:
            autos.append(AutoCheck(id="ram.pattern", status="fail"))
            dead.add("memory")
        if rng.random() < 0.05:
            # The optical drive fails both the guided check and the automatic one: one drive.
            autos.append(AutoCheck(id="optical.answers", status="fail"))
            dead.add("optical")
        criteria = []
        if rng.random() < 0.06:
            criteria.append(Criterion(id="cpu.sse2", status="fail"))
        if rng.random() < 0.07:
            criteria.append(Criterion(id="ram", status="fail"))
        if failed_disks:
            criteria.append(Criterion(id="disk.sda.health", status="fail"))
        rejected = bool(criteria) or ("screen" in dead and rng.random() < 0.5)
        record = BenchRecord(
            station=f"st-{n % 7}",
            asset_tag=asset,
            lot=lot,
            started_at=tested - timedelta(minutes=50),
            finished_at=tested,
            inventory=Inventory(system=System(serial=f"SN{n}"), disks=disks),
            verdict=Verdict(outcome="rejected" if rejected else "kept", criteria=criteria),
            guided_checks=guided,
            auto_checks=autos,
            wipes=wipes,
        )
        records.append(record)
        if rng.random() < 0.03:
            records.append(record)  # the station retried the upload: same record, same certs
        if count:
            expected.tested += 1
            for kind in dead:
                expected.out_of_order[kind] += 1
            if failed_disks:
                expected.out_of_order["disk"] += failed_disks
        if rejected:
            if count:
                expected.rejected += 1
                for criterion in criteria:
                    if not criterion.id.startswith("disk."):
                        expected.reasons[criterion.id] += 1
                if failed_disks:  # a failed disk and its failed health criterion: one reason
                    expected.reasons["disk.failed"] += 1
                for check in GUIDED:
                    if check in guided_dead:
                        expected.reasons[f"guided.{check}"] += 1
            if rng.random() < 0.5:
                recycled_at = tested + timedelta(days=5)
                events.append(LifecycleEvent(asset, "recycled", recycled_at, lot))
                expected.recycled += in_lot and recycled_at.year == 2025
            continue

        imaged_at = tested + timedelta(hours=1)
        events.append(LifecycleEvent(asset, "imaged", imaged_at, lot))
        expected.imaged += in_lot and imaged_at.year == 2025
        packed_at = imaged_at + timedelta(days=rng.randrange(1, 20))
        events.append(LifecycleEvent(asset, "packed", packed_at, lot))
        if packed_at.year == 2025 and in_lot:
            expected.refurbished += 1
            expected.packed_by_month[packed_at.strftime("%Y-%m")] += 1
        if rng.random() < 0.8:
            given_at = packed_at + timedelta(days=rng.randrange(1, 40))
            category = rng.choice(CATEGORIES)
            events.append(LifecycleEvent(asset, "given", given_at, lot, category))
            if given_at.year == 2025 and in_lot:
                expected.delivered[category] += 1
            if rng.random() < 0.1:
                back = given_at + timedelta(days=rng.randrange(5, 60))
                events.append(LifecycleEvent(asset, "returned", back, lot, category))
                expected.returned += in_lot and back.year == 2025
    rng.shuffle(records)
    rng.shuffle(events)
    return records, events, expected


@pytest.mark.parametrize("lot", [None, "LOT-B"])
def test_a_seeded_year_reproduces_the_hand_counted_totals(lot: str | None) -> None:
    records, events, expected = seed_year(2025, lot)
    report = compute_report(records, events, start=YEAR_START, end=YEAR_END, lot=lot)
    assert report.received == expected.received
    assert report.tested == expected.tested
    assert report.refurbished == expected.refurbished
    assert report.rejected == expected.rejected
    assert report.rejected_by_reason == dict(+expected.reasons)
    assert report.out_of_order == dict(+expected.out_of_order)
    assert report.wiped_by_method == dict(+expected.wiped)
    assert report.disks_wiped == sum(expected.wiped.values())
    assert report.wipes_failed == expected.wipes_failed
    assert report.imaged == expected.imaged
    assert report.delivered_by_category == dict(+expected.delivered)
    assert report.delivered == sum(expected.delivered.values())
    assert report.returned == expected.returned
    assert report.recycled == expected.recycled
    assert {m: v["packed"] for m, v in report.monthly.items() if v["packed"]} == dict(
        +expected.packed_by_month
    )
    # The figures are not trivially small: the year really exercises every rule.
    if lot is None:
        assert report.received == 580 and report.rejected > 50 and report.returned > 5


def test_known_orders_come_first() -> None:
    records, events, _ = seed_year(7)
    report = compute_report(records, events, start=YEAR_START, end=YEAR_END)
    kinds = list(report.out_of_order)
    assert kinds[:3] == ["screen", "keyboard", "mouse"]
    assert list(report.delivered_by_category) == CATEGORIES


def test_csv_and_json_carry_the_same_figures() -> None:
    records, events, _ = seed_year(3)
    report = compute_report(records, events, start=YEAR_START, end=YEAR_END)
    data = json.loads(render_json(report))
    assert data["received"] == report.received and data["period_from"] == "2025-01-01"
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    totals = {r["key"]: int(r["value"]) for r in rows if r["section"] == "total"}
    assert totals["refurbished"] == report.refurbished
    by_method = {r["key"]: int(r["value"]) for r in rows if r["section"] == "wiped_by_method"}
    assert by_method == report.wiped_by_method


@pytest.mark.parametrize("language", ["en", "fr"])
def test_pdf_report_has_the_figures_and_a_chart(language: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bench_agent.i18n import set_language

    set_language(language)
    records, events, _ = seed_year(11)
    report = compute_report(records, events, start=YEAR_START, end=YEAR_END, lot="LOT-A")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(report))
    assert pdf.read_bytes().startswith(b"%PDF")
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext (poppler-utils) is missing; run scripts/setup --test"
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    heading = "Machines refurbished" if language == "en" else "Machines reconditionnées"
    assert heading in text
    assert ("keyboards" if language == "en" else "claviers") in text
    assert "LOT-A" in text
    # The refurbished count printed next to its heading.
    line = next(li for li in text.splitlines() if li.strip().startswith(heading))
    assert line.split()[-1] == str(report.refurbished)
