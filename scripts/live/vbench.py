"""The virtual bench: QEMU machines shaped like donated PCs run the live bench unattended.

Each machine boots the live build's PXE files directly (kernel + initramfs; the squashfs root
comes over a read-only 9p share), runs ``bench-agent run --unattended`` and powers off. There
is no network card (``-nic none``): the result, the signed record and the certificates come
back through a second 9p share, and the host syncs them to a real local ledger
(``bench-ledger serve`` on 127.0.0.1) where they are checked. Used by ``scripts/virtual-bench``,
the ``vm`` tests and ``scripts/bench/machine_cycle.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROFILE = Path(__file__).resolve().parent / "virtual-bench.toml"
GUEST_PROFILE = "/run/bench-live/io/profiles/virtual-bench.toml"
MARKER = b"DONOR-SECRET-"  # planted on the donated disks; must be gone after the run
GUEST_HOME = "/var/lib/bench-agent"
# With a ledger link (run_machine(ledger_link=...)): QEMU user networking with restrict=on, so the
# guest reaches nothing but this address, which one guestfwd carries to the host's ledger. The
# guestfwd's cmd: form starts a relay (this file, "relay HOST PORT") for every connection.
GUEST_LEDGER_IP = "10.0.2.100"
GUEST_LEDGER_PORT = 8080
GUEST_LEDGER_URL = f"http://{GUEST_LEDGER_IP}:{GUEST_LEDGER_PORT}"


@dataclass(frozen=True)
class Drive:
    bus: str  # ide (PATA), sata (AHCI), nvme
    size_mib: int
    serial: str
    model: str = ""  # QEMU's NVMe drive always reports "QEMU NVMe Ctrl"

    @property
    def expected_model(self) -> str:
        return self.model or "QEMU NVMe Ctrl"


@dataclass(frozen=True)
class Machine:
    name: str
    description: str
    qemu: str
    machine: str
    cpu: str
    cpu_model: str
    memory_mib: int
    drives: tuple[Drive, ...]
    optical_model: str = ""
    sound: str = ""  # ac97 | hda
    profile: str = "virtual-bench"  # scripts/live/virtual-bench.toml, or a profile name
    sse2: bool = True
    brand_string: bool = True  # the CPU reports cpu_model itself (QEMU's model-id)
    arch: str = "i686"  # which live build it boots: a 64-bit PC gets the amd64 bench
    # The expected sound card name as ALSA reports it.
    sound_name: str = ""


MACHINES: dict[str, Machine] = {
    "old": Machine(
        name="old",
        description="2004 desktop: Pentium 4 class CPU, 512 MB, IDE disk, IDE CD-ROM, AC'97",
        qemu="qemu-system-i386",
        machine="pc",
        cpu="coreduo",
        cpu_model="Intel(R) Pentium(R) 4 CPU 3.00GHz",
        memory_mib=512,
        drives=(Drive("ide", 512, "5JV0OLD1", "ST380011A"),),
        optical_model="HL-DT-ST DVD-ROM GDR8163B",
        sound="ac97",
        sound_name="Intel 82801AA-ICH",
    ),
    "modern": Machine(
        name="modern",
        description="2018 laptop: 64-bit CPU, 2 GB, NVMe and SATA disks, HD audio",
        qemu="qemu-system-x86_64",
        machine="q35",
        cpu="Nehalem",
        cpu_model="Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz",
        memory_mib=2048,
        drives=(
            Drive("nvme", 1024, "S4EWNX0R100001"),
            Drive("sata", 512, "WXB1MODERN02", "WDC WD5000LPVX-22V0TT0"),
        ),
        sound="hda",
        sound_name="HDA Intel",
        arch="amd64",
    ),
    "pentium3": Machine(
        name="pentium3",
        description="2000 desktop: Pentium III without SSE2, 256 MB, IDE disk, AC'97",
        qemu="qemu-system-i386",
        machine="pc",
        cpu="pentium3",
        # No brand string in a Pentium III's CPUID: Linux names it from family and model.
        cpu_model="Pentium III (Katmai)",
        brand_string=False,
        memory_mib=256,
        drives=(Drive("ide", 64, "P3OLDDISK01", "IC35L040AVER07-0"),),
        optical_model="CD-ROM CDU5211",
        sound="ac97",
        profile="pentium4",
        sse2=False,
    ),
}


@dataclass
class RunResult:
    machine: Machine
    workdir: Path
    exit_code: int | None
    wall_s: float
    serial_log: Path
    summary: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    preflight: str = ""
    timed_out: bool = False
    catalogue: Path | None = None  # the master's catalogue entry when it is not in images/

    @property
    def serial_text(self) -> str:
        return self.serial_log.read_text(errors="replace") if self.serial_log.exists() else ""

    @property
    def station_out(self) -> Path:
        return self.workdir / "io" / "station-out"


def live_dir(arch: str = "i686") -> Path:
    return ROOT / "build" / f"live-{arch}"


def build_live(arch: str = "i686", out: Path | None = None) -> Path:
    """Run scripts/build-live (its caches make a rebuild quick); return the output folder."""
    out = out or live_dir(arch)
    done = subprocess.run(
        [str(ROOT / "scripts" / "build-live"), "--arch", arch, "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"scripts/build-live failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return out


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    venv = ROOT / ".venv" / "bin" / name
    if venv.exists():
        return str(venv)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed: run scripts/setup --test")
    return found


def prepare_disk(path: Path, drive: Drive, tag: str) -> None:
    """A sparse disk image with donor data at the start, the middle and the end."""
    size = drive.size_mib << 20
    with open(path, "wb") as handle:
        handle.truncate(size)
        for offset in (0, 1 << 20, size // 2, size - (1 << 20), size - 4096):
            handle.seek(offset)
            handle.write((MARKER + f"{tag}-{offset}|".encode()) * 64)


def marker_offsets(path: Path, limit: int = 5) -> list[int]:
    """Where donor markers survive on a disk image (empty when the wipe did its job)."""
    found: list[int] = []
    chunk = 8 << 20
    overlap = len(MARKER)
    with open(path, "rb") as handle:
        base = 0
        tail = b""
        while len(found) < limit:
            block = handle.read(chunk)
            if not block:
                break
            data = tail + block
            start = 0
            while (hit := data.find(MARKER, start)) >= 0 and len(found) < limit:
                found.append(base - len(tail) + hit)
                start = hit + 1
            tail = data[-overlap:]
            base += len(block)
    return found


def qemu_command(
    machine: Machine,
    pxe: Path,
    io_dir: Path,
    disks: list[Path],
    serial_log: Path,
    append: str,
    qmp_socket: Path | None = None,
    nic: str = "none",
    uefi_vars: Path | None = None,
) -> list[str]:
    cmd = [
        machine.qemu, "-M", machine.machine, "-accel", "tcg",
        "-cpu", f"{machine.cpu},model-id={machine.cpu_model}" if machine.brand_string else machine.cpu,
        "-smp", "1", "-m", str(machine.memory_mib),
        "-nic", nic, "-display", "none", "-vga", "std", "-no-reboot",
        "-monitor", "none", "-serial", f"file:{serial_log}",
        "-audiodev", "none,id=snd0",
        "-kernel", str(pxe / "vmlinuz"), "-initrd", str(pxe / "initrd.img"), "-append", append,
        "-virtfs", f"local,path={pxe},mount_tag=live,security_model=none,readonly=on",
        "-virtfs", f"local,path={io_dir},mount_tag=benchio,security_model=passthrough",
    ]  # fmt: skip
    if uefi_vars is not None:  # UEFI firmware (OVMF) with this machine's own NVRAM
        cmd += [
            "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,file={uefi_vars}",
        ]  # fmt: skip
    if machine.machine == "q35" and not machine.optical_model:
        # q35 adds a CD-ROM drive by default (AHCI port 2): a laptop without one has none.
        cmd += ["-nodefaults"]
    if machine.machine == "pc":
        # No floppy drive: the agent would list an empty fd0 as a disk (reported to its owner).
        cmd += ["-global", "isa-fdc.fdtypeA=none"]
    ide_bus = 0
    for index, (drive, path) in enumerate(zip(machine.drives, disks, strict=True)):
        # Zeros the guest writes (a wipe) become holes: an 8 GiB disk stays a sparse file.
        cmd += [
            "-drive",
            f"if=none,id=disk{index},file={path},format=raw,cache=unsafe,"
            "discard=unmap,detect-zeroes=unmap",
        ]
        if drive.bus == "nvme":
            cmd += ["-device", f"nvme,drive=disk{index},serial={drive.serial}"]
        else:
            cmd += [
                "-device",
                f"ide-hd,drive=disk{index},bus=ide.{ide_bus},unit=0,"
                f"model={drive.model},serial={drive.serial}",
            ]
            ide_bus += 1
    if machine.optical_model:
        cmd += [
            "-drive", "if=none,id=cdrom0,media=cdrom,readonly=on",
            "-device", f"ide-cd,drive=cdrom0,bus=ide.{max(ide_bus, 1)},unit=0,"
            f"model={machine.optical_model}",
        ]  # fmt: skip
    if machine.sound == "ac97":
        cmd += ["-device", "AC97,audiodev=snd0"]
    elif machine.sound == "hda":
        cmd += ["-device", "intel-hda", "-device", "hda-duplex,audiodev=snd0"]
    if qmp_socket is not None:
        cmd += ["-qmp", f"unix:{qmp_socket},server=on,wait=off"]
    return cmd


def ledger_nic(ledger_url: str, model: str = "e1000") -> str:
    """A network card whose only reachable peer is the host's ledger at ``ledger_url``.

    ``restrict=on`` cuts the guest off from the host and the outside; the guestfwd's ``cmd:``
    form runs one relay per connection the guest opens to GUEST_LEDGER_URL (a chardev guestfwd
    would carry only the first one).
    """
    from urllib.parse import urlsplit

    parts = urlsplit(ledger_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    relay = f"{sys.executable} {Path(__file__).resolve()} relay {host} {port}"
    if "," in relay:
        raise RuntimeError(f"a comma in the relay command breaks QEMU's option: {relay}")
    return (
        f"user,model={model},restrict=on,"
        f"guestfwd=tcp:{GUEST_LEDGER_IP}:{GUEST_LEDGER_PORT}-cmd:{relay}"
    )


def relay(host: str, port: int) -> int:
    """One guest connection (QEMU gives it as stdin/stdout) carried to ``host:port``."""
    import selectors
    import socket

    upstream = socket.create_connection((host, port), timeout=30)
    upstream.settimeout(None)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "guest")
    selector.register(upstream, selectors.EVENT_READ, "ledger")
    open_sides = 2
    while open_sides:
        for key, _mask in selector.select():
            if key.data == "guest":
                data = os.read(0, 1 << 16)
                if not data:
                    selector.unregister(0)
                    open_sides -= 1
                    upstream.shutdown(socket.SHUT_WR)
                else:
                    upstream.sendall(data)
            else:
                data = upstream.recv(1 << 16)
                if not data:
                    return 0  # the ledger closed: the guest's connection ends with it
                view = memoryview(data)
                while view:
                    view = view[os.write(1, view) :]
    upstream.close()
    return 0


def seed_station(io_dir: Path, ledger_url: str, token: str) -> Path:
    """Enrol a station home on the host (key pair + ledger settings); the guest copies it in.
    The station's name comes with its token."""
    home = io_dir / "station"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, BENCH_AGENT_HOME=str(home))
    done = subprocess.run(
        [_tool("bench-agent"), "--lang", "en", "enroll", "--ledger", ledger_url, "--token", token],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"bench-agent enroll failed: {done.stderr or done.stdout}")
    return home


def copy_images(io_dir: Path) -> Path:
    """The test master's catalogue for the guest (built with scripts/build-test-master)."""
    sys.path.insert(0, str(ROOT))
    from bench_agent.adapters.demo import ensure_test_master
    from bench_agent.config import load_settings
    from bench_agent.imaging import station_images_dir

    source = ensure_test_master(station_images_dir(load_settings()))
    target = io_dir / "images"
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name.startswith("test-master"):
            dest = target / item.name
            if not dest.exists():
                try:
                    os.link(item, dest)
                except OSError:
                    shutil.copy2(item, dest)
    return target


def copy_catalogue_entry(io_dir: Path, entry: Path) -> Path:
    """Only the master's catalogue entry for the guest: its image file is not beside it, so the
    bench streams it from the ledger (``/api/v1/images/<file>``)."""
    target = io_dir / "images"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(entry, target / entry.name)
    return target


def run_machine(
    machine: Machine,
    workdir: Path,
    live: Path,
    *,
    station_seed: bool = True,
    ledger_url: str = "",
    token: str = "",
    asset: str = "",
    lot: str = "VBENCH-LOT",
    timeout_s: float = 900,
    extra_append: str = "",
    pxe_cpio: bool = False,
    ledger_link: bool = False,
    stream_entry: Path | None = None,
    uefi: bool = False,
) -> RunResult:
    """Boot one machine unattended and collect what it left in the io share.

    The root comes over the read-only 9p share, or with ``pxe_cpio`` as PXE delivers it:
    ``live.cpio`` after ``initrd.img`` (concatenated, as a boot loader hands several initrds
    to the kernel), unpacked into RAM.

    ``ledger_link``: the machine gets a network card that reaches only ``ledger_url`` (see
    ledger_nic), and the guest's station talks to it at GUEST_LEDGER_URL. ``stream_entry``: the
    bench images with that catalogue entry (its file served by the ledger, streamed to the
    disk) instead of the test master. ``uefi``: OVMF firmware, with the machine's NVRAM in
    ``workdir/OVMF_VARS.fd`` (kept for a later boot from its disk).
    """
    pxe = live / "pxe"
    for name in ("vmlinuz", "initrd.img", "filesystem.squashfs", "bench-live.id"):
        if not (pxe / name).exists():
            raise RuntimeError(f"{pxe / name} is missing: run scripts/build-live first")
    if workdir.exists():
        shutil.rmtree(workdir)
    io_dir = workdir / "io"
    io_dir.mkdir(parents=True)
    if station_seed and ledger_url:
        seed_station(io_dir, ledger_url, token)
    if stream_entry is not None:
        copy_catalogue_entry(io_dir, stream_entry)
    elif machine.sse2:
        copy_images(io_dir)
    (io_dir / "profiles").mkdir()
    shutil.copy2(PROFILE, io_dir / "profiles" / PROFILE.name)
    profile = GUEST_PROFILE if machine.profile == "virtual-bench" else machine.profile
    disks = []
    for index, drive in enumerate(machine.drives):
        path = workdir / f"disk{index}-{drive.bus}.img"
        prepare_disk(path, drive, f"{machine.name}{index}")
        disks.append(path)
    serial_log = workdir / "serial.log"
    asset = asset or f"VB-{machine.name.upper()}-{int(time.time())}"
    net = "bench.net=0"
    nic = "none"
    if ledger_link:
        net = f"bench.net=1 bench.ledger={GUEST_LEDGER_URL}"
        nic = ledger_nic(ledger_url)
    if stream_entry is not None:
        net += f" bench.image={stream_entry.stem}"
    append = (
        "console=ttyS0,115200 quiet bench.root=9p:live bench.io=9p:benchio "
        f"bench.mode=unattended bench.lang=en {net} bench.profile={profile} "
        f"bench.asset={asset} bench.lot={lot} {extra_append}"
    ).strip()
    uefi_vars = None
    if uefi:
        uefi_vars = workdir / "OVMF_VARS.fd"
        shutil.copy2(OVMF_VARS, uefi_vars)
    cmd = qemu_command(
        machine, pxe, io_dir, disks, serial_log, append, nic=nic, uefi_vars=uefi_vars
    )
    if pxe_cpio:
        combined = workdir / "initrd+live.cpio"
        with open(combined, "wb") as joined:
            for part in ("initrd.img", "live.cpio"):
                with open(pxe / part, "rb") as source:
                    shutil.copyfileobj(source, joined, 1 << 20)
        cmd[cmd.index(str(pxe / "initrd.img"))] = str(combined)
        append = append.replace("bench.root=9p:live ", "")
        cmd[cmd.index("-append") + 1] = append
    (workdir / "qemu-command.txt").write_text(" ".join(cmd) + "\n")
    start = time.monotonic()
    timed_out = False
    with open(workdir / "qemu-stderr.log", "wb") as err:
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        # Wait for the power-off; give up at the timeout, or at once if the boot fell back to
        # the initramfs' rescue shell (nothing more will happen).
        while process.poll() is None:
            time.sleep(1)
            rescued = serial_log.exists() and "A shell follows" in serial_log.read_text(
                errors="replace"
            )
            if rescued or time.monotonic() - start > timeout_s:
                timed_out = True
                process.kill()
                process.wait()
    wall = time.monotonic() - start
    result = RunResult(
        machine, workdir, None, wall, serial_log, timed_out=timed_out, catalogue=stream_entry
    )
    out = io_dir / "result"
    if (out / "exit-code").exists():
        result.exit_code = int((out / "exit-code").read_text().strip() or -1)
    if (out / "preflight.txt").exists():
        result.preflight = (out / "preflight.txt").read_text().strip()
    if (out / "timing.txt").exists():
        for pair in (out / "timing.txt").read_text().split():
            key, _sep, value = pair.partition("=")
            result.timing[key] = float(value)
    if (out / "result.json").exists() and (out / "result.json").stat().st_size:
        try:
            result.summary = json.loads((out / "result.json").read_text())
        except json.JSONDecodeError:
            result.summary = {}
    record_path = str(result.summary.get("record_path") or "")
    if record_path.startswith(GUEST_HOME):
        host_path = result.station_out / record_path[len(GUEST_HOME) :].lstrip("/")
        if host_path.exists():
            result.record = json.loads(host_path.read_text())
    return result


def sync_to_ledger(result: RunResult, ledger_url: str = "") -> subprocess.CompletedProcess[str]:
    """The host sends what the guest left in its outbox (the guest had no network, or knew the
    ledger by its guest-side address: ``ledger_url`` is the host's)."""
    env = dict(os.environ, BENCH_AGENT_HOME=str(result.station_out))
    if ledger_url:
        env["BENCH_AGENT_LEDGER_URL"] = ledger_url
    return subprocess.run(
        [_tool("bench-agent"), "--lang", "en", "sync", "--once"],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )  # fmt: skip


def _seconds(report: dict[str, Any]) -> float:
    start, end = report.get("started_at"), report.get("finished_at")
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def phase_times(record: dict[str, Any]) -> dict[str, float]:
    """Wipe and imaging durations from the record's own timestamps."""
    wipe = sum(_seconds(w) for w in record.get("wipes", []))
    image = _seconds(record["image"]) if record.get("image") else 0.0
    total = 0.0
    if record.get("started_at") and record.get("finished_at"):
        total = _seconds(record)
    return {"wipe_s": wipe, "image_s": image, "record_s": total}


def check_inventory(machine: Machine, inventory: dict[str, Any]) -> list[str]:
    """Differences between what the guest saw and how the machine was configured."""
    problems: list[str] = []
    cpu = inventory.get("cpu", {})
    if cpu.get("model") != machine.cpu_model:
        problems.append(f"CPU model {cpu.get('model')!r}, configured {machine.cpu_model!r}")
    if bool(cpu.get("has_sse2")) != machine.sse2:
        problems.append(f"CPU SSE2 {cpu.get('has_sse2')}, configured {machine.sse2}")
    total = int(inventory.get("memory", {}).get("total_bytes") or 0)
    configured = machine.memory_mib << 20
    # The kernel keeps some memory for itself: MemTotal is a little under the RAM size.
    if not configured * 0.85 <= total <= configured:
        problems.append(f"memory {total} bytes, configured {configured}")
    disks = {d.get("serial"): d for d in inventory.get("disks", [])}
    for drive in machine.drives:
        found = disks.get(drive.serial)
        if found is None:
            problems.append(f"disk serial {drive.serial} not in the inventory ({sorted(disks)})")
            continue
        if found.get("model") != drive.expected_model:
            problems.append(f"disk {drive.serial} model {found.get('model')!r}")
        if int(found.get("size_bytes") or 0) != drive.size_mib << 20:
            problems.append(f"disk {drive.serial} size {found.get('size_bytes')}")
        want_transport = {"ide": "ata", "sata": "sata", "nvme": "nvme"}[drive.bus]
        if found.get("transport") != want_transport:
            problems.append(f"disk {drive.serial} transport {found.get('transport')!r}")
    optical = inventory.get("optical", [])
    if machine.optical_model:
        if not any(o.get("model") == machine.optical_model for o in optical):
            problems.append(f"optical drive {machine.optical_model!r} missing: {optical}")
    elif optical:
        problems.append(f"unexpected optical drives {optical}")
    sound = inventory.get("sound", [])
    if machine.sound and not any(machine.sound_name in (s.get("name") or "") for s in sound):
        problems.append(f"sound card {machine.sound_name!r} missing: {sound}")
    return problems


def check_cycle(result: RunResult, ledger: Any | None, station_key: Path | None) -> list[str]:
    """Everything the virtual bench promises for a machine with SSE2."""
    problems: list[str] = []
    text = result.serial_text
    if "Illegal instruction" in text:
        problems.append("the guest printed 'Illegal instruction'")
    if result.timed_out:
        return [*problems, f"the machine did not power off in time (serial: {result.serial_log})"]
    if not result.record:
        return [
            *problems,
            f"no signed record came out (exit {result.exit_code}; see {result.workdir})",
        ]
    record = result.record
    problems += check_inventory(result.machine, record.get("inventory", {}))

    sys.path.insert(0, str(ROOT))
    from bench_agent.inventory.profiles import grade_inventory, load_profile
    from bench_agent.models import AutoCheck, GuidedCheck, Inventory
    from bench_agent.signing import load_or_create_key, verify_document

    inventory = Inventory.model_validate(record["inventory"])
    expected = grade_inventory(
        inventory,
        load_profile(
            str(PROFILE) if result.machine.profile == "virtual-bench" else result.machine.profile
        ),
        guided=[GuidedCheck.model_validate(g) for g in record.get("guided_checks", [])],
        auto_checks=[AutoCheck.model_validate(a) for a in record.get("auto_checks", [])],
    )
    got = (record.get("verdict") or {}).get("outcome")
    if got != expected.outcome:
        problems.append(f"verdict {got!r}, the profile gives {expected.outcome!r}")

    wiped = {w.get("serial"): w for w in record.get("wipes", [])}
    for drive in result.machine.drives:
        wipe = wiped.get(drive.serial)
        if wipe is None:
            problems.append(f"disk {drive.serial} was not wiped")
            continue
        if wipe.get("status") != "erased" or wipe.get("verification_result") != "passed":
            problems.append(
                f"disk {drive.serial}: {wipe.get('status')} / {wipe.get('verification_result')}"
            )
        if drive.bus == "nvme" and not str(wipe.get("method", "")).startswith("nvme-format"):
            problems.append(f"NVMe {drive.serial} wiped by {wipe.get('method')}, not Format NVM")
        if drive.bus != "nvme" and wipe.get("method") not in ("zero", "random"):
            problems.append(f"disk {drive.serial} wiped by {wipe.get('method')}, not overwrite")
    image = record.get("image") or {}
    if image.get("status") != "success" or not image.get("readback_verified"):
        problems.append(f"test master not written and verified: {image.get('status')!r}")

    disks = sorted(result.workdir.glob("disk*.img"))
    for disk in disks:
        left = marker_offsets(disk)
        if left:
            problems.append(f"donor data still on {disk.name} at {left}")
    if image.get("status") == "success":
        name = image.get("image", "test-master")
        imaged = [d for d in disks if _starts_with_master(d, name, result.catalogue)]
        if not imaged:
            problems.append(f"no disk image starts with the first block of {name}")

    if station_key is not None:
        public = load_or_create_key(station_key).public_key()
        signed = outbox_body(result, record["record_id"])
        if signed is None:
            problems.append("the record is not in the station's outbox")
        else:
            try:
                verify_document(signed, public)
            except Exception as exc:
                problems.append(f"the outbox record does not verify with the station key: {exc}")
        for certificate in record.get("certificates", []):
            try:
                verify_document(certificate, public)
            except Exception as exc:
                problems.append(f"a certificate does not verify with the station key: {exc}")
        if len(record.get("certificates", [])) != len(result.machine.drives):
            problems.append(
                f"{len(record.get('certificates', []))} certificates for {len(result.machine.drives)} disks"
            )
    if ledger is not None:
        synced = sync_to_ledger(result, str(getattr(ledger, "url", "")))
        if synced.returncode != 0:
            problems.append(f"bench-agent sync failed: {synced.stderr or synced.stdout}")
        try:
            stored = ledger.api("GET", f"/api/v1/records/{record['record_id']}")
        except Exception as exc:
            problems.append(f"the ledger has no record {record['record_id']}: {exc}")
        else:
            body = stored.get("record", stored) if isinstance(stored, dict) else {}
            if body.get("record_id", record["record_id"]) != record["record_id"]:
                problems.append("the ledger returned another record")
    return problems


def outbox_body(result: RunResult, record_id: str) -> dict[str, Any] | None:
    """The signed record as the guest queued it for the ledger."""
    import sqlite3

    path = result.station_out / "outbox.sqlite"
    if not path.exists():
        return None
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT body FROM outbox WHERE record_id = ?", (record_id,)).fetchone()
    return json.loads(row[0]) if row else None


def check_refusal(result: RunResult) -> list[str]:
    """A CPU without SSE2: the preflight stops before the bench app, without a crash."""
    problems: list[str] = []
    text = result.serial_text
    if "Illegal instruction" in text:
        problems.append("the guest printed 'Illegal instruction'")
    if result.timed_out:
        problems.append(f"the machine did not power off in time (serial: {result.serial_log})")
    if not result.preflight.startswith("missing sse2"):
        problems.append(f"the preflight said {result.preflight!r}, expected 'missing sse2 ...'")
    if "CPU preflight" not in text or "the bench app cannot run here" not in text:
        problems.append("the console does not explain why the bench app did not start")
    if result.exit_code != 7:
        problems.append(f"exit code {result.exit_code}, expected 7 (preflight refusal)")
    return problems


def _starts_with_master(disk: Path, name: str, entry_path: Path | None = None) -> bool:
    catalogue = entry_path or ROOT / "images" / f"{name}.toml"
    if not catalogue.exists():
        return False
    entry = tomllib.loads(catalogue.read_text())
    first = entry["ranges"][0]
    with open(disk, "rb") as handle:
        handle.seek(first["start"])
        data = handle.read(first["end"] - first["start"])
    # The writer fixes the GPT backup header: the first range's tail may differ; its start
    # (protective MBR) may not.
    return hashlib.sha256(data).hexdigest() == first["sha256"] or data[:446] == _image_head(
        catalogue
    )


def _image_head(catalogue: Path) -> bytes:
    import zstandard

    entry = tomllib.loads(catalogue.read_text())
    with open(catalogue.parent / entry["source"], "rb") as handle:
        reader = zstandard.ZstdDecompressor().stream_reader(handle)
        return reader.read(446)


# ------------------------------------------------------------------ booting the ISO/USB image
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
SCREEN_START = "=== screen tty1 ==="
SCREEN_END = "=== end screen tty1 ==="


@dataclass
class BootResult:
    screens: list[str]
    serial_log: Path
    screenshot: Path | None
    seconds_to_screen: float | None
    timed_out: bool

    @property
    def last_screen(self) -> str:
        return self.screens[-1] if self.screens else ""


def screens_in(text: str) -> list[str]:
    """The tty1 screen copies the guest sent over the serial port (bench.screendump=1)."""
    found = []
    for part in text.split(SCREEN_START)[1:]:
        if SCREEN_END in part:
            found.append(part.split(SCREEN_END)[0].strip("\n"))
    return found


def qmp(sock_path: Path, *commands: dict[str, Any], strict: bool = False) -> list[Any]:
    """Run QMP ``commands`` in order on one connection: their ``return`` values (None for an
    error reply). ``strict`` raises RuntimeError with QEMU's own words on an error reply."""
    import socket

    answers: list[Any] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(sock_path))
        reader = sock.makefile("r")
        reader.readline()  # greeting
        for command in ({"execute": "qmp_capabilities"}, *commands):
            sock.sendall(json.dumps(command).encode() + b"\n")
            while True:
                reply = json.loads(reader.readline())
                if "error" in reply and strict:
                    raise RuntimeError(f"QMP {command['execute']}: {reply['error']}")
                if "return" in reply or "error" in reply:
                    answers.append(reply.get("return"))
                    break
    return answers[1:]


def boot_image(
    image: Path,
    workdir: Path,
    *,
    uefi: bool = False,
    expect_any: tuple[str, ...] = ("Who is at the bench", "Qui est au banc"),
    timeout_s: float = 300,
    params: tuple[str, ...] = ("bench.lang=en",),
) -> BootResult:
    """Boot the hybrid image as a USB stick (BIOS, or UEFI with OVMF) until tty1 shows ``expect``.

    Settings reach the guest as SMBIOS OEM strings (no boot-menu editing): the image is the
    one a workshop writes, unchanged; writes to it go to a throw-away overlay (snapshot=on).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    serial_log = workdir / "serial.log"
    serial_log.unlink(missing_ok=True)
    qmp_sock = workdir / "qmp.sock"
    qmp_sock.unlink(missing_ok=True)
    qemu = "qemu-system-x86_64" if uefi else "qemu-system-i386"
    cmd = [
        qemu, "-M", "q35" if uefi else "pc", "-accel", "tcg", "-smp", "1", "-m", "1024",
        "-cpu", "Nehalem" if uefi else "coreduo",
        "-nic", "none", "-display", "none", "-vga", "std", "-no-reboot", "-monitor", "none",
        "-serial", f"file:{serial_log}", "-qmp", f"unix:{qmp_sock},server=on,wait=off",
        "-drive", f"if=none,id=stick,file={image},format=raw,snapshot=on",
        "-device", "qemu-xhci", "-device", "usb-storage,drive=stick,bootindex=0",
    ]  # fmt: skip
    for param in ("bench.screendump=1", *params):
        cmd += ["-smbios", f"type=11,value={param}"]
    if uefi:
        vars_copy = workdir / "OVMF_VARS.fd"
        shutil.copy2(OVMF_VARS, vars_copy)
        cmd += [
            "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,file={vars_copy}",
        ]  # fmt: skip
    with QemuSession(cmd, workdir, serial_log, qmp_sock) as session:
        return session.wait_screen(expect_any, timeout_s)


class QemuSession:
    """A running QEMU machine whose tty1 is watched through the serial screen copies."""

    def __init__(self, cmd: list[str], workdir: Path, serial_log: Path, qmp_sock: Path) -> None:
        self.cmd = cmd
        self.workdir = workdir
        self.serial_log = serial_log
        self.qmp_sock = qmp_sock
        self.start = time.monotonic()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> QemuSession:
        (self.workdir / "qemu-command.txt").write_text(" ".join(self.cmd) + "\n")
        self.err = open(self.workdir / "qemu-stderr.log", "wb")
        self.process = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=self.err)
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.err.close()

    def text(self) -> str:
        return self.serial_log.read_text(errors="replace") if self.serial_log.exists() else ""

    def wait_screen(self, expect_any: tuple[str, ...], timeout_s: float) -> BootResult:
        """Until the last screen copy shows one of ``expect_any``; then a PNG screenshot."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        screenshot: Path | None = None
        seen: float | None = None
        timed_out = False
        while True:
            time.sleep(2)
            screens = screens_in(self.text())
            if screens and any(e in screens[-1] for e in expect_any):
                seen = time.monotonic() - self.start
                screenshot = self.workdir / f"tty1-{int(seen)}s.png"
                try:
                    qmp(
                        self.qmp_sock,
                        {
                            "execute": "screendump",
                            "arguments": {"filename": str(screenshot), "format": "png"},
                        },
                    )
                except (OSError, ValueError):
                    screenshot = None
                break
            if self.process.poll() is not None:
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
        return BootResult(screens_in(self.text()), self.serial_log, screenshot, seen, timed_out)

    def keys(self, *names: str) -> None:
        """Press keys on the machine's keyboard (QEMU key codes: "w", "y", "ret"...)."""
        for name in names:
            qmp(
                self.qmp_sock,
                {"execute": "send-key", "arguments": {"keys": [{"type": "qcode", "data": name}]}},
            )
            time.sleep(0.5)


def start_app_mode(machine: Machine, workdir: Path, live: Path, params: str = "") -> QemuSession:
    """Boot a machine from the PXE files in the operator's mode (the bench app on tty1)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    io_dir = workdir / "io"
    io_dir.mkdir(parents=True)
    disks = []
    for index, drive in enumerate(machine.drives):
        path = workdir / f"disk{index}-{drive.bus}.img"
        prepare_disk(path, drive, f"{machine.name}{index}")
        disks.append(path)
    serial_log = workdir / "serial.log"
    qmp_sock = workdir / "qmp.sock"
    append = (
        "console=ttyS0,115200 quiet bench.root=9p:live bench.io=9p:benchio bench.net=0 "
        f"bench.screendump=1 bench.lang=en {params}"
    ).strip()
    cmd = qemu_command(machine, live / "pxe", io_dir, disks, serial_log, append, qmp_sock)
    return QemuSession(cmd, workdir, serial_log, qmp_sock)


if __name__ == "__main__":
    # QEMU's guestfwd cmd: runs "vbench.py relay HOST PORT" for each guest connection.
    if len(sys.argv) == 4 and sys.argv[1] == "relay":
        sys.exit(relay(sys.argv[2], int(sys.argv[3])))
    sys.exit("usage: vbench.py relay HOST PORT")
