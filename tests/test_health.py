"""Disk-health rules over real recorded smartctl outputs and boundary values."""

from __future__ import annotations

import pytest

from bench_agent.i18n import set_language
from bench_agent.inventory.health import HealthThresholds, assess_disk, assess_disk_i18n
from bench_agent.inventory.smartctl import parse_smartctl
from bench_agent.models.inventory import Smart
from tests.conftest import FIXTURES

SMARTCTL = FIXTURES / "smartctl"

# Expected level per real output, decided by hand from the attribute tables and the rules.
LEVELS = {
    "maxtor-6b200m0-0525b7.txt": "pass",
    "fujitsu-mht2040ah-043790.txt": "pass",
    "toshiba-mk8034gsx-062299.txt": "warn",  # 28 reallocated
    "hitachi-hds722580vlat20-b345a1.txt": "warn",  # 1 reallocated
    "wdc-wd1200bb-e8a3e5.txt": "pass",
    "seagate-st3250820as-401923.txt": "warn",  # 72774 power-on hours
    "samsung-hd160jj-p-7b9ff4.txt": "warn",  # 76200 h
    "hitachi-hts545050b9a300-2bea3a.txt": "warn",  # 69485 h
    "wdc-wd5000aaks-6cc0a9.txt": "warn",  # 85167 h
    "seagate-st380011a-03a1a3-realloc242-unc.txt": "fail",  # 242 reallocated > 50
    "samsung-hd080hj-0328fc-reported-unc.txt": "fail",  # 187 = 22
    "fujitsu-mhv2160bt-b8ecd9-pending-offline-unc.txt": "fail",  # 197 = 10, 198 = 130
    "samsung-hm160hi-bb7ef3-pending1283.txt": "fail",
    "seagate-st3320620as-f8ea94-pending-wrapped.txt": "fail",
    "seagate-st9160821as-830b9c-failed.txt": "fail",
    "maxtor-6l160m0-977ca7-failed.txt": "fail",
    "ssd-samsung-840evo-7e3c6c.txt": "warn",  # 63003 h
    "ssd-kingston-sv300-6994c7.txt": "warn",  # 55166 h
    "ssd-crucial-m4-abba40.txt": "warn",  # 53420 h
    "ssd-intel-520-b9c4f2.txt": "warn",  # 55244 h (Device Statistics)
    "ssd-sandisk-plus-3c8d3a.txt": "pass",
    "nvme-samsung-960evo-c1bcff.txt": "pass",  # 10 % used
    "nvme-samsung-950pro-80e28f.txt": "pass",
    "nvme-skhynix-pc401-1278ee.txt": "pass",
    "nvme-realtek-nvme2t-9ddb72.txt": "pass",
    "nvme-intel-660p-e90e91-media-errors.txt": "fail",  # 60 media errors
    "nvme-wdc-sn520-9eb947-critical-warning.txt": "fail",  # FAILED, warning 0x04
    "usb-asmt109x-fast-6fe290.txt": "pass",
    "usb-asmt109x-volume-6d8c08.txt": "pass",
    "usb-asmt109x-safe-9b5172.txt": "pass",
    "loop-device-this-vm.txt": "unknown",
}


@pytest.mark.parametrize("file", sorted(LEVELS))
def test_health_of_real_disks(file: str) -> None:
    smart = parse_smartctl((SMARTCTL / file).read_text()).smart
    level, reasons = assess_disk(smart)
    assert level == LEVELS[file]
    assert (level == "pass") == (reasons == [])


def test_reasons_name_the_attribute_in_both_languages() -> None:
    smart = parse_smartctl(
        (SMARTCTL / "fujitsu-mhv2160bt-b8ecd9-pending-offline-unc.txt").read_text()
    ).smart
    level, reasons = assess_disk_i18n(smart)
    assert level == "fail"
    english = [r["en"] for r in reasons]
    assert "10 sectors pending reallocation (197)" in english
    assert "130 offline uncorrectable sectors (198)" in english
    assert "194 reallocated sectors (more than 50)" in english
    french = [r["fr"] for r in reasons]
    assert "10 secteurs en attente de réallocation (197)" in french


def test_reasons_follow_the_current_language() -> None:
    smart = Smart(available=True, overall="PASSED", reallocated_sectors=3)
    set_language("fr")
    try:
        assert assess_disk(smart) == ("warn", ["3 secteurs réalloués"])
    finally:
        set_language("en")
    assert assess_disk(smart) == ("warn", ["3 reallocated sectors"])


def test_unknown_when_no_smart() -> None:
    level, reasons = assess_disk(Smart(available=False, reason="device lacks SMART capability"))
    assert level == "unknown"
    assert reasons == ["no SMART data (device lacks SMART capability)"]


@pytest.mark.parametrize(
    "fields,level",
    [
        ({"reallocated_sectors": 50}, "warn"),
        ({"reallocated_sectors": 51}, "fail"),
        ({"reallocated_sectors": 0}, "pass"),
        ({"pending_sectors": 1}, "fail"),
        ({"offline_uncorrectable": 1}, "fail"),
        ({"reported_uncorrect": 1}, "fail"),
        ({"power_on_hours": 50_000}, "pass"),
        ({"power_on_hours": 50_001}, "warn"),
        ({"nvme_critical_warning": 1}, "fail"),
        ({"nvme_media_errors": 1}, "fail"),
        ({"nvme_percentage_used": 79}, "pass"),
        ({"nvme_percentage_used": 80}, "warn"),
        ({"nvme_percentage_used": 100}, "fail"),
        ({"nvme_percentage_used": 255}, "fail"),
        ({"overall": "FAILED"}, "fail"),
        ({"self_test": "Extended offline — Completed: read failure"}, "fail"),
        ({"self_test": "Short offline — Completed without error"}, "pass"),
        ({"self_test": "Short offline — Fatal or unknown error"}, "fail"),
        ({"self_test": "Short offline — Aborted by host"}, "pass"),
    ],
)
def test_rule_boundaries(fields: dict[str, object], level: str) -> None:
    smart = Smart.model_validate({"available": True, "overall": "PASSED", **fields})
    assert assess_disk(smart)[0] == level


def test_profile_thresholds_override_defaults() -> None:
    smart = Smart(available=True, overall="PASSED", reallocated_sectors=30, power_on_hours=45_000)
    assert assess_disk(smart)[0] == "warn"
    strict = HealthThresholds(reallocated_fail=20, power_on_hours_warn=40_000)
    level, reasons = assess_disk(smart, strict)
    assert level == "fail"
    assert "30 reallocated sectors (more than 20)" in reasons
    assert "45000 power-on hours (more than 40000)" in reasons


def test_a_single_error_is_said_in_the_singular() -> None:
    smart = Smart(available=True, overall="PASSED", reported_uncorrect=1, nvme_media_errors=1)
    _level, reasons = assess_disk_i18n(smart)
    assert [r["en"] for r in reasons] == [
        "1 uncorrectable error reported (187)",
        "1 NVMe media and data integrity error",
    ]
    assert [r["fr"] for r in reasons] == [
        "1 erreur non corrigible signalée (187)",
        "1 erreur NVMe de support et d'intégrité des données",
    ]
    _level, reasons = assess_disk_i18n(smart.model_copy(update={"reported_uncorrect": 2}))
    assert reasons[0] == {
        "en": "2 uncorrectable errors reported (187)",
        "fr": "2 erreurs non corrigibles signalées (187)",
    }
