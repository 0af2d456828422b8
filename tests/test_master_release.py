"""Release checks of the education master (``pytest -m release``; not in the default run, see
images/README.md): the amd64 small master imaged on two disks from one build, one booted by a
BIOS PC from its SATA disk, the other by a UEFI (OVMF) PC from its NVMe drive; each prints its
own ``ready`` line, and the two machine-ids differ."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import LoopFactory, require_root, require_tool
from tests.test_master_boot import (
    BOOT_TIMEOUT_S,
    READY,
    ROOT,
    boot_disk,
    build_master,
    image_alone,
    read_root_file,
)

pytestmark = [pytest.mark.release, pytest.mark.vm, pytest.mark.slow, pytest.mark.device]

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")

BIOS_PC = (
    "qemu-system-x86_64", "-M", "q35", "-cpu", "Nehalem", "-m", "1024",
    "-drive", "file={disk},format=raw,if=none,id=d0",
    "-device", "ahci,id=ahci", "-device", "ide-hd,drive=d0,bus=ahci.0",
)  # fmt: skip
UEFI_PC = (
    "qemu-system-x86_64", "-M", "q35", "-cpu", "Nehalem", "-m", "1024",
    "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
    "-drive", "if=pflash,format=raw,file={workdir}/OVMF_VARS.fd",
    "-drive", "file={disk},format=raw,if=none,id=d0",
    "-device", "nvme,drive=d0,serial=FAMILY-NVME",
)  # fmt: skip


@pytest.mark.timeout(3600)
def test_amd64_master_boots_by_bios_and_by_uefi_with_distinct_machine_ids(
    make_loop: LoopFactory, tmp_path: Path
) -> None:
    require_root()
    for tool in ("debootstrap", "qemu-system-x86_64", "mkfs.vfat"):
        require_tool(tool)
    assert OVMF_CODE.exists(), "OVMF is missing: install the ovmf package (scripts/setup)"
    entry = build_master("amd64", "small", ROOT / "build" / "master")
    results = {}
    for tag, machine in (("BAR-0101", BIOS_PC), ("BAR-0102", UEFI_PC)):
        report, disk = image_alone(make_loop, 6 << 30, entry, tag)
        assert report["hostname"] == tag
        workdir = tmp_path / tag
        workdir.mkdir()
        shutil.copy2(OVMF_VARS, workdir / "OVMF_VARS.fd")
        log, ready_s = boot_disk(disk, workdir, BOOT_TIMEOUT_S, machine)
        (ROOT / "build" / "master" / f"boot-amd64-{tag}-serial.log").write_bytes(log)
        assert ready_s is not None, f"{tag}: no ready line in {BOOT_TIMEOUT_S}s:\n" + log[
            -3000:
        ].decode(errors="replace")
        lines = READY.findall(log)
        assert len(lines) == 1 and lines[0][0] == tag.encode(), lines
        assert read_root_file(disk, "/etc/machine-id").strip() == lines[0][1].decode()
        shutil.copy2(workdir / "login.png", ROOT / "build" / "master" / f"login-amd64-{tag}.png")
        results[tag] = (lines[0][1], ready_s)
        print(f"{tag}: boot_to_ready_s={ready_s:.0f}")
    assert results["BAR-0101"][0] != results["BAR-0102"][0]


@pytest.mark.timeout(3600)
def test_i686_full_master_boots_on_the_old_pc(make_loop: LoopFactory, tmp_path: Path) -> None:
    """The full variant (GCompris, Tux Paint, TuxMath, LibreOffice, Firefox ESR, VLC) for
    32-bit PCs: built, imaged with an asset tag, booted alone in the 512 MB old PC."""
    require_root()
    require_tool("qemu-system-i386")
    entry = build_master("i686", "full", ROOT / "build" / "master")
    _report, disk = image_alone(make_loop, 8 << 30, entry, "BAR-0201")
    log, ready_s = boot_disk(disk, tmp_path / "boot", BOOT_TIMEOUT_S)
    (ROOT / "build" / "master" / "boot-i686-full-serial.log").write_bytes(log)
    assert ready_s is not None, log[-3000:].decode(errors="replace")
    assert READY.findall(log)[0][0] == b"BAR-0201"
    print(f"i686 full: boot_to_ready_s={ready_s:.0f}")
    print(read_root_file(disk, "/var/lib/education-master/idle-memory").strip())
    for package in (
        "gcompris-qt",
        "tuxpaint",
        "tuxmath",
        "libreoffice-writer",
        "firefox-esr",
        "vlc",
    ):
        assert read_root_file(disk, f"/var/lib/dpkg/info/{package}.list").strip(), package


def _open_session_at_boot(disk: Path) -> None:
    """Autologin of the family account (its first password made current, not expired): the
    test's way to measure the idle desktop session instead of the login screen."""
    import time

    from bench_agent.imaging.grow import partition_loop
    from bench_agent.imaging.personalise import _mounted, _root_partition

    where = _root_partition(str(disk))
    assert where is not None
    with partition_loop(str(disk), *where) as loop, _mounted(loop, read_only=False) as root:
        conf = root / "etc/lightdm/lightdm.conf.d/90-test-autologin.conf"
        conf.write_text("[Seat:*]\nautologin-user=famille\nautologin-user-timeout=0\n")
        shadow = root / "etc/shadow"
        today = str(int(time.time() // 86400))
        lines = []
        for line in shadow.read_text().splitlines():
            fields = line.split(":")
            if fields[0] == "famille":
                fields[2] = today
            lines.append(":".join(fields))
        shadow.write_text("\n".join(lines) + "\n")


@pytest.mark.timeout(3600)
def test_i686_small_idle_desktop_session_fits_in_256_mb(
    make_loop: LoopFactory, tmp_path: Path
) -> None:
    """The family's LXDE session open and idle on the 512 MB old PC: memory used ≤ 256 MB."""
    require_root()
    require_tool("qemu-system-i386")
    entry = build_master("i686", "small", ROOT / "build" / "master")
    _report, disk = image_alone(make_loop, 4 << 30, entry, "BAR-0301")
    _open_session_at_boot(disk)
    log, ready_s = boot_disk(disk, tmp_path / "boot", BOOT_TIMEOUT_S)
    assert ready_s is not None, log[-3000:].decode(errors="replace")
    shutil.copy2(tmp_path / "boot" / "login.png", ROOT / "build" / "master" / "session-i686.png")
    memory = read_root_file(disk, "/var/lib/education-master/idle-memory")
    print(f"i686 small, LXDE session idle: {memory.strip()}")
    used = int(memory.split("idle_used_mib=")[1].split()[0])
    assert used <= 256
