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


@pytest.mark.vm
@pytest.mark.slow
@pytest.mark.release
@pytest.mark.timeout(5400)
def test_old_pc_streams_the_master_from_the_ledger_and_boots_it_alone(
    live_i686: Path, tmp_path: Path
) -> None:
    from bench_agent.workflow.demo import _ledger_cli, local_ledger

    entry = build_master("i686", "small", ROOT / "build" / "master")
    served = tmp_path / "ledger-images"
    served.mkdir()
    image_file = entry.with_name(entry.stem + ".img.zst")
    (served / image_file.name).hardlink_to(image_file)
    asset = "BAR-0042"
    (tmp_path / "ledger").mkdir()
    with local_ledger(tmp_path / "ledger", station="vm-master", images=served) as ledger:
        out = _ledger_cli(ledger.db_url, "station", "add", "vbench-old-master")
        token = [line.strip() for line in out.splitlines() if line.strip()][1]
        result = vbench.run_machine(
            OLD_PC, tmp_path / "old", live_i686, ledger_url=ledger.url, token=token,
            asset=asset, timeout_s=3000, pxe_cpio=True, ledger_link=True, stream_entry=entry,
        )  # fmt: skip
        problems = vbench.check_cycle(
            result, ledger, tmp_path / "old" / "io" / "station" / "station.key"
        )
    assert not problems, "\n".join(problems) + f"\n--- serial tail:\n{result.serial_text[-3000:]}"
    command = (result.workdir / "qemu-command.txt").read_text()
    assert "restrict=on" in command and "guestfwd=tcp:10.0.2.100:8080-cmd:" in command
    assert "-nic none" not in command
    record: dict[str, Any] = result.record
    image = record["image"]
    assert image["image"] == entry.stem and image["status"] == "success"
    assert image["device"] == "/dev/sda"
    # Streamed from the ledger at its guest-side address: the only way there is the relay.
    assert image["source"] == f"{vbench.GUEST_LEDGER_URL}/api/v1/images/{image_file.name}"
    print(f"cycle_wall_s={result.wall_s:.0f} phases={vbench.phase_times(record)}")

    disk = next(result.workdir.glob("disk0-*.img"))
    boot_dir = tmp_path / "boot"
    log, ready_s = boot_disk(disk, boot_dir, BOOT_TIMEOUT_S, machine=OLD_PC_FROM_DISK)
    keep = ROOT / "build" / "master"
    (keep / "vbench-old-boot-serial.log").write_bytes(log)
    assert ready_s is not None, (
        f"no 'education-master: ready' within {BOOT_TIMEOUT_S}s; serial tail:\n"
        + log[-3000:].decode(errors="replace")
    )
    lines = READY.findall(log)
    assert len(lines) == 1, lines
    assert lines[0][0] == asset.encode()
    print(f"boot_to_ready_s={ready_s:.0f}")
    screendump = boot_dir / "login.png"
    assert screendump.stat().st_size > 1000
    shutil.copy2(screendump, keep / "vbench-old-login.png")
