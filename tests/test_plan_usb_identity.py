"""A disk behind a USB bridge is named by the drive's own serial, not the dock's (issue 15).

Found on the live console (tests/test_live_station_console.py): lsblk's SERIAL of a USB disk is
the bridge's (udev's ID_SERIAL_SHORT, from the USB descriptor), so two docks of one make named
both their disks DOCKBRIDGE01 and the station refused the second as a twin. The plan now asks
the drive behind the bridge, read-only (ATA IDENTIFY through SAT, else the SCSI unit serial
number, VPD page 0x80); when neither names the drive, the plan, the certificate and the
station say the serial is the bridge's, and the station never matches it against another disk.

The smartctl texts are real recordings (tests/fixtures/smartctl/SOURCES.md): QEMU's usb-bot
bridge in the i686 live root, libata's SAT translation of an IDE disk there, ASMedia bridges
that answer IDENTIFY themselves, and loop devices on this VM.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench_agent.devices.lsblk import BlockDevice
from bench_agent.i18n import translate
from bench_agent.models.wipe import WipePlan, WipeReport
from bench_agent.sanitize import lite
from bench_agent.sanitize.certificate import (
    BRIDGE_SERIAL_NOTE,
    CertificateContext,
    _serial_text,
    build_certificate,
)
from bench_agent.sanitize.plan import pick_usb_serial, serial_is_the_drives, usb_identity
from bench_agent.sanitize.station import StationDisk, same_serial
from tests.conftest import FIXTURES, LoopFactory, require_tool

SMARTCTL = FIXTURES / "smartctl"
DOCK = "DOCKBRIDGE01"  # the usb-bot bridge's USB serial in the recordings


def text(name: str) -> str:
    return (SMARTCTL / name).read_text(encoding="utf-8")


QEMU_BOT_SAT = text("usb-qemu-bot-sat-i686-guest.txt")  # no SAT: "Read Device Identity failed"
QEMU_BOT_SCSI = text("usb-qemu-bot-scsi-i686-guest.txt")  # "Serial number: 5JV0DOCK01"
LIBATA_SAT = text("sat-qemu-ide-libata-i686-guest.txt")  # the drive's IDENTIFY via SAT


def test_sat_identify_names_the_drive_and_its_model() -> None:
    picked = pick_usb_serial([("ata-identify-sat", LIBATA_SAT)], DOCK)
    assert picked == {"serial": "5JV0SAT01", "model": "ST380011A", "source": "ata-identify-sat"}


def test_sat_identify_equal_to_the_bridge_serial_is_still_the_drives() -> None:
    """A dock that relays the drive's serial as its own: the drive answered IDENTIFY itself."""
    picked = pick_usb_serial([("ata-identify-sat", LIBATA_SAT)], "5JV0SAT01")
    assert picked["source"] == "ata-identify-sat"


@pytest.mark.parametrize(
    "name",
    [
        "usb-asmt109x-fast-6fe290.txt",
        "usb-asmt109x-safe-9b5172.txt",
        "usb-asmt109x-volume-6d8c08.txt",
    ],
)
def test_an_identify_the_bridge_answers_itself_is_not_the_drive(name: str) -> None:
    """ASMedia docks answer IDENTIFY with their own model string and a "--" serial."""
    picked = pick_usb_serial([("ata-identify-sat", text(name))], DOCK)
    assert picked == {"serial": DOCK, "model": "", "source": "bridge"}


def test_vpd_serial_behind_a_bridge_without_sat() -> None:
    """QEMU's usb-bot (as many docks): no ATA pass-through; VPD page 0x80 is the disk's."""
    outputs = [("ata-identify-sat", QEMU_BOT_SAT), ("scsi-vpd-80", QEMU_BOT_SCSI)]
    assert pick_usb_serial(outputs, DOCK) == {
        "serial": "5JV0DOCK01",
        "model": "",
        "source": "scsi-vpd-80",
    }


def test_a_vpd_serial_equal_to_the_bridges_is_not_the_drives() -> None:
    """Bridges that fill VPD 0x80 with their own USB serial: nothing names the drive then."""
    outputs = [("ata-identify-sat", QEMU_BOT_SAT), ("scsi-vpd-80", QEMU_BOT_SCSI)]
    picked = pick_usb_serial(outputs, "5jv0dock01")
    assert picked == {"serial": "5jv0dock01", "model": "", "source": "bridge"}


def test_a_vpd_serial_does_not_count_as_an_identify() -> None:
    """The SCSI text read as if it came from the SAT probe is not an ATA IDENTIFY answer."""
    assert pick_usb_serial([("ata-identify-sat", QEMU_BOT_SCSI)], DOCK)["source"] == "bridge"


def test_no_answer_at_all_keeps_the_bridge_serial_or_none() -> None:
    outputs = [
        ("ata-identify-sat", text("loop-device-sat-this-vm.txt")),
        ("scsi-vpd-80", text("loop-device-this-vm.txt")),
    ]
    assert pick_usb_serial(outputs, DOCK)["source"] == "bridge"
    assert pick_usb_serial(outputs, "") == {"serial": "", "model": "", "source": "bridge"}


@pytest.mark.device
def testusb_identity_probes_are_read_only_and_kept_as_evidence(
    make_loop: LoopFactory,
) -> None:
    """Real smartctl on a device that answers neither probe (a loop device, as a bridge
    without SAT nor VPD): both identify commands ran, read-only, and their outputs are kept."""
    require_tool("smartctl")
    device = str(make_loop(8 << 20, fill="random"))
    before = Path(device).read_bytes()
    picked, evidence = usb_identity(device, DOCK)
    assert picked == {"serial": DOCK, "model": "", "source": "bridge"}
    assert [e["argv"] for e in evidence] == [
        ["smartctl", "-i", "-d", "sat", device],
        ["smartctl", "-i", "-d", "scsi", device],
    ]
    assert all(e["returncode"] != 0 and "smartctl" in str(e["stdout"]) for e in evidence)
    assert Path(device).read_bytes() == before


def _plan(source: str) -> WipePlan:
    return WipePlan(
        device="/dev/sdb",
        kname="sdb",
        serial=DOCK,
        size_bytes=1 << 26,
        method="zero",
        level="clear",
        detection={"usb": {"bridge_serial": DOCK, "serial_source": source}},
    )


def test_station_never_matches_two_disks_by_a_bridge_serial() -> None:
    """Two disks in docks reporting the same USB serial are two disks (told apart by their
    kernel names); two disks with the same serial of their own are still twins."""
    assert not serial_is_the_drives(_plan("bridge"))
    assert serial_is_the_drives(_plan("scsi-vpd-80"))
    assert serial_is_the_drives(WipePlan(device="/dev/sda", kname="sda", size_bytes=1,
                                         method="zero", level="clear"))  # fmt: skip
    first = StationDisk("sdb", "/dev/sdb", "now", serial=DOCK, serial_names_disk=False)
    second = StationDisk("sdc", "/dev/sdc", "now", serial=DOCK, serial_names_disk=False)
    assert not same_serial(first, second)
    first.serial_names_disk = second.serial_names_disk = True
    assert same_serial(first, second)
    second.serial = ""
    first.serial = ""
    assert not same_serial(first, second)


def _report(notes: list[str]) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "device": "/dev/sdb",
        "serial": DOCK,
        "size_bytes": 1 << 26,
        "method": "zero",
        "level": "clear",
        "status": "erased",
        "started_at": now,
        "finished_at": now,
        "extra": {"plan_notes": notes},
    }


def test_the_certificate_says_when_the_serial_is_the_bridges() -> None:
    media = build_certificate(_report([BRIDGE_SERIAL_NOTE]), CertificateContext())["media"]
    assert media["serial"] == DOCK
    assert media["serial_note"] == BRIDGE_SERIAL_NOTE
    assert _serial_text(media, lambda m: translate(m, "fr")) == (
        f"{DOCK} (lu sur le pont USB, pas sur le disque)"
    )
    # A drive's own serial: the certificate is as before (no new key).
    plain = build_certificate(_report(["behind a USB bridge"]), CertificateContext())["media"]
    assert "serial_note" not in plain
    assert _serial_text(plain, lambda m: m) == DOCK


def test_the_wipe_only_path_says_a_usb_serial_is_the_bridges() -> None:
    usb = BlockDevice(name="sdb", kname="sdb", path="/dev/sdb", type="disk", size=1 << 26,
                      serial=DOCK, tran="usb")  # fmt: skip
    report = lite.new_report(usb, "sample")
    assert BRIDGE_SERIAL_NOTE in report["extra"]["plan_notes"]
    sata = BlockDevice(name="sda", kname="sda", path="/dev/sda", type="disk", size=1 << 26,
                       serial="5JV0OLD1", tran="sata")  # fmt: skip
    assert BRIDGE_SERIAL_NOTE not in lite.new_report(sata, "sample")["extra"]["plan_notes"]


@pytest.mark.device
def test_the_wipe_asks_the_drive_behind_the_bridge_again(
    make_loop: LoopFactory, tmp_path: Path
) -> None:
    """A plan that read the drive's serial behind a bridge is run only on that drive: at the
    wipe's start the drive is asked again (real smartctl; a loop device names no drive, as a
    dock whose disk was swapped for one that answers nothing). A plan that only had the
    bridge's serial wipes, and its signed certificate says the serial is the bridge's."""
    from bench_agent.config import load_settings
    from bench_agent.sanitize.engine import run_wipes
    from bench_agent.sanitize.plan import plan_wipes

    require_tool("smartctl")
    device = make_loop(4 << 20, fill="random")
    before = device.read_bytes()

    def wipe(plan: WipePlan) -> tuple[WipeReport, dict[str, Any] | None]:
        ((report, cert),) = run_wipes(
            [plan],
            settings=load_settings(),
            context=CertificateContext(operator="alice", station="bench-1"),
            progress=lambda _e: None,
            report_dir=tmp_path / "reports",
        )
        return report, cert

    [swapped] = plan_wipes([str(device)], method="zero", verify="sample")
    swapped.serial = "5JV0DOCK01"
    swapped.detection["usb"] = {
        "bridge_serial": "",
        "serial_source": "scsi-vpd-80",
        "drive_serial": "5JV0DOCK01",
    }
    report, cert = wipe(swapped)
    assert cert is None and report.status == "failed"
    assert "behind the USB bridge changed" in report.status_detail
    assert device.read_bytes() == before  # nothing written

    [bridged] = plan_wipes([str(device)], method="zero", verify="sample")
    bridged.detection["usb"] = {"bridge_serial": "", "serial_source": "bridge", "drive_serial": ""}
    bridged.notes.append(BRIDGE_SERIAL_NOTE)
    report, cert = wipe(bridged)
    assert cert is not None, report.status_detail
    assert cert["media"]["serial_note"] == BRIDGE_SERIAL_NOTE
    assert device.read_bytes() == bytes(len(before))
