"""The education master for real: built from Debian packages by scripts/build-master, written
to a loop device by ``bench-agent image --asset``, then the disk alone booted in an emulated
old PC (QEMU TCG, Pentium-class n270 CPU, 512 MB, IDE disk) until the first-boot unit prints
its ``education-master: ready`` line on the serial console once the graphical login is up.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LoopFactory, require_root, require_tool

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.device]

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(rb"education-master: ready hostname=(\S+) machine-id=([0-9a-f]{32})\r?\n")
BOOT_TIMEOUT_S = 600  # the bound for TCG emulation


@functools.cache
def build_master(arch: str, variant: str, out: Path) -> Path:
    """scripts/build-master's catalogue entry, built once per test session (the script's cache
    spares only the bootstrap: each run assembles and compresses the disk image again)."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"build-master-{arch}-{variant}.log"
    with open(log, "w") as handle:
        code = subprocess.run(
            [str(ROOT / "scripts" / "build-master"), "--arch", arch, "--variant", variant,
             "--out", str(out)],
            stdout=handle, stderr=subprocess.STDOUT, check=False,
        ).returncode  # fmt: skip
    assert code == 0, f"scripts/build-master failed:\n{log.read_text()[-3000:]}"
    name = f"education-{arch}" + ("" if variant == "full" else f"-{variant}")
    return out / f"{name}.toml"


@pytest.fixture(scope="session")
def master_i686_small() -> Iterator[Path]:
    require_root()
    for tool in ("debootstrap", "sfdisk", "mkfs.ext4", "qemu-system-i386", "zstd"):
        require_tool(tool)
    yield build_master("i686", "small", ROOT / "build" / "master")


def image_with_cli(device: Path, entry: Path, asset: str) -> dict[str, object]:
    env = {**os.environ, "BENCH_LANG": "en"}
    result = subprocess.run(
        [sys.executable, "-m", "bench_agent.cli.main", "image", str(device), "--image", str(entry),
         "--asset", asset, "--yes", "--profile", "test-bench", "--json"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report: dict[str, object] = json.loads(result.stdout)
    return report


def backing_file(device: Path) -> Path:
    out = subprocess.run(
        ["losetup", "--noheadings", "-O", "BACK-FILE", str(device)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return Path(out.strip())


def image_alone(
    make_loop: LoopFactory, size: int, entry: Path, asset: str
) -> tuple[dict[str, object], Path]:
    """``entry`` imaged with ``--asset`` onto a new loop device of ``size`` bytes, which is then
    detached: the image report, and the disk's file alone, as a PC holds it."""
    device = make_loop(size)
    report = image_with_cli(device, entry, asset)
    assert report["status"] == "success", report
    disk = backing_file(device)
    subprocess.run(["losetup", "-d", str(device)], check=True)
    return report, disk


OLD_PC = (
    "qemu-system-i386", "-M", "pc", "-cpu", "n270", "-m", "512",
    "-drive", "file={disk},format=raw,if=ide,index=0,media=disk",
)  # fmt: skip


def boot_disk(
    disk: Path, workdir: Path, timeout_s: float, machine: tuple[str, ...] = OLD_PC
) -> tuple[bytes, float | None]:
    """Boot ``disk`` alone (by default as the old PC's IDE disk); the serial log and seconds
    to ``ready``.

    After the line, a minute more (the unit records the idle memory), a screendump of the
    graphical login, then an ACPI power-off so the disk is clean for the checks.
    """
    sys.path.insert(0, str(ROOT / "scripts" / "live"))
    import vbench

    workdir.mkdir(parents=True, exist_ok=True)
    serial = workdir / "serial.log"
    qmp = workdir / "qmp.sock"
    cmd = [part.format(disk=disk, workdir=workdir) for part in machine] + [
        "-accel", "tcg", "-smp", "1", "-nic", "none", "-display", "none", "-vga", "std",
        "-no-reboot", "-monitor", "none", "-serial", f"file:{serial}",
        "-qmp", f"unix:{qmp},server=on,wait=off",
    ]  # fmt: skip
    (workdir / "qemu-command.txt").write_text(" ".join(cmd) + "\n")
    start = time.monotonic()
    with open(workdir / "qemu-stderr.log", "wb") as err:
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        ready_s: float | None = None
        try:
            while time.monotonic() - start < timeout_s and process.poll() is None:
                time.sleep(2)
                if serial.exists() and READY.search(serial.read_bytes()):
                    ready_s = time.monotonic() - start
                    break
            if ready_s is not None:
                time.sleep(75)
                vbench.qmp(
                    qmp,
                    {
                        "execute": "screendump",
                        "arguments": {"filename": str(workdir / "login.png"), "format": "png"},
                    },
                )
                vbench.qmp(qmp, {"execute": "system_powerdown"})
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=180)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
    return serial.read_bytes(), ready_s


def read_root_file(disk: Path, path: str) -> str:
    """A file of the imaged root filesystem (the last partition), read with debugfs."""
    from bench_agent.imaging.personalise import _root_partition

    where = _root_partition(str(disk))
    assert where is not None, "no ext4 root partition on the imaged disk"
    result = subprocess.run(
        ["debugfs", "-R", f"cat {path}", f"{disk}?offset={where[0]}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.stdout


@pytest.mark.timeout(2700)  # an empty cache: bootstrap (~10 min) + imaging + boot (≤ 10 min)
def test_old_pc_boots_the_imaged_small_master(
    master_i686_small: Path, make_loop: LoopFactory, tmp_path: Path
) -> None:
    """scripts/build-master → bench-agent image --asset BAR-0001 → the disk alone boots in a
    Pentium-class 512 MB PC to the graphical login and says so once, with its own machine-id."""
    report, disk = image_alone(make_loop, 4 << 30, master_i686_small, "BAR-0001")
    assert report["hostname"] == "BAR-0001"
    files = report["personalised_files"]
    assert isinstance(files, dict)
    assert {"/etc/hostname", "/etc/machine-id", "/etc/education-master/about.txt"} <= set(files)
    assert read_root_file(disk, "/etc/hostname") == "BAR-0001\n"
    assert read_root_file(disk, "/etc/machine-id") == ""

    log, ready_s = boot_disk(disk, tmp_path / "boot", BOOT_TIMEOUT_S)
    (ROOT / "build" / "master").mkdir(parents=True, exist_ok=True)
    (ROOT / "build" / "master" / "boot-i686-small-serial.log").write_bytes(log)
    lines = READY.findall(log)
    assert ready_s is not None, (
        f"no 'education-master: ready' within {BOOT_TIMEOUT_S}s; serial tail:\n"
        + log[-3000:].decode(errors="replace")
    )
    assert len(lines) == 1, lines
    hostname, machine_id = lines[0]
    assert hostname == b"BAR-0001"
    assert machine_id != b"0" * 32
    print(f"boot_to_ready_s={ready_s:.0f}")
    # After the clean power-off: the machine-id was committed, and the idle memory recorded.
    assert read_root_file(disk, "/etc/machine-id").strip() == machine_id.decode()
    memory = read_root_file(disk, "/var/lib/education-master/idle-memory")
    match = re.search(r"idle_used_mib=(\d+)", memory)
    assert match, f"no idle memory record: {memory!r}"
    print(memory.strip())
    assert int(match.group(1)) <= 256
    screendump = tmp_path / "boot" / "login.png"
    assert screendump.stat().st_size > 0
    shutil.copy2(screendump, ROOT / "build" / "master" / "login-i686-small.png")
