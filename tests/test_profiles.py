"""Profiles: loading, validation errors, and grading inventories into verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench_agent.errors import InputError
from bench_agent.i18n import scoped_language, set_language
from bench_agent.inventory import collect_inventory
from bench_agent.inventory.cpu import parse_lscpu
from bench_agent.inventory.profiles import (
    GUIDED_IDS,
    grade_inventory,
    list_profiles,
    load_profile,
    profiles_dir,
)
from bench_agent.inventory.smartctl import parse_smartctl
from bench_agent.models.inventory import Disk, Inventory, Memory, OpticalDrive
from bench_agent.models.record import AutoCheck, GuidedCheck
from bench_agent.models.verdict import Criterion, Verdict
from tests.conftest import FIXTURES

P4_BUNDLE = FIXTURES / "evidence" / "pentium4-desktop"
ROOT = Path(__file__).parent.parent


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "bench_agent.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def p4() -> Inventory:
    return collect_inventory(evidence_dir=P4_BUNDLE)


def healthy_only(inventory: Inventory) -> Inventory:
    return inventory.model_copy(update={"disks": [d for d in inventory.disks if d.name == "sda"]})


def by_id(verdict: Verdict) -> dict[str, Criterion]:
    return {c.id: c for c in verdict.criteria}


def test_shipped_profiles_load() -> None:
    names = {p.name for p in list_profiles()}
    assert {"pentium4", "besancon-2003", "modern-2024", "test-bench"} <= names
    for profile in list_profiles():
        assert profile.title["en"] and profile.title["fr"]
        assert set(profile.guided_checks) <= set(GUIDED_IDS)
        assert profile.wipe.methods
    p4 = load_profile("pentium4")
    assert p4.cpu.require_sse2 and p4.memory.min_mb == 512 and p4.disk.min_gb == 40
    assert p4.optical.required == "dvd" and p4.sound.required
    assert load_profile("besancon-2003").memory.min_mb == 64
    modern = load_profile("modern-2024")
    assert modern.cpu.require_64bit and modern.memory.min_mb == 4096
    assert modern.disk.ssd == "preferred" and modern.optical.required == "none"
    bench = load_profile("test-bench")
    assert bench.wipe.allow_loop and bench.wipe.allow_removable and bench.wipe.verify == "sample"


def test_profiles_directory_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tiny.toml").write_text(
        'title = { en = "Tiny", fr = "Minuscule" }\n[memory]\nmin_mb = 32\n'
    )
    monkeypatch.setenv("BENCH_AGENT_PROFILES", str(tmp_path))
    assert profiles_dir() == tmp_path
    assert [p.name for p in list_profiles()] == ["tiny"]
    assert load_profile("tiny").memory.min_mb == 32
    assert load_profile(str(tmp_path / "tiny.toml")).name == "tiny"


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(InputError) as err:
        load_profile("pentium5")
    assert "pentium5" in err.value.message and "pentium4" in err.value.hint


@pytest.mark.parametrize(
    "body,field,expected",
    [
        ('[memory]\nmin_mb = "lots"\n', "memory.min_mb", "a whole number"),
        ('[optical]\nrequired = "bluray"\n', "optical.required", "one of"),
        ("[cpu]\nrequire_sse3 = true\n", "cpu.require_sse3", "no such field"),
        ('guided_checks = ["smell"]\n', "guided_checks.0", "one of"),
        ('[wipe]\nmethods = ["shred"]\n', "wipe.methods.0", "one of"),
        ('[wipe]\nverify = "maybe"\n', "wipe.verify", "one of"),
    ],
)
def test_malformed_profile_through_the_cli(
    tmp_path: Path, body: str, field: str, expected: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(body)
    result = cli("check", "--profile", str(bad), "--evidence", str(P4_BUNDLE))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert str(bad) in first and f"'{field}'" in first and expected in first
    assert result.stderr.splitlines()[1].startswith("hint: ")


def test_broken_toml_through_the_cli(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text("[memory\nmin_mb = 1\n")
    result = cli("check", "--profile", str(bad), "--evidence", str(P4_BUNDLE))
    assert result.returncode == 2
    assert "broken.toml" in result.stderr.splitlines()[0] and "TOML" in result.stderr


def test_malformed_profile_in_the_directory_breaks_profiles_listing(tmp_path: Path) -> None:
    (tmp_path / "ok.toml").write_text("")
    (tmp_path / "bad.toml").write_text('max_actions = "three"\n')
    result = cli("profiles", env={"BENCH_AGENT_PROFILES": str(tmp_path)})
    assert result.returncode == 2
    assert "bad.toml" in result.stderr and "'max_actions'" in result.stderr


# --- grading -----------------------------------------------------------------------------


def test_pentium4_bundle_remediate_failing_disk(p4: Inventory) -> None:
    verdict = grade_inventory(p4, load_profile("pentium4"))
    assert verdict.outcome == "remediate"
    crit = by_id(verdict)
    assert crit["disk.sdb.health"].status == "remediate"
    assert verdict.actions == ["remove the failing disk sdb (ST380011A)"]
    assert crit["ram"].status == "pass" and crit["ram"].measured == "512 MB installed"
    assert crit["disk.sda.health"].status == "pass"  # worn but usable
    assert crit["disk.sda.health"].messages == {  # each language with its own reasons
        "en": "disk sda (HDS722580VLAT20) is usable but worn: 1 reallocated sector",
        "fr": "le disque sda (HDS722580VLAT20) est utilisable mais usé : 1 secteur réalloué",
    }
    assert crit["disk.sdb.health"].messages == {
        "en": "disk sdb (ST380011A) is failing: 242 reallocated sectors (more than 50)",
        "fr": "le disque sdb (ST380011A) est défaillant : 242 secteurs réalloués (plus de 50)",
    }
    assert crit["cpu.sse2"].status == "pass"
    assert crit["optical"].status == "pass"
    assert verdict.destination == "reuse"
    assert verdict.summaries["fr"] == "gardée après : retirer le disque défaillant sdb (ST380011A)"
    for criterion in verdict.criteria:
        assert criterion.messages["en"] and criterion.messages["fr"]


def test_only_disk_failing_means_replace_it(p4: Inventory) -> None:
    inventory = p4.model_copy(update={"disks": [d for d in p4.disks if d.name == "sdb"]})
    verdict = grade_inventory(inventory, load_profile("pentium4"))
    assert verdict.outcome == "remediate"
    # One action for one job: the replacement disk must meet the profile's minimum.
    assert verdict.actions == ["replace the disk sdb (ST380011A) with one of at least 40 GB"]
    assert by_id(verdict)["disk.capacity"].status == "remediate"
    no_disk = grade_inventory(inventory.model_copy(update={"disks": []}), load_profile("pentium4"))
    assert no_disk.actions == ["install a disk of at least 40 GB"]


def test_kept_when_everything_meets(p4: Inventory) -> None:
    verdict = grade_inventory(healthy_only(p4), load_profile("pentium4"))
    assert verdict.outcome == "kept" and verdict.actions == []
    assert all(c.status == "pass" for c in verdict.criteria)


def test_no_sse2_is_rejected_under_pentium4(p4: Inventory) -> None:
    athlon = parse_lscpu((FIXTURES / "cpu" / "athlon-xp-2500-barton-f6bdec.lscpu.txt").read_text())
    verdict = grade_inventory(
        healthy_only(p4).model_copy(update={"cpu": athlon}), load_profile("pentium4")
    )
    assert verdict.outcome == "rejected"
    crit = by_id(verdict)["cpu.sse2"]
    assert crit.status == "fail" and crit.measured == "no SSE2"
    assert "AMD Athlon(tm) XP 2500+" in crit.message
    assert verdict.destination == "parts"  # healthy disk, DVD drive, RAM go to stock
    # Under the 2003 floor the same machine is fine.
    assert (
        grade_inventory(
            healthy_only(p4).model_copy(update={"cpu": athlon}), load_profile("besancon-2003")
        ).outcome
        == "kept"
    )


def test_pentium3_is_rejected_under_pentium4(p4: Inventory) -> None:
    p3 = parse_lscpu(
        (FIXTURES / "cpu" / "pentium3-coppermine-2socket-d6b515.lscpu.txt").read_text()
    )
    verdict = grade_inventory(
        healthy_only(p4).model_copy(update={"cpu": p3}), load_profile("pentium4")
    )
    assert verdict.outcome == "rejected"
    assert {c.id for c in verdict.criteria if c.status == "fail"} == {"cpu.sse2", "cpu.speed"}


def test_missing_ram_and_dvd_are_remediations(p4: Inventory) -> None:
    small = healthy_only(p4).model_copy(
        update={
            "memory": Memory(total_bytes=247 << 20),  # 256 MB stick minus video memory, no DMI
            "optical": [OpticalDrive(name="sr0", can_read_cd=True, model="CD-224E")],
        }
    )
    verdict = grade_inventory(small, load_profile("pentium4"))
    assert verdict.outcome == "remediate"
    assert verdict.actions == ["add 256 MB RAM", "install a DVD drive"]
    ram = by_id(verdict)["ram"]
    assert (ram.measured, ram.limit) == ("247 MB usable", "512 MB")
    assert ram.actions["fr"] == "ajouter 256 MB de mémoire"


def test_far_too_little_ram_is_rejected(p4: Inventory) -> None:
    tiny = healthy_only(p4).model_copy(update={"memory": Memory(total_bytes=120 << 20)})
    verdict = grade_inventory(tiny, load_profile("pentium4"))
    assert verdict.outcome == "rejected"
    assert by_id(verdict)["ram"].status == "fail"


def test_too_many_repairs_is_rejected(p4: Inventory) -> None:
    bare = healthy_only(p4).model_copy(
        update={"memory": Memory(total_bytes=247 << 20), "optical": [], "sound": [], "network": []}
    )
    verdict = grade_inventory(bare, load_profile("pentium4"))
    assert len([c for c in verdict.criteria if c.status == "remediate"]) == 4
    assert verdict.outcome == "rejected"
    assert "4 repairs needed" in verdict.summary


def test_guided_checks_per_profile(p4: Inventory) -> None:
    profile = load_profile("pentium4")
    good = healthy_only(p4)
    guided = [GuidedCheck(id=i, status="pass") for i in profile.guided_checks]
    assert grade_inventory(good, profile, guided=guided).outcome == "kept"
    failed = [
        g if g.id != "keyboard" else GuidedCheck(id="keyboard", status="fail", note="keys stuck")
        for g in guided
    ]
    verdict = grade_inventory(good, profile, guided=failed)
    assert verdict.outcome == "remediate" and verdict.actions == ["replace the keyboard"]
    assert "keys stuck" in by_id(verdict)["guided.keyboard"].message
    strict = profile.model_copy(update={"guided_on_fail": {"keyboard": "reject"}})
    assert grade_inventory(good, strict, guided=failed).outcome == "rejected"
    # A check not done yet is unknown, not a failure.
    partial = grade_inventory(good, profile, guided=guided[:2])
    assert partial.outcome == "kept"
    assert by_id(partial)["guided.screen"].status == "unknown"


def test_auto_check_results_feed_the_verdict(p4: Inventory) -> None:
    profile = load_profile("pentium4")
    good = healthy_only(p4)
    ram_bad = [AutoCheck(id="ram.pattern", status="fail", measured="64 MB", message="bad")]
    verdict = grade_inventory(good, profile, auto_checks=ram_bad)
    assert verdict.outcome == "remediate" and verdict.actions == ["replace the faulty RAM module"]
    cpu_bad = [AutoCheck(id="cpu.load", status="fail", message="wrong results")]
    assert grade_inventory(good, profile, auto_checks=cpu_bad).outcome == "rejected"
    warn = [AutoCheck(id="cpu.temperature", status="warn", message="88 °C")]
    assert grade_inventory(good, profile, auto_checks=warn).outcome == "kept"


def test_modern_profile_prefers_an_ssd() -> None:
    ryzen = parse_lscpu((FIXTURES / "cpu" / "ryzen7-5800x-029f25.lscpu.txt").read_text())
    hdd = parse_smartctl((FIXTURES / "smartctl" / "wdc-wd5000aaks-6cc0a9.txt").read_text())
    nvme = parse_smartctl((FIXTURES / "smartctl" / "nvme-samsung-960evo-c1bcff.txt").read_text())
    base = Inventory(cpu=ryzen, memory=Memory(total_bytes=7_900 << 20, installed_bytes=8 << 30))
    with_hdd = base.model_copy(
        update={
            "disks": [
                Disk(
                    name="sda",
                    model=hdd.model,
                    size_bytes=hdd.capacity_bytes or 0,
                    rotational=True,
                    transport="sata",
                    smart=hdd.smart.model_copy(update={"power_on_hours": 100}),
                )
            ]
        }
    )
    verdict = grade_inventory(with_hdd, load_profile("modern-2024"))
    assert "install an SSD of at least 120 GB" in verdict.actions
    with_nvme = base.model_copy(
        update={
            "disks": [
                Disk(
                    name="nvme0n1",
                    model=nvme.model,
                    size_bytes=nvme.capacity_bytes or 0,
                    rotational=False,
                    transport="nvme",
                    smart=nvme.smart,
                )
            ]
        }
    )
    crit = by_id(grade_inventory(with_nvme, load_profile("modern-2024")))
    assert crit["disk.ssd"].status == "pass"
    assert crit["cpu.64bit"].status == "pass"
    p4cpu = parse_lscpu(
        (FIXTURES / "cpu" / "pentium4-northwood-ht-nolm-513bd6.lscpu.txt").read_text()
    )
    old = grade_inventory(with_nvme.model_copy(update={"cpu": p4cpu}), load_profile("modern-2024"))
    assert old.outcome == "rejected" and by_id(old)["cpu.64bit"].status == "fail"
    assert (by_id(old)["cpu.64bit"].measured, by_id(old)["cpu.64bit"].limit) == ("32-bit", "64-bit")
    # The measured and required words are the operator's language, like the message.
    with scoped_language("fr"):
        french = by_id(
            grade_inventory(
                with_nvme.model_copy(update={"cpu": p4cpu}), load_profile("modern-2024")
            )
        )["cpu.64bit"]
    assert (french.measured, french.limit) == ("32 bits", "64 bits")
    assert french.message == "le processeur est uniquement 32 bits (" + (p4cpu.model or "?") + ")"


def test_messages_in_the_run_language(p4: Inventory) -> None:
    set_language("fr")
    try:
        verdict = grade_inventory(p4, load_profile("pentium4"))
    finally:
        set_language("en")
    assert verdict.actions == ["retirer le disque défaillant sdb (ST380011A)"]
    assert verdict.summary.startswith("gardée après")
    assert verdict.summaries["en"].startswith("kept after")


def test_loop_devices_count_only_under_test_bench() -> None:
    loop = Disk(name="loop3", kind="loop", transport="loop", size_bytes=64 << 20)
    inventory = Inventory(memory=Memory(total_bytes=512 << 20), disks=[loop])
    assert "disk.loop3.health" in by_id(grade_inventory(inventory, load_profile("test-bench")))
    assert "disk.loop3.health" not in by_id(grade_inventory(inventory, load_profile("pentium4")))


# --- CLI ---------------------------------------------------------------------------------


def test_check_cli_exit_codes_and_json() -> None:
    result = cli("check", "--profile", "pentium4", "--evidence", str(P4_BUNDLE), "--json")
    assert result.returncode == 3, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"]["outcome"] == "remediate"
    assert data["cpu"]["model"] == "Intel(R) Pentium(R) 4 CPU 3.06GHz"
    assert {"id", "status", "measured", "limit", "message"} <= set(data["verdict"]["criteria"][0])
    assert data["auto_checks"][0]["status"] == "skipped"


def test_check_cli_human_output_in_french() -> None:
    result = cli("--lang", "fr", "check", "--profile", "pentium4", "--evidence", str(P4_BUNDLE))
    assert result.returncode == 3
    assert "[>] à compléter" in result.stdout
    assert "GARDÉE APRÈS RÉPARATIONS" in result.stdout
    assert "retirer le disque défaillant sdb" in result.stdout


def test_profiles_cli() -> None:
    result = cli("profiles", "--json")
    assert result.returncode == 0
    names = [p["name"] for p in json.loads(result.stdout)]
    assert names == sorted(names) and "pentium4" in names
    table = cli("profiles")
    assert "pentium4" in table.stdout and "512 MB" in table.stdout


def test_profiles_dir_is_the_repository_one() -> None:
    assert profiles_dir() == ROOT / "profiles"


def test_ram_amounts_follow_module_sizes() -> None:
    profile = load_profile("modern-2024")
    ryzen = parse_lscpu((FIXTURES / "cpu" / "ryzen7-5800x-029f25.lscpu.txt").read_text())
    two_gb = Inventory(cpu=ryzen, memory=Memory(total_bytes=2_000 << 20, installed_bytes=2 << 30))
    ram = by_id(grade_inventory(two_gb, profile))["ram"]
    assert ram.status == "remediate" and ram.action == "add 2 GB RAM"


def test_a_disk_sold_as_40_gb_meets_40_gb(p4: Inventory) -> None:
    disk = p4.disks[0].model_copy(update={"size_bytes": 39_999_000_000})
    verdict = grade_inventory(p4.model_copy(update={"disks": [disk]}), load_profile("pentium4"))
    assert by_id(verdict)["disk.capacity"].status == "pass"
    small = disk.model_copy(update={"size_bytes": 30_000_000_000})
    verdict = grade_inventory(p4.model_copy(update={"disks": [small]}), load_profile("pentium4"))
    assert by_id(verdict)["disk.capacity"].status == "remediate"


def test_kept_summary_says_what_was_not_checked(p4: Inventory) -> None:
    verdict = grade_inventory(
        healthy_only(p4), load_profile("pentium4"), guided=[GuidedCheck(id="sound", status="pass")]
    )
    assert verdict.outcome == "kept"
    assert verdict.summary == "kept: meets the criteria of pentium4 (4 not checked)"
