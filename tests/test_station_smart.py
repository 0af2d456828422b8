"""The disk station's SMART check of a USB disk (H31): asked through SAT pass-through first, as
the inventory does, then by smartctl's own guess when the bridge passes no SAT. Recorded
smartctl outputs (tests/fixtures/smartctl/SOURCES.md) stand for the bridges; a loop device
with the real smartctl for the fallback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench_agent.sanitize.station import _smartctl_text, smart_health
from tests.conftest import LoopFactory, require_tool

FIXTURES = Path(__file__).parent / "fixtures" / "smartctl"
MiB = 1 << 20
SAT = ["smartctl", "-x", "-d", "sat", "/dev/sdz"]
GUESS = ["smartctl", "-x", "/dev/sdz"]


def recorded(
    answers: dict[tuple[str, ...], str], calls: list[list[str]]
) -> Callable[[list[str]], str]:
    def run(argv: list[str]) -> str:
        calls.append(argv)
        return (FIXTURES / answers[tuple(argv)]).read_text(encoding="utf-8")

    return run


def test_a_usb_disk_whose_bridge_passes_sat_gets_its_smart_grade_not_unknown() -> None:
    # An ASMedia ASMT109x bridge relays SMART through SAT; asked without -d sat, a bridge
    # smartctl does not know answers as a plain SCSI disk, without SMART.
    answers = {
        tuple(SAT): "usb-asmt109x-volume-6d8c08.txt",
        tuple(GUESS): "usb-qemu-bot-scsi-i686-guest.txt",
    }
    calls: list[list[str]] = []
    level, reasons = smart_health("/dev/sdz", usb=True, run=recorded(answers, calls))
    assert (level, reasons["en"]) == ("pass", [])
    assert calls == [SAT]
    # The same dock read as a non-USB disk: smartctl's own guess only, SMART unknown.
    calls.clear()
    level, reasons = smart_health("/dev/sdz", usb=False, run=recorded(answers, calls))
    assert level == "unknown"
    assert reasons["en"] == ["no SMART data (device lacks SMART capability)"]
    assert calls == [GUESS]


def test_a_usb_disk_whose_bridge_refuses_sat_is_graded_by_smartctls_own_guess() -> None:
    answers = {
        tuple(SAT): "loop-device-sat-this-vm.txt",  # "Read Device Identity failed"
        tuple(GUESS): "seagate-st3250820as-401923.txt",
    }
    calls: list[list[str]] = []
    level, reasons = smart_health("/dev/sdz", usb=True, run=recorded(answers, calls))
    assert calls == [SAT, GUESS]
    assert level == "warn"
    assert reasons["en"] == ["72774 power-on hours (more than 50000)"]
    assert reasons["fr"] == ["72774 heures de fonctionnement (plus de 50000)"]


@pytest.mark.device
def test_the_real_smartctl_falls_back_from_sat_on_a_loop_device(make_loop: LoopFactory) -> None:
    """A loop device refuses SAT pass-through as a bridge without it does; the real smartctl's
    own guess is then the one graded (its reason, not the SAT failure's)."""
    require_tool("smartctl")
    device = str(make_loop(4 * MiB))
    calls: list[list[str]] = []

    def run(argv: list[str]) -> str:
        calls.append(argv)
        return _smartctl_text(argv)

    level, reasons = smart_health(device, usb=True, run=run)
    assert calls == [["smartctl", "-x", "-d", "sat", device], ["smartctl", "-x", device]]
    assert level == "unknown"
    assert reasons["en"] == ["no SMART data (smartctl cannot detect the device type)"]


def test_the_station_tells_its_tile_when_a_serial_is_only_the_bridges(agent_home: Path) -> None:
    """The event the station sends its screen says whose serial it is; the tile built from it
    marks the bridge's and leaves a drive's own alone."""
    from bench_agent.config import load_settings
    from bench_agent.devices.guard import GuardPolicy
    from bench_agent.i18n import set_language
    from bench_agent.sanitize.certificate import CertificateContext
    from bench_agent.sanitize.station import DiskStation, StationDisk
    from bench_agent.tui.station_widgets import DiskTile

    set_language("en")
    events: list[dict[str, Any]] = []
    station = DiskStation(
        settings=load_settings(),
        context=CertificateContext(operator="op", station="st"),
        policy=GuardPolicy(),
        allowed_methods=None,
        verify="sample",
        listener=events.append,
    )
    dock = StationDisk("sdb", "/dev/sdb", "now", serial="DOCKBRIDGE01", serial_names_disk=False)
    drive = StationDisk("sdc", "/dev/sdc", "now", serial="5JV0DOCK01")
    station._emit("ready", dock)
    station._emit("ready", drive)
    assert [e["serial_names_disk"] for e in events] == [False, True]
    assert DiskTile("1", events[0]).facts().startswith("Serial DOCKBRIDGE01 (USB bridge) · ")
    assert DiskTile("2", events[1]).facts().startswith("Serial 5JV0DOCK01 · ")
