"""The smartctl text parser over real recorded outputs; expected values written from the texts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench_agent.inventory.smartctl import (
    parse_int,
    parse_raw_value,
    parse_smartctl,
    power_on_hours_from,
)
from tests.conftest import FIXTURES

SMARTCTL = FIXTURES / "smartctl"


def load(name: str) -> str:
    return (SMARTCTL / name).read_text(encoding="utf-8")


@dataclass
class Expect:
    file: str
    device_type: str
    model: str
    firmware: str
    capacity: int
    overall: str | None
    realloc: int | None
    pending: int | None
    offline: int | None
    reported: int | None
    hours: int | None
    rotational: bool | None = None
    transport: str = ""
    short_min: int | None = None


# Each row copied by hand from the file's text (information section and attribute table).
ATA = [
    Expect(
        "maxtor-6b200m0-0525b7.txt",
        "ata",
        "Maxtor 6B200M0",
        "BANC1G10",
        203_928_109_056,
        "PASSED",
        0,
        0,
        0,
        None,
        1024,
        None,
        "",
        2,
    ),
    Expect(
        "fujitsu-mht2040ah-043790.txt",
        "ata",
        "FUJITSU MHT2040AH",
        "006C",
        40_007_761_920,
        "PASSED",
        0,
        0,
        0,
        None,
        12759,
        None,
        "",
        2,
    ),
    Expect(
        "hitachi-hds722580vlat20-b345a1.txt",
        "ata",
        "HDS722580VLAT20",
        "V32OA6MA",
        82_347_195_904,
        "PASSED",
        1,
        0,
        0,
        None,
        4737,
        None,
        "",
        1,
    ),
    Expect(
        "wdc-wd1200bb-e8a3e5.txt",
        "ata",
        "WDC WD1200BB-00GUA0",
        "08.02D08",
        120_033_041_920,
        "PASSED",
        0,
        0,
        0,
        None,
        30824,
        None,
        "",
        2,
    ),
    Expect(
        "seagate-st3250820as-401923.txt",
        "ata",
        "ST3250820AS",
        "3.AAE",
        250_059_350_016,
        "PASSED",
        0,
        0,
        0,
        0,
        72774,
        None,
        "",
        1,
    ),
    Expect(
        "samsung-hd160jj-p-7b9ff4.txt",
        "ata",
        "SAMSUNG HD160JJ/P",
        "ZM100-34",
        160_000_000_000,
        "PASSED",
        0,
        0,
        0,
        None,
        76200,
        None,
        "",
        1,
    ),
    Expect(
        "hitachi-hts545050b9a300-2bea3a.txt",
        "ata",
        "HTS545050B9A300",
        "PB4OC64G",
        500_107_862_016,
        "PASSED",
        0,
        0,
        0,
        None,
        69485,
        True,
        "sata",
        2,
    ),
    Expect(
        "seagate-st380011a-03a1a3-realloc242-unc.txt",
        "ata",
        "ST380011A",
        "8.01",
        80_025_280_000,
        "PASSED",
        242,
        0,
        0,
        None,
        23483,
        None,
        "",
        1,
    ),
    Expect(
        "samsung-hd080hj-0328fc-reported-unc.txt",
        "ata",
        "SAMSUNG HD080HJ",
        "WT100-41",
        80_025_280_000,
        "PASSED",
        0,
        0,
        0,
        22,
        36416,
        None,
        "",
        1,
    ),
    Expect(
        "fujitsu-mhv2160bt-b8ecd9-pending-offline-unc.txt",
        "ata",
        "FUJITSU MHV2160BT",
        "00000013",
        160_041_885_696,
        "PASSED",
        194,
        10,
        130,
        None,
        11593,
        None,
        "",
        2,
    ),
    Expect(
        "samsung-hm160hi-bb7ef3-pending1283.txt",
        "ata",
        "SAMSUNG HM160HI",
        "HH100-15",
        160_041_885_696,
        "PASSED",
        13,
        1283,
        5977,
        None,
        2137,
        None,
        "sata",
        2,
    ),
    Expect(
        "seagate-st3320620as-f8ea94-pending-wrapped.txt",
        "ata",
        "ST3320620AS",
        "3.AAE",
        320_072_933_376,
        "PASSED",
        127,
        4294967281,
        4294967281,
        171,
        2246,
        None,
        "",
        1,
    ),
    Expect(
        "seagate-st9160821as-830b9c-failed.txt",
        "ata",
        "ST9160821AS",
        "3.ALC",
        160_041_885_696,
        "FAILED",
        23346,
        3938,
        3938,
        26261,
        1995,
        None,
        "",
        1,
    ),
    Expect(
        "maxtor-6l160m0-977ca7-failed.txt",
        "ata",
        "Maxtor 6L160M0",
        "BANC1G10",
        163_927_522_816,
        "FAILED",
        2555,
        1825,
        83,
        None,
        234,
        None,
        "",
        2,
    ),
    Expect(
        "toshiba-mk8034gsx-062299.txt",
        "ata",
        "TOSHIBA MK8034GSX",
        "AH301J",
        80_026_361_856,
        "PASSED",
        28,
        0,
        0,
        None,
        12776,
        None,
        "",
        2,
    ),
    Expect(
        "wdc-wd5000aaks-6cc0a9.txt",
        "ata",
        "WDC WD5000AAKS-00A7B0",
        "01.03B01",
        500_107_862_016,
        "PASSED",
        0,
        0,
        0,
        None,
        85167,
        None,
        "sata",
        2,
    ),
    # SATA SSDs.
    Expect(
        "ssd-samsung-840evo-7e3c6c.txt",
        "ata",
        "Samsung SSD 840 EVO 250GB",
        "EXT0DB6Q",
        250_059_350_016,
        "PASSED",
        0,
        None,
        None,
        0,
        63003,
        False,
        "sata",
        2,
    ),
    Expect(
        "ssd-kingston-sv300-6994c7.txt",
        "ata",
        "KINGSTON SV300S37A120G",
        "506ABBF0",
        120_034_123_776,
        "PASSED",
        0,
        None,
        None,
        0,
        55166,
        False,
        "sata",
        1,
    ),
    Expect(
        "ssd-crucial-m4-abba40.txt",
        "ata",
        "M4-CT128M4SSD2",
        "0309",
        128_035_676_160,
        "PASSED",
        0,
        0,
        0,
        0,
        53420,
        False,
        "sata",
        2,
    ),
    # Power_On_Hours_and_Msec says 950038h (bogus); Device Statistics says 55244 h.
    Expect(
        "ssd-intel-520-b9c4f2.txt",
        "ata",
        "INTEL SSDSC2CW180A3",
        "400i",
        180_045_766_656,
        "PASSED",
        0,
        None,
        None,
        0,
        55244,
        False,
        "sata",
        1,
    ),
    Expect(
        "ssd-sandisk-plus-3c8d3a.txt",
        "ata",
        "SanDisk SSD PLUS 240GB",
        "UF2204RL",
        240_057_409_536,
        "PASSED",
        0,
        None,
        None,
        0,
        1,
        False,
        "sata",
        2,
    ),
]

NVME = [
    # file, model, firmware, capacity, overall, critical warning, media errors, % used, hours
    (
        "nvme-samsung-960evo-c1bcff.txt",
        "Samsung SSD 960 EVO 500GB",
        "3B7QCXE7",
        500_107_862_016,
        "PASSED",
        0,
        0,
        10,
        13212,
    ),
    (
        "nvme-samsung-950pro-80e28f.txt",
        "Samsung SSD 950 PRO 256GB",
        "1B0QBXX7",
        256_060_514_304,
        "PASSED",
        0,
        0,
        0,
        38091,
    ),
    (
        "nvme-skhynix-pc401-1278ee.txt",
        "PC401 NVMe SK hynix 512GB",
        "80003E00",
        512_110_190_592,
        "PASSED",
        0,
        0,
        1,
        4497,
    ),
    (
        "nvme-realtek-nvme2t-9ddb72.txt",
        "Realtek_nvme2T",
        "VC2S0388",
        2_048_408_248_320,
        "PASSED",
        0,
        0,
        0,
        6,
    ),
    (
        "nvme-intel-660p-e90e91-media-errors.txt",
        "INTEL SSDPEKNW512G8H",
        "HPS0",
        512_110_190_592,
        "PASSED",
        0,
        60,
        0,
        7,
    ),
    (
        "nvme-wdc-sn520-9eb947-critical-warning.txt",
        "WDC PC SN520 SDAPNUW-256G-1006",
        "20120006",
        256_060_514_304,
        "FAILED",
        4,
        11646539889596857626250960699539,
        0,
        166,
    ),
]


@pytest.mark.parametrize("e", ATA, ids=[e.file for e in ATA])
def test_ata_outputs(e: Expect) -> None:
    r = parse_smartctl(load(e.file))
    assert r.device_type == e.device_type
    assert r.model == e.model
    if e.firmware:
        assert r.firmware == e.firmware
    if e.capacity:
        assert r.capacity_bytes == e.capacity
    assert r.serial == ""  # linuxhw masked every serial as "--": junk, not an identity
    s = r.smart
    assert s.available is True
    assert s.overall == e.overall
    assert s.reallocated_sectors == e.realloc
    assert s.pending_sectors == e.pending
    assert s.offline_uncorrectable == e.offline
    assert s.reported_uncorrect == e.reported
    assert s.power_on_hours == e.hours
    assert r.rotational == e.rotational
    if e.transport:
        assert r.transport_hint == e.transport
    assert s.short_test_minutes == e.short_min
    assert r.logical_sector_size == 512


def test_old_ide_disk_keeps_its_ata_version() -> None:
    r = parse_smartctl(load("wdc-wd1200bb-e8a3e5.txt"))
    assert r.ata_version == "ATA/ATAPI-6 (minor revision not indicated)"
    assert r.family == "Western Digital Caviar"
    assert r.sata_version == ""


@pytest.mark.parametrize("row", NVME, ids=[n[0] for n in NVME])
def test_nvme_outputs(row: tuple[str, str, str, int, str, int, int, int, int]) -> None:
    file, model, firmware, capacity, overall, warning, media, used, hours = row
    r = parse_smartctl(load(file))
    assert r.device_type == "nvme"
    assert r.transport_hint == "nvme"
    assert r.rotational is False
    assert (r.model, r.firmware, r.capacity_bytes) == (model, firmware, capacity)
    s = r.smart
    assert s.available and s.device_type == "nvme"
    assert s.overall == overall
    assert s.nvme_critical_warning == warning
    assert s.nvme_media_errors == media
    assert s.nvme_percentage_used == used
    assert s.power_on_hours == hours
    assert s.reallocated_sectors is None  # ATA attributes do not exist on NVMe


def test_nvme_temperature_and_spare() -> None:
    s = parse_smartctl(load("nvme-skhynix-pc401-1278ee.txt")).smart
    text = load("nvme-skhynix-pc401-1278ee.txt")
    assert "Available Spare Threshold:          50%" in text
    assert s.nvme_spare_threshold == 50
    assert s.temperature_c == 49


@pytest.mark.parametrize(
    "file,capacity,ssd",
    [
        ("usb-asmt109x-fast-6fe290.txt", 960_193_626_112, None),
        ("usb-asmt109x-volume-6d8c08.txt", 2_048_419_085_312, None),
        ("usb-asmt109x-safe-9b5172.txt", 1_024_181_927_936, False),
    ],
)
def test_usb_bridge_outputs(file: str, capacity: int, ssd: bool | None) -> None:
    r = parse_smartctl(load(file))
    assert r.transport_hint == "usb"
    assert r.bridge.startswith("ASMT109x")
    assert r.capacity_bytes == capacity
    # "Rotation Rate: 7200 rpm" is the bridge's fixed answer, not the drive's.
    assert r.rotational is ssd
    assert r.smart.available and r.smart.overall == "PASSED"


def test_usb_bridge_self_test_entry() -> None:
    s = parse_smartctl(load("usb-asmt109x-volume-6d8c08.txt")).smart
    assert s.self_test.startswith("Short offline")
    assert "Aborted by host" in s.self_test
    assert s.power_on_hours == 284


def test_failed_self_test_is_reported() -> None:
    s = parse_smartctl(load("seagate-st9160821as-830b9c-failed.txt")).smart
    assert "unknown failure" in s.self_test


def test_attribute_rows_keep_raw_text() -> None:
    s = parse_smartctl(load("fujitsu-mhv2160bt-b8ecd9-pending-offline-unc.txt")).smart
    by_id = {a.id: a for a in s.attributes}
    assert by_id[194].raw == "39 (Min/Max -1/46)"
    assert by_id[194].raw_value == 39
    assert by_id[5].raw == "194 (1907 93)"
    assert (by_id[5].value, by_id[5].worst, by_id[5].thresh) == (97, 97, 24)
    assert s.temperature_c == 39


def test_when_failed_column() -> None:
    s = parse_smartctl(load("maxtor-6l160m0-977ca7-failed.txt")).smart
    by_id = {a.id: a for a in s.attributes}
    assert by_id[5].when_failed == "NOW"
    assert by_id[9].raw == "234h+08m"


def test_kingston_slash_raw_values() -> None:
    s = parse_smartctl(load("ssd-kingston-sv300-6994c7.txt")).smart
    by_id = {a.id: a for a in s.attributes}
    assert by_id[1].raw == "0/203402060"
    assert by_id[1].raw_value == 0


def test_sandisk_dash_thresholds() -> None:
    s = parse_smartctl(load("ssd-sandisk-plus-3c8d3a.txt")).smart
    by_id = {a.id: a for a in s.attributes}
    assert by_id[166].thresh is None  # printed as "---"
    assert by_id[169].raw_value == 114


def test_loop_device_has_no_smart() -> None:
    r = parse_smartctl(load("loop-device-this-vm.txt"))
    assert r.smart.available is False
    assert r.smart.reason == "smartctl cannot detect the device type"
    assert r.smartctl_version == "7.3"
    assert r.model == "" and r.capacity_bytes is None


def test_smart_unavailable_line() -> None:
    text = (
        "=== START OF INFORMATION SECTION ===\n"
        "Vendor:               JMicron\nProduct:              Generic\n"
        "User Capacity:        500,107,862,016 bytes [500 GB]\n"
        "SMART support is:     Unavailable - device lacks SMART capability.\n"
    )
    r = parse_smartctl(text)
    assert r.smart.available is False
    assert r.smart.reason == "device lacks SMART capability"
    assert r.capacity_bytes == 500_107_862_016
    assert r.device_type == "scsi"


def test_smartctl_a_attribute_layout() -> None:
    # The -a table (FLAG 0x.. TYPE UPDATED WHEN_FAILED) as smartctl 5.x/6.x prints it.
    text = (
        "Device Model:     ST380011A\n"
        "SMART overall-health self-assessment test result: PASSED\n"
        "ID# ATTRIBUTE_NAME          FLAG     VALUE WORST THRESH TYPE      UPDATED  "
        "WHEN_FAILED RAW_VALUE\n"
        "  5 Reallocated_Sector_Ct   0x0033   094   094   036    Pre-fail  Always       "
        "-       242\n"
        "  9 Power_On_Hours          0x0032   074   074   000    Old_age   Always       "
        "-       23483\n"
        "197 Current_Pending_Sector  0x0012   100   100   000    Old_age   Always       "
        "FAILING_NOW 7\n"
    )
    s = parse_smartctl(text).smart
    assert s.available
    assert (s.reallocated_sectors, s.power_on_hours, s.pending_sectors) == (242, 23483, 7)
    assert s.attributes[2].when_failed == "FAILING_NOW"


def test_garbage_never_raises() -> None:
    for text in ("", "\x00\xff", "SMART support is:\n", "ID# nothing\n  5 x y z\n"):
        r = parse_smartctl(text)
        assert r.smart.available is False


# --- odd raw values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,value",
    [
        ("16 (Min/Max 11/35)", 16),
        ("36 (0 19 0 0 0)", 36),
        ("0/1234", 0),
        ("4294967281", 4294967281),
        ("281474976710655", 281474976710655),  # 48-bit counter, all ones
        ("12345h+06m", 12345),
        ("0x0000001f", 31),
        ("", None),
        ("-", None),
    ],
)
def test_parse_raw_value(raw: str, value: int | None) -> None:
    assert parse_raw_value(raw) == value


@pytest.mark.parametrize(
    "name,raw,hours",
    [
        ("Power_On_Hours", "12345h+06m", 12345),
        ("Power_On_Seconds", "12759h+21m+24s", 12759),
        ("Power_On_Hours_and_Msec", "55166h+45m+41.420s", 55166),
        ("Power_On_Minutes", "1024h+56m", 1024),
        ("Power_On_Minutes", "6000", 100),
        ("Power_On_Seconds", "7200", 2),
        ("Power_On_Half_Minutes", "240", 2),
        ("Power_On_Hours", "4737", 4737),
        ("Power_On_Hours", "23483 (210 114 0)", 23483),
    ],
)
def test_power_on_hours_units(name: str, raw: str, hours: int) -> None:
    assert power_on_hours_from(name, raw) == hours


def test_parse_int_separators() -> None:
    assert parse_int("203,928,109,056") == 203_928_109_056
    assert parse_int("82 347 195 904") == 82_347_195_904
    assert parse_int("320.072.933.376") == 320_072_933_376
    assert parse_int("11646539889596857626250960699539") == 11646539889596857626250960699539
    assert parse_int("n/a") is None


@given(
    st.integers(min_value=0, max_value=2**48 - 1),
    st.sampled_from(
        ["", " (Min/Max 11/35)", " (0 19 0 0 0)", "/1234", "h+06m", "h+21m+24s", " (Average 171)"]
    ),
)
def test_raw_value_leading_integer(value: int, suffix: str) -> None:
    assert parse_raw_value(f"{value}{suffix}") == value


@given(st.integers(min_value=0, max_value=10**32), st.sampled_from([",", ".", " ", ""]))
def test_parse_int_any_grouping(value: int, sep: str) -> None:
    grouped = f"{value:,}".replace(",", sep)
    assert parse_int(grouped) == value


@given(st.text(max_size=300))
def test_parser_total_on_any_text(text: str) -> None:
    result = parse_smartctl(text)
    assert result.smart.available in (True, False)


@given(
    st.integers(min_value=1, max_value=255),
    st.integers(min_value=0, max_value=2**48 - 1),
    st.sampled_from(["", " (Min/Max 11/35)", "/99"]),
)
def test_attribute_line_roundtrip(ident: int, raw: int, suffix: str) -> None:
    line = f"{ident:3d} Some_Attribute          PO--CK   100   100   000    -    {raw}{suffix}"
    text = "SMART overall-health self-assessment test result: PASSED\n" + line + "\n"
    s = parse_smartctl(text).smart
    assert len(s.attributes) == 1
    assert s.attributes[0].id == ident
    assert s.attributes[0].raw_value == raw


def test_sas_drive_fields() -> None:
    # The SCSI/SAS layout of smartctl (written after smartctl 7's scsiprint.cpp labels).
    text = (
        "=== START OF INFORMATION SECTION ===\n"
        "Vendor:               SEAGATE\nProduct:              ST300MM0008\n"
        "Revision:             TT31\n"
        "User Capacity:        300,000,000,000 bytes [300 GB]\n"
        "Logical block size:   512 bytes\nPhysical block size:  4096 bytes\n"
        "Rotation Rate:        10500 rpm\nSerial number:        S0K2ABCD\n"
        "Transport protocol:   SAS (SPL-3)\n"
        "SMART support is:     Available - device has SMART capability.\n"
        "SMART support is:     Enabled\n\n"
        "=== START OF READ SMART DATA SECTION ===\n"
        "SMART Health Status: OK\n\n"
        "Current Drive Temperature:     31 C\n"
        "Elements in grown defect list: 12\n\n"
        "Accumulated power on time, hours:minutes 41234:07\n"
    )
    r = parse_smartctl(text)
    assert (r.device_type, r.vendor, r.model, r.firmware) == (
        "scsi",
        "SEAGATE",
        "ST300MM0008",
        "TT31",
    )
    assert r.serial == "S0K2ABCD" and r.transport_hint == "scsi"
    assert (r.logical_sector_size, r.physical_sector_size) == (512, 4096)
    assert r.rotational is True and r.rotation_rpm == 10500
    s = r.smart
    assert s.available and s.overall == "PASSED"
    assert (s.reallocated_sectors, s.power_on_hours, s.temperature_c) == (12, 41234, 31)
