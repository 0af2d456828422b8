"""The parts bin end to end on a real ledger (uvicorn on a real port, SQLite and PostgreSQL):
a rejected Pentium 4's 256 MB module is harvested, suggested for a machine that lacks RAM,
fitted, and the re-inventory sees it and passes; bad input is refused with its reason.

Machines: the recorded Pentium 4 bundle (``tests/fixtures/evidence/pentium4-desktop``) is the
donor. The machine lacking RAM is a copy of that bundle with its second module taken out
(``DIMM_2`` "No Module Installed", MemTotal 256 MB less), its failing second disk removed and
its identity changed; after fitting, the copy gets the module back in ``DIMM_2``. A third copy
holds a laptop's DDR SODIMM module (form factor refused). No Pentium 4 with 256 MB was
recorded: these copies are composed from the real bundle, as its SOURCES.md says of its DMI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from bench_agent.config import AgentSettings, load_settings
from bench_agent.inventory.collect import collect_inventory
from bench_agent.inventory.grading import grade_inventory
from bench_agent.inventory.parts import (
    fitted_module_problem,
    memory_fit_problem,
    memory_part,
    suggest_memory,
)
from bench_agent.inventory.profiles import load_profile
from bench_agent.ledger.board_queries import load_report
from bench_agent.ledger.environment import account_lines, load_account, used_factors
from bench_agent.ledger.lang import language
from bench_agent.ledger.reports import render_csv
from bench_agent.models import BenchRecord, Inventory
from bench_agent.models.inventory import Memory, MemoryModule
from bench_agent.models.part import StockedPart
from bench_agent.sync import submit_record, sync_once
from bench_agent.sync.enroll import enroll
from bench_agent.sync.parts import (
    PartsRefused,
    fit_part,
    harvest,
    list_stock,
    part_label,
    scrap_part,
    stock_part,
    suggestion,
)
from bench_agent.sync.sender import auth_headers
from bench_agent.workflow.parts import bin_suggestion, fit_and_check, harvest_proposal
from tests.conftest import FIXTURES
from tests.test_ledger_support import Ledger, start_ledger

P4 = FIXTURES / "evidence" / "pentium4-desktop"
MB = 1 << 20
EMPTY_SLOT = "Size: No Module Installed"


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    running = start_ledger(request.param, tmp_path)
    try:
        yield running
    finally:
        running.server.stop()
        running.store.dispose()


def _copy_bundle(where: Path, serial: str, uuid: str) -> Path:
    bundle = where / serial
    shutil.copytree(P4, bundle)
    dmi = bundle / "sys" / "class" / "dmi" / "id"
    (dmi / "product_serial").write_text(serial + "\n")
    (dmi / "product_uuid").write_text(uuid + "\n")
    (dmi / "board_serial").write_text("B" + serial + "\n")
    (bundle / "smartctl" / "sdb.txt").unlink()  # its failing disk went to the recycler
    return bundle


def _set_dimm2(bundle: Path, present: bool) -> None:
    """Take the second module out of the copy (or put one back), as a technician does."""
    memory = bundle / "dmidecode" / "memory.txt"
    blocks = memory.read_text().split("\n\n")
    index = next(i for i, b in enumerate(blocks) if "Locator: DIMM_2" in b)
    block = blocks[index]
    if present:
        block = block.replace(EMPTY_SLOT, "Size: 256 MB").replace(
            "Speed: Unknown", "Speed: 400 MT/s"
        )
    else:
        block = block.replace("Size: 256 MB", EMPTY_SLOT).replace(
            "Speed: 400 MT/s", "Speed: Unknown"
        )
    blocks[index] = block
    memory.write_text("\n\n".join(blocks))
    meminfo = bundle / "proc" / "meminfo"
    total = 505264 if present else 505264 - 262144
    lines = meminfo.read_text().splitlines()
    lines[0] = f"MemTotal:       {total:>10} kB"
    meminfo.write_text("\n".join(lines) + "\n")


def _laptop_bundle(where: Path) -> Path:
    bundle = _copy_bundle(where, "LAPTOP1", "11111111-2222-3333-4444-555555555555")
    memory = bundle / "dmidecode" / "memory.txt"
    memory.write_text(memory.read_text().replace("Form Factor: DIMM", "Form Factor: SODIMM"))
    return bundle


def _deliver(settings: AgentSettings, tag: str, inventory: Inventory, profile: str) -> BenchRecord:
    verdict = grade_inventory(inventory, load_profile(profile))
    record = BenchRecord(
        station=settings.station,
        asset_tag=tag,
        lot="LOT-" + tag,
        operator="Lea",
        inventory=inventory,
        verdict=verdict,
    )
    submit_record(record, settings, send_now=False)
    report = sync_once(settings)
    assert report.sent >= 1 and not report.quarantined, report
    return record


def _enrolled(ledger: Ledger) -> AgentSettings:
    enroll(ledger.url, ledger.tokens["bench-1"], settings=load_settings())
    return load_settings()


def test_pentium4_module_harvested_suggested_fitted_and_seen(
    ledger: Ledger, tmp_path: Path
) -> None:
    settings = _enrolled(ledger)
    # The donor: the recorded Pentium 4, rejected by the programme's modern profile.
    donor = _deliver(settings, "AT-P4", collect_inventory(evidence_dir=P4), "modern-2024")
    assert donor.verdict is not None and donor.verdict.outcome == "rejected"
    proposal = harvest_proposal(donor)
    kinds = [(p.kind, p.slot) for p in proposal]
    assert kinds == [("memory", "DIMM_1"), ("memory", "DIMM_2"), ("optical", "sr0"),
                     ("sound", "card0")]  # fmt: skip
    assert proposal[0].description == "DDR-400 256 MB" and proposal[0].form_factor == "DIMM"
    # The disks: sda is only "warn", sdb fails, neither wiped here: none is proposed.
    modules = harvest(settings, "AT-P4", proposal[:2], "B3")
    assert [(p.code, p.state, p.bin, p.from_asset_tag) for p in modules] == [
        ("P000001", "in_stock", "B3", "AT-P4"),
        ("P000002", "in_stock", "B3", "AT-P4"),
    ]
    label = tmp_path / "label.pdf"
    label.write_bytes(part_label(settings, "P000001"))
    words = subprocess.run(["pdftotext", str(label), "-"], capture_output=True, text=True).stdout
    for expected in (
        "P000001",
        "Part: memory module",
        "DDR-400 256 MB",
        "DIMM",
        "Parts bin: B3",
        "AT-P4",
    ):
        assert expected in words, (expected, words)
    drive = harvest(settings, "AT-P4", proposal[2:3])[0]
    assert drive.state == "harvested" and drive.bin == ""
    assert stock_part(settings, drive.code, "C1").state == "in_stock"

    # Bad input: the same module again (DMI gives no serial: known by machine and slot).
    with pytest.raises(PartsRefused) as twice:
        harvest(settings, "AT-P4", proposal[:1], "B3")
    assert twice.value.message == (
        "DDR-400 256 MB from AT-P4 (DIMM_1) was already harvested as P000001 (in bin B3)."
    )
    # A part the record does not show, and a machine that is kept.
    stray = proposal[0].model_copy(update={"slot": "DIMM_4"})
    with pytest.raises(PartsRefused, match="record shows no such part"):
        harvest(settings, "AT-P4", [stray], "B3")

    # The machine lacking RAM: 256 MB in a board with four DIMM slots.
    target = _copy_bundle(tmp_path, "4BQ2K1K", "44454c4c-4200-1051-8032-b4c04f4b3199")
    _set_dimm2(target, present=False)
    before = collect_inventory(evidence_dir=target)
    assert before.memory.installed_bytes == 256 * MB
    # On the bench, before its record reaches the ledger: the verdict screen's line.
    local = bin_suggestion(settings, before, grade_inventory(before, load_profile("pentium4")))
    assert local is not None and local.text == "add 256 MB RAM: 2 × DDR-400 256 MB in bin B3"
    with pytest.raises(PartsRefused, match=r"^No machine AT-2 in the ledger\."):
        fit_part(settings, "P000001", "AT-2")  # no inventory sent, no record yet
    record = _deliver(settings, "AT-2", before, "pentium4")
    assert record.verdict is not None and record.verdict.outcome == "remediate"
    assert record.verdict.actions == ["add 256 MB RAM"]
    kept = _copy_bundle(tmp_path, "KEPT1", "66666666-2222-3333-4444-555555555555")
    _deliver(settings, "AT-OK", collect_inventory(evidence_dir=kept), "besancon-2003")
    with pytest.raises(PartsRefused, match="not rejected or to remediate"):
        harvest(settings, "AT-OK", proposal[:1], "B3")

    # A laptop's module in stock too: it shows as not fitting, with the reason.
    laptop = collect_inventory(evidence_dir=_laptop_bundle(tmp_path))
    _deliver(settings, "AT-L", laptop, "modern-2024")
    sodimm = harvest(settings, "AT-L", [memory_part(laptop.memory.modules[0])], "B9")[0]
    assert sodimm.form_factor == "SODIMM"

    shown = suggestion(settings, "AT-2")
    assert shown.text == "add 256 MB RAM: 2 × DDR-400 256 MB in bin B3"
    assert shown.best_codes == ["P000001", "P000002"]
    assert shown.refused == [
        {"code": sodimm.code, "reason": "a SODIMM module does not fit the board's DIMM slots"}
    ]
    with pytest.raises(PartsRefused, match="does not fit AT-2: a SODIMM module"):
        fit_part(settings, sodimm.code, "AT-2")

    # Fitted: the ledger moves the part, the bench re-inventories and sees it.
    def reinventory() -> Inventory:
        _set_dimm2(target, present=True)
        return collect_inventory(evidence_dir=target)

    check = fit_and_check(
        settings, "P000001", "AT-2", before, reinventory, load_profile("pentium4")
    )
    assert check.not_seen is None and check.ram is not None and check.ram.status == "pass"
    assert check.ok and check.verdict.outcome == "kept"
    assert (check.part.state, check.part.fitted_asset_tag, check.part.bin) == (
        "fitted", "AT-2", ""
    )  # fmt: skip
    _deliver(settings, "AT-2", check.after, "pentium4")
    assert [p.code for p in list_stock(settings, "memory")] == ["P000002", sodimm.code]
    # Supervisors read the stock too (their session); nobody else.
    seen = httpx.get(ledger.api("/parts?state=in_stock"), headers=ledger.supervisor)
    assert seen.status_code == 200 and [p["code"] for p in seen.json()][:1] == ["P000002"]
    assert httpx.get(ledger.api("/parts")).status_code == 401
    assert (
        httpx.post(
            ledger.api("/parts/P000002/fit"), json={"asset_tag": "AT-2"}, headers=ledger.supervisor
        ).status_code
        == 403
    )  # fitting is the bench's
    # A refusal answers with its status and one "detail" line (the app's one PartRefused
    # handler), on every parts route alike.
    station = auth_headers(settings)
    for method, path, body, status, detail in (
        ("GET", "/parts/P999999/label.pdf", None, 404, "No part P999999 in the bin."),
        ("POST", "/parts/P999999/scrap", {}, 404, "No part P999999 in the bin."),
        ("POST", "/parts/P000002/stock", {"bin": " "}, 422, "Say which bin the part goes in."),
        ("GET", "/parts/suggest?asset_tag=AT-NONE", None, 404,
         "No machine AT-NONE in the ledger. Finish the machine's bench run (its record) first."),
        ("POST", "/parts/P000001/fit", {"asset_tag": "AT-2"}, 409,
         "Part P000001 is not in stock: fitted into AT-2."),
    ):  # fmt: skip
        answer = httpx.request(method, ledger.api(path), json=body, headers=station)
        assert (answer.status_code, answer.json()) == (status, {"detail": detail}), path

    # Not in stock any more; unknown part; scrapped part.
    with pytest.raises(PartsRefused, match=r"^Part P000001 is not in stock: fitted into AT-2\.$"):
        fit_part(settings, "P000001", "AT-2")
    with pytest.raises(PartsRefused, match="No part P999999"):
        fit_part(settings, "P999999", "AT-2")
    assert scrap_part(settings, sodimm.code, "bent pins").state == "scrapped"
    with pytest.raises(PartsRefused, match="is not in stock: scrapped"):
        fit_part(settings, sodimm.code, "AT-2")

    # The ledger's account: one memory module reused; every part row and step is chained.
    from bench_agent.ledger import audit
    from bench_agent.ledger.environment import reused_by_kind

    assert reused_by_kind(ledger.store) == {"memory": 1}
    year = date.today()
    report = load_report(ledger.store, date(year.year, 1, 1), date(year.year, 12, 31))
    assert report.environment is not None
    assert report.to_json()["environment"]["parts_by_kind"] == {"memory": 1}
    assert "environment,parts.memory,1" in render_csv(report).splitlines()
    with language("fr"):
        lines = dict(account_lines(report.environment))
    assert lines["Pièces réemployées"] == "1 (barrettes de mémoire 1)"
    # The memory module factors ship unset: the figures say so instead of leaving the part out.
    assert report.environment.co2e_kg.value is None
    assert report.environment.co2e_kg.unset == ["memory_module"]
    assert "memory_module" in [c for c, _q, _f in used_factors(report.environment)]
    # Counted for the lot of the machine that received the part, not the donor's lot.
    assert load_account(ledger.store, lot="LOT-AT-2").parts == {"memory": 1}
    assert load_account(ledger.store, lot="LOT-AT-P4").parts == {}
    with ledger.store.session() as session:
        checked, problems = audit.verify_chain(session)
    assert problems == [] and checked > 0
    assert ledger.count("SELECT COUNT(*) FROM audit_chain WHERE table_name = 'part_events'") == 10
    from sqlalchemy import text

    with ledger.store.engine.begin() as conn:
        conn.execute(text("UPDATE parts SET bin = 'B4' WHERE code = 'P000002'"))
    with ledger.store.session() as session:
        _checked, problems = audit.verify_chain(session)
    assert [p.table for p in problems] == ["parts"]


def _board(modules: list[MemoryModule], slots: int, max_mb: int | None = None) -> Inventory:
    return Inventory(
        memory=Memory(
            total_bytes=sum(m.size_bytes for m in modules),
            installed_bytes=sum(m.size_bytes for m in modules),
            modules=modules,
            slots=slots,
            max_capacity_bytes=max_mb * MB if max_mb else None,
        )
    )


def _module(locator: str, size_mb: int, kind: str = "DDR", form: str = "DIMM") -> MemoryModule:
    return MemoryModule(
        locator=locator, size_bytes=size_mb * MB, type=kind, speed_mts=400, form_factor=form
    )


def test_memory_fit_checks_type_slots_and_board_maximum() -> None:
    board = _board([_module("DIMM_1", 256)], slots=2, max_mb=1024)
    assert memory_fit_problem(board, memory_part(_module("X", 256))) is None
    ddr2 = memory_part(_module("X", 512, kind="DDR2"))
    assert memory_fit_problem(board, ddr2) == "a DDR2 module does not fit a board that takes DDR"
    full = _board([_module("DIMM_1", 256), _module("DIMM_2", 256)], slots=2)
    assert memory_fit_problem(full, memory_part(_module("X", 256))) == (
        "no free memory slot (2 slots, 2 modules)"
    )
    big = memory_part(_module("X", 1024))
    assert memory_fit_problem(board, big) == "the board takes at most 1 GB (256 MB installed)"
    unknown = Inventory(memory=Memory(total_bytes=240 * MB))
    assert "memory type is unknown" in (memory_fit_problem(unknown, big) or "")


def test_suggestion_prefers_the_smallest_module_that_makes_up_the_shortfall() -> None:
    target = _board([_module("DIMM_1", 256)], slots=4)
    verdict = grade_inventory(target, load_profile("pentium4"))

    def stocked(code: str, size_mb: int, bin_: str) -> StockedPart:
        part = memory_part(_module("DIMM_1", size_mb))
        return StockedPart(**part.model_dump(), code=code, state="in_stock", bin=bin_)

    stock = [stocked("P1", 128, "A1"), stocked("P2", 1024, "A2"), stocked("P3", 256, "B3"),
             stocked("P4", 256, "B3"), stocked("P5", 256, "B3")]  # fmt: skip
    found = suggest_memory(target, verdict, stock)
    assert found is not None
    assert found.text == "add 256 MB RAM: 3 × DDR-400 256 MB in bin B3"
    assert [g.bin for g in found.groups] == ["B3", "A2", "A1"]
    kept = grade_inventory(_board([_module("DIMM_1", 512)], slots=4), load_profile("pentium4"))
    assert suggest_memory(target, kept, stock) is None  # RAM not to remediate: nothing shown


def test_a_fitted_module_the_reinventory_does_not_see_is_said() -> None:
    before = _board([_module("DIMM_1", 256)], slots=2)
    part = memory_part(_module("DIMM_1", 256))
    assert fitted_module_problem(before, before, part) == (
        "the fitted DDR-400 256 MB module is not seen: check it is seated (slots: no new module)"
    )
    after = _board([_module("DIMM_1", 256), _module("DIMM_2", 256)], slots=2)
    assert fitted_module_problem(before, after, part) is None


def test_the_parts_command_keeps_lists_and_refuses_twice(tmp_path: Path) -> None:
    running = start_ledger("sqlite", tmp_path)
    try:
        settings = _enrolled(running)
        donor = _deliver(settings, "AT-P4", collect_inventory(evidence_dir=P4), "modern-2024")
        saved = tmp_path / "record.json"
        saved.write_text(donor.model_dump_json())
        command = [sys.executable, "-m", "bench_agent.cli.main", "--lang", "en", "parts"]

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*command, *args], capture_output=True, text=True)

        kept = run("harvest", str(saved), "--bin", "B3", "--kind", "memory", "--psu", "Dell 250 W")
        assert kept.returncode == 0, kept.stderr
        assert kept.stdout.splitlines() == [
            "P000001  memory   DDR-400 256 MB  [in_stock: B3]",
            "P000002  memory   DDR-400 256 MB  [in_stock: B3]",
            "P000003  psu      Dell 250 W  [in_stock: B3]",
        ]
        again = run("harvest", str(saved), "--bin", "B3", "--kind", "memory")
        assert again.returncode == 1 and "Traceback" not in again.stderr
        assert again.stderr.splitlines()[0] == (
            "error: DDR-400 256 MB from AT-P4 (DIMM_1) was already harvested as P000001 "
            "(in bin B3)."
        )
        listed = run("stock", "--kind", "psu")
        assert listed.stdout.splitlines() == ["P000003  psu      Dell 250 W  [in_stock: B3]"]
        label = run("label", "P000003", "-o", str(tmp_path / "psu.pdf"))
        assert label.returncode == 0 and (tmp_path / "psu.pdf").read_bytes()[:5] == b"%PDF-"
    finally:
        running.server.stop()
        running.store.dispose()


def test_fitted_parts_count_with_their_kinds_factors(tmp_path: Path) -> None:
    from bench_agent.ledger import environment as env

    override = tmp_path / "factors.toml"
    override.write_text(
        "[categories.desktop]\nweight_kg = 9.5\n"
        '[categories.memory_module]\nweight_kg = 0.02\nco2e_kg = 10\nco2e_source = "test"\n'
    )
    account = env.compute_account(["desktop"], env.load_factors(override), {"memory": 2})
    assert account.machines == {"desktop": 1} and account.parts_reused == 2
    assert account.weight_kg.value == pytest.approx(9.5 + 2 * 0.02)
    assert account.co2e_kg.value == pytest.approx(204.4 + 2 * 10)
