"""Shared by the QEMU tests: the live roots, built once per test session, and the boot of a
test scenario in a diskless guest.

Registered as a plugin in ``tests/conftest.py`` so that every vm test module shares one build
(a session fixture imported into two modules would be set up twice).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_root, require_tool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "live"))

import vbench  # noqa: E402

__all__ = [
    "ROOT",
    "boot_scenario",
    "live_amd64",
    "live_builds",
    "live_i686",
    "plug_usb_disk",
    "qmp_call",
    "scenario_machine",
    "send_chord",
    "vbench",
]

BUILD_TOOLS = (
    "debootstrap",
    "mksquashfs",
    "grub-mkrescue",
    "xorriso",
    "mkfs.vfat",
    "mcopy",
    "cpio",
)


class _Background:
    """scripts/build-live for one architecture, running while other tests use the first one."""

    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.out = vbench.live_dir(arch)
        self.log = ROOT / "build" / f"build-live-{arch}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.log, "w")  # noqa: SIM115 - closed in result()
        self.process = subprocess.Popen(
            [str(ROOT / "scripts" / "build-live"), "--arch", arch, "--out", str(self.out)],
            stdout=self.handle, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def result(self) -> Path:
        code = self.process.wait()
        self.handle.close()
        assert code == 0, (
            f"scripts/build-live --arch {self.arch} failed:\n{self.log.read_text()[-3000:]}"
        )
        return self.out


@pytest.fixture(scope="session")
def live_builds(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    require_root()
    # The amd64 root builds in the background only when a collected test boots it: a session
    # of i686 guests alone (test_vm_dm, test_guided_vm_input) does not pay for it on 2 cores.
    wants_amd64 = any(
        "live_amd64" in getattr(item, "fixturenames", ()) for item in request.session.items
    )
    qemus = ("qemu-system-i386", "qemu-system-x86_64") if wants_amd64 else ("qemu-system-i386",)
    for tool in (*BUILD_TOOLS, *qemus):
        require_tool(tool)
    amd64 = _Background("amd64") if wants_amd64 else None
    try:
        i686 = vbench.build_live("i686")
        yield {"i686": i686, "amd64": amd64}
    finally:
        if amd64 is not None and amd64.process.poll() is None:
            amd64.process.wait()


@pytest.fixture(scope="session")
def live_i686(live_builds: dict[str, Any]) -> Path:
    path: Path = live_builds["i686"]
    return path


@pytest.fixture(scope="session")
def live_amd64(live_builds: dict[str, Any]) -> Path:
    return live_builds["amd64"].result()  # type: ignore[no-any-return]


# --- a scenario in a guest ----------------------------------------------------------------
# One guest boot of the i686 live root over the read-only 9p share, no disks, started as the
# virtual bench starts it (``vbench.qemu_command``, ``bench.mode=unattended``) with one more
# archive after ``initrd.img`` (the kernel unpacks concatenated initrds, as for PXE's
# ``live.cpio``): a ``switch_root`` wrapper that, at the hand-over to the live root, puts the
# test's own ``unattended`` script in place of the bench run. Results come back as JSON through
# the io share; the guest powers off as after an unattended run.

# Run by busybox at the initramfs' hand-over (first on its PATH, before busybox's applet).
SWITCH_ROOT = """#!/bin/busybox sh
# tests/vm_support.py: the live root runs a test scenario instead of the unattended bench.
cp /scenario-unattended /newroot/usr/lib/bench-live/unattended
chmod 755 /newroot/usr/lib/bench-live/unattended
exec /bin/busybox switch_root "$@"
"""
GUEST_APPEND = (
    "console=ttyS0,115200 quiet bench.root=9p:live bench.io=9p:benchio "
    "bench.mode=unattended bench.lang=en bench.net=0"
)


def scenario_machine(name: str, description: str) -> vbench.Machine:
    """The diskless i686 PC every guest scenario boots."""
    return vbench.Machine(
        name=name,
        description=description,
        qemu="qemu-system-i386",
        machine="pc",
        cpu="coreduo",
        cpu_model="Intel(R) Core(TM)2 Duo CPU T7700 @ 2.40GHz",
        memory_mib=512,
        drives=(),
    )


def _hook_cpio(workdir: Path, unattended: str) -> Path:
    stage = workdir / "hook"
    (stage / "bin").mkdir(parents=True)
    (stage / "bin" / "switch_root").write_text(SWITCH_ROOT)
    (stage / "scenario-unattended").write_text(unattended)
    for script in (stage / "bin" / "switch_root", stage / "scenario-unattended"):
        script.chmod(0o755)
    archive = workdir / "hook.cpio"
    with open(archive, "wb") as out:
        subprocess.run(
            ["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"],
            input=b"bin\nbin/switch_root\nscenario-unattended\n",
            cwd=stage,
            stdout=out,
            check=True,
        )
    return archive


def boot_scenario(
    live: Path,
    workdir: Path,
    machine: vbench.Machine,
    unattended: str,
    files: tuple[Path, ...],
    results: str,
    timeout_s: float = 420,
) -> tuple[dict[str, Any], str, float]:
    """Boot ``machine`` on ``live`` running ``unattended`` (a bash script; ``files`` are copied
    to the io share, ``$BENCH_IO``) → (``$BENCH_IO/<results>/results.json``, serial log, wall s).
    """
    pxe = live / "pxe"
    io_dir = workdir / "io"
    io_dir.mkdir(parents=True)
    for file in files:
        shutil.copy2(file, io_dir / file.name)
    initrd = workdir / "initrd+hook.img"
    with open(initrd, "wb") as out:
        for part in (pxe / "initrd.img", _hook_cpio(workdir, unattended)):  # 512-byte padded
            out.write(part.read_bytes())
    serial_log = workdir / "serial.log"
    cmd = vbench.qemu_command(machine, pxe, io_dir, [], serial_log, GUEST_APPEND)
    cmd[cmd.index(str(pxe / "initrd.img"))] = str(initrd)
    (workdir / "qemu-command.txt").write_text(" ".join(cmd) + "\n")
    start = time.monotonic()
    with open(workdir / "qemu-stderr.log", "wb") as err:
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    wall = time.monotonic() - start
    serial = serial_log.read_text(errors="replace") if serial_log.exists() else ""
    result = io_dir / results / "results.json"
    assert result.exists(), f"no results from the guest after {wall:.0f}s:\n{serial[-4000:]}"
    return json.loads(result.read_text()), serial, wall


# --- QMP calls with their answers, and disks plugged into a running guest -------------------
def qmp_call(sock_path: Path, *commands: dict[str, Any]) -> list[Any]:
    """Run QMP ``commands`` in order on one connection: their ``return`` values; an error
    reply fails the test with QEMU's own words (vbench's client, strict)."""
    try:
        return vbench.qmp(sock_path, *commands, strict=True)
    except RuntimeError as exc:
        raise AssertionError(str(exc)) from None


def send_chord(sock_path: Path, *keys: str) -> None:
    """Keys held together on the guest's keyboard (QEMU key codes: "shift", "l")."""
    qmp_call(
        sock_path,
        {
            "execute": "send-key",
            "arguments": {"keys": [{"type": "qcode", "data": key} for key in keys]},
        },
    )


def plug_usb_disk(
    sock_path: Path, index: int, image: Path, drive: vbench.Drive, bridge_serial: str = ""
) -> None:
    """A disk plugged into a USB dock of the running guest (the kernel sees a hot-plug and
    udev an ``add``): a raw ``image`` behind a USB mass-storage bridge (``usb-bot``) whose
    SCSI disk reports ``drive.model`` and ``drive.serial`` (its unit serial number, VPD page
    0x80). The bridge's own USB serial (what lsblk and udev's ID_SERIAL_SHORT show) is
    ``bridge_serial``, the disk's when not given (as docks that pass the disk's own through
    do); docks of one make often all report the same one. The guest needs a USB controller
    (``-device qemu-xhci``)."""
    node, bridge = f"dock{index}", f"bot{index}"
    qmp_call(
        sock_path,
        {
            "execute": "blockdev-add",
            "arguments": {
                "driver": "raw",
                "node-name": node,
                "file": {"driver": "file", "filename": str(image)},
            },
        },
        {
            "execute": "device_add",
            "arguments": {
                "driver": "usb-bot",
                "id": bridge,
                "serial": bridge_serial or drive.serial,
            },
        },
        {
            "execute": "device_add",
            "arguments": {
                "driver": "scsi-hd",
                "id": f"disk{index}",
                "bus": f"{bridge}.0",
                "drive": node,
                "vendor": "ATA",
                "product": drive.model,
                "serial": drive.serial,
            },
        },
        # A hot-plugged usb-bot waits for its disks; attached, the guest sees it arrive.
        {
            "execute": "qom-set",
            "arguments": {
                "path": f"/machine/peripheral/{bridge}",
                "property": "attached",
                "value": True,
            },
        },
    )
