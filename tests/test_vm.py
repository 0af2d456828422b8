"""The live bench on emulated PCs (QEMU, TCG): the whole machine cycle, the CPU preflight and the
boot of the image a workshop writes to its sticks.

The live roots are built once per session with scripts/build-live (i686 in the foreground;
amd64 in the background meanwhile, for the 64-bit machine and the UEFI boot); its caches make a
second run quick. Each machine has no network card: the signed record and the certificates
leave through a 9p share and are synced to a real ledger on 127.0.0.1, where they are checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.vm_support import vbench

pytestmark = [pytest.mark.vm, pytest.mark.slow]


@pytest.fixture(scope="session")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from bench_agent.adapters.demo import local_ledger

    with local_ledger(tmp_path_factory.mktemp("vm-ledger"), station="vm-tests") as running:
        yield running


def _station_token(ledger: Any, station: str) -> str:
    from bench_agent.adapters.demo import _ledger_cli

    out = _ledger_cli(ledger.db_url, "station", "add", station)
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    return lines[1]


def _cycle(
    name: str, live: Path, ledger: Any, tmp_path: Path, pxe_cpio: bool = False
) -> vbench.RunResult:
    machine = vbench.MACHINES[name]
    token = _station_token(ledger, f"vbench-{name}")
    result = vbench.run_machine(
        machine,
        tmp_path / name,
        live,
        ledger_url=ledger.url,
        token=token,
        timeout_s=600,
        pxe_cpio=pxe_cpio,
    )
    problems = vbench.check_cycle(
        result, ledger, tmp_path / name / "io" / "station" / "station.key"
    )
    assert not problems, "\n".join(problems) + f"\n--- serial tail:\n{result.serial_text[-3000:]}"
    return result


def test_old_pc_full_cycle(live_i686: Path, ledger: Any, tmp_path: Path) -> None:
    """Pentium 4 class, 512 MB, IDE disk + CD-ROM, AC'97, booted as PXE boots it (vmlinuz,
    initrd.img then live.cpio: the root in RAM): inventory, verdict, overwrite with
    verification, test master written and read back, signed record and certificate in the
    ledger, donor data gone from the disk."""
    result = _cycle("old", live_i686, ledger, tmp_path, pxe_cpio=True)
    assert "root found on ram" in result.serial_text
    assert result.exit_code == 0
    record = result.record
    assert record["inventory"]["cpu"]["arch"] == "i686"
    assert [w["method"] for w in record["wipes"]] == ["zero"]
    assert record["image"]["device"] == "/dev/sda"
    assert record["image"]["image"] == "test-master-i686"  # chosen by the bench: a 32-bit CPU


def test_modern_pc_full_cycle(live_amd64: Path, ledger: Any, tmp_path: Path) -> None:
    """64-bit laptop, 2 GB, NVMe + SATA, HD audio, booted from the amd64 build: the NVMe drive
    is purged by Format NVM with secure erase, the SATA drive cleared by overwrite."""
    result = _cycle("modern", live_amd64, ledger, tmp_path)
    assert result.exit_code == 0
    record = result.record
    assert record["inventory"]["cpu"]["is_64bit"] is True
    methods = {w["serial"]: w["method"] for w in record["wipes"]}
    assert methods["S4EWNX0R100001"].startswith("nvme-format")
    assert methods["WXB1MODERN02"] == "zero"
    assert record["image"]["image"] == "test-master"  # the amd64 master for a 64-bit CPU


def test_live_stick_boots_bios_to_the_bench_app(live_i686: Path, tmp_path: Path) -> None:
    """The i686 hybrid image as a USB stick on a BIOS PC: GRUB, the kernel, the root found on
    the stick, the bench app's first screen on tty1 (copied to the serial port; PNG kept)."""
    image = live_i686 / "bench-live-i686.iso"
    booted = vbench.boot_image(
        image, tmp_path / "bios", params=("bench.lang=en", "bench.station=usb-bios")
    )
    assert booted.seconds_to_screen is not None, booted.serial_log.read_text(errors="replace")[
        -3000:
    ]
    assert "usb-bios" in booted.last_screen  # the SMBIOS settings reached the app
    assert booted.screenshot is not None and booted.screenshot.stat().st_size > 1000
    assert "Illegal instruction" not in booted.serial_log.read_text(errors="replace")


def test_live_stick_boots_uefi_amd64_to_the_bench_app(live_amd64: Path, tmp_path: Path) -> None:
    """The amd64 hybrid image as a USB stick on a UEFI PC (OVMF)."""
    image = live_amd64 / "bench-live-amd64.iso"
    booted = vbench.boot_image(
        image, tmp_path / "uefi", uefi=True, params=("bench.lang=en", "bench.station=usb-uefi")
    )
    assert booted.seconds_to_screen is not None, booted.serial_log.read_text(errors="replace")[
        -3000:
    ]
    assert "usb-uefi" in booted.last_screen
    assert booted.screenshot is not None and booted.screenshot.stat().st_size > 1000
