"""The virtual bench delivers the education master for real (issue 13, item 5).

The old PC (i686 CPU, 512 MB, an 8 GiB IDE disk, booted the PXE way) runs its whole unattended
cycle; its one network card reaches nothing but the host's loopback ledger (QEMU user
networking with ``restrict=on`` and a ``guestfwd`` whose ``cmd:`` relay carries every
connection), and the bench streams the ``small`` i686 education master from that ledger to the
disk. Then the machine restarts from its disk alone (no PXE files, no 9p share, no network card)
and must print ``education-master: ready hostname=<its asset tag>``.

Marked ``release``: with warm caches it takes well over the 8 minutes the default run allows
(an 8 GiB overwrite and a 1.8 GB stream under TCG, then a boot to the graphical login).
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.test_master_boot import BOOT_TIMEOUT_S, READY, boot_disk, build_master
from tests.vm_support import ROOT, vbench

OLD_PC = dataclasses.replace(
    vbench.MACHINES["old"], drives=(vbench.Drive("ide", 8192, "5JV0OLD1", "ST380011A"),)
)
# The same PC started from its own disk: same CPU, memory and IDE drive; nothing else attached.
OLD_PC_FROM_DISK = (
    OLD_PC.qemu, "-M", OLD_PC.machine, "-cpu", f"{OLD_PC.cpu},model-id={OLD_PC.cpu_model}",
    "-m", str(OLD_PC.memory_mib), "-global", "isa-fdc.fdtypeA=none",
    "-drive", "if=none,id=disk0,file={disk},format=raw",
    "-device", "ide-hd,drive=disk0,bus=ide.0,unit=0,model=ST380011A,serial=5JV0OLD1",
)  # fmt: skip
MODERN_PC = dataclasses.replace(
    vbench.MACHINES["modern"], drives=(vbench.Drive("nvme", 8192, "S4EWNX0R100001"),)
)
MODERN_PC_FROM_DISK = (
    MODERN_PC.qemu, "-M", MODERN_PC.machine, "-cpu", f"{MODERN_PC.cpu},model-id={MODERN_PC.cpu_model}",
    "-m", str(MODERN_PC.memory_mib),
    "-drive", f"if=pflash,format=raw,readonly=on,file={vbench.OVMF_CODE}",
    "-drive", "if=pflash,format=raw,file={workdir}/../OVMF_VARS.fd",  # the machine's own NVRAM
    "-drive", "if=none,id=disk0,file={disk},format=raw",
    "-device", "nvme,drive=disk0,serial=S4EWNX0R100001",
)  # fmt: skip


def test_guestfwd_relay_carries_each_connection_both_ways(tmp_path: Path) -> None:
    """The guestfwd's cmd: relay, run as QEMU runs it (the guest's connection on stdin/stdout):
    a request of 3 MiB goes up, the server's answer comes back whole, and the relay exits when
    the server closes; two connections in a row get two relays."""
    payload = bytes(range(256)) * (3 << 12)
    got: list[bytes] = []

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve() -> None:
            for _ in range(2):
                conn, _addr = server.accept()
                with conn:
                    data = b""
                    while len(data) < len(payload):
                        data += conn.recv(1 << 16)
                    got.append(data)
                    conn.sendall(b"ack:" + data[::-1][:100000])

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        for _ in range(2):
            guest, qemu_side = socket.socketpair()
            with guest, qemu_side:
                relay = subprocess.Popen(
                    [sys.executable, str(ROOT / "scripts" / "live" / "vbench.py"), "relay",
                     "127.0.0.1", str(port)],
                    stdin=qemu_side.fileno(), stdout=qemu_side.fileno(),
                )  # fmt: skip
                qemu_side.close()
                guest.sendall(payload)
                answer = b""
                while chunk := guest.recv(1 << 16):
                    answer += chunk
                assert relay.wait(timeout=30) == 0
            assert answer == b"ack:" + payload[::-1][:100000]
        thread.join(timeout=30)
    assert got == [payload, payload]


def _stream_cycle_then_boot_alone(
    machine: vbench.Machine,
    arch: str,
    live: Path,
    tmp_path: Path,
    asset: str,
    from_disk: tuple[str, ...],
    *,
    pxe_cpio: bool = False,
    uefi: bool = False,
) -> None:
    """The machine's unattended cycle with the master streamed over its only link, the ledger;
    then the same machine from its imaged disk alone until its ``ready`` line."""
    from bench_agent.adapters.demo import _ledger_cli, local_ledger

    entry = build_master(arch, "small", ROOT / "build" / "master")
    served = tmp_path / "ledger-images"
    served.mkdir()
    image_file = entry.with_name(entry.stem + ".img.zst")
    (served / image_file.name).hardlink_to(image_file)
    (tmp_path / "ledger").mkdir()
    workdir = tmp_path / machine.name
    with local_ledger(tmp_path / "ledger", station="vm-master", images=served) as ledger:
        out = _ledger_cli(ledger.db_url, "station", "add", f"vbench-{machine.name}-master")
        token = [line.strip() for line in out.splitlines() if line.strip()][1]
        result = vbench.run_machine(
            machine, workdir, live, ledger_url=ledger.url, token=token, asset=asset,
            timeout_s=3000, pxe_cpio=pxe_cpio, ledger_link=True, stream_entry=entry, uefi=uefi,
        )  # fmt: skip
        problems = vbench.check_cycle(result, ledger, workdir / "io" / "station" / "station.key")
    assert not problems, "\n".join(problems) + f"\n--- serial tail:\n{result.serial_text[-3000:]}"
    command = (workdir / "qemu-command.txt").read_text()
    assert "restrict=on" in command and "guestfwd=tcp:10.0.2.100:8080-cmd:" in command
    assert "-nic none" not in command
    record: dict[str, Any] = result.record
    image = record["image"]
    assert image["image"] == entry.stem and image["status"] == "success"
    # From the ledger at its guest-side address (the only way there is the relay): streamed to
    # the disk on a 512 MB PC; a PC with room may first fetch it into the station's cache.
    streamed = f"{vbench.GUEST_LEDGER_URL}/api/v1/images/{image_file.name}"
    cached = f"{vbench.GUEST_HOME}/cache/images/{image_file.name}"
    assert image["source"] in ((streamed,) if machine.memory_mib <= 512 else (streamed, cached))
    print(f"{machine.name}: cycle_wall_s={result.wall_s:.0f} phases={vbench.phase_times(record)}")

    disk = next(workdir.glob("disk0-*.img"))
    boot_dir = workdir / "from-disk"
    log, ready_s = boot_disk(disk, boot_dir, BOOT_TIMEOUT_S, machine=from_disk)
    keep = ROOT / "build" / "master"
    (keep / f"vbench-{machine.name}-boot-serial.log").write_bytes(log)
    assert ready_s is not None, (
        f"no 'education-master: ready' within {BOOT_TIMEOUT_S}s; serial tail:\n"
        + log[-3000:].decode(errors="replace")
    )
    lines = READY.findall(log)
    assert len(lines) == 1, lines
    assert lines[0][0] == asset.encode()
    print(f"{machine.name}: boot_to_ready_s={ready_s:.0f}")
    screendump = boot_dir / "login.png"
    assert screendump.stat().st_size > 1000
    shutil.copy2(screendump, keep / f"vbench-{machine.name}-login.png")


@pytest.mark.vm
@pytest.mark.slow
@pytest.mark.release
@pytest.mark.timeout(5400)
def test_old_pc_streams_the_master_from_the_ledger_and_boots_it_alone(
    live_i686: Path, tmp_path: Path
) -> None:
    """i686, 512 MB, 8 GiB IDE disk, booted as PXE boots it (the root in RAM)."""
    _stream_cycle_then_boot_alone(
        OLD_PC, "i686", live_i686, tmp_path, "BAR-0042", OLD_PC_FROM_DISK, pxe_cpio=True
    )


@pytest.mark.vm
@pytest.mark.slow
@pytest.mark.release
@pytest.mark.timeout(5400)
def test_modern_uefi_pc_streams_the_master_from_the_ledger_and_boots_it_alone(
    live_amd64: Path, tmp_path: Path
) -> None:
    """q35 with OVMF (UEFI), 2 GB, an 8 GiB NVMe drive, the amd64 bench: the drive is purged by
    Format NVM, the amd64 master streamed onto it, then OVMF boots it alone."""
    assert vbench.OVMF_CODE.exists(), "OVMF is missing: install the ovmf package (scripts/setup)"
    _stream_cycle_then_boot_alone(
        MODERN_PC, "amd64", live_amd64, tmp_path, "BAR-0043", MODERN_PC_FROM_DISK, uefi=True
    )
