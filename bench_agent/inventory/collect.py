"""Build an :class:`Inventory` from a :class:`Source`: the live machine or an evidence bundle.

Every probe tolerates a missing or odd source and records a warning instead of raising, so a
machine with a dead DMI table, no udevd or a hanging USB bridge still gets an inventory.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from bench_agent import __version__
from bench_agent.i18n import N_
from bench_agent.inventory.cpu import merge_cpu, merge_cpuid, parse_cpuinfo, parse_lscpu
from bench_agent.inventory.devices import (
    live_system_device,
    optical_from_cdrom_info,
    optical_from_udev,
    parse_asound_cards,
    parse_cdrom_info,
    parse_mount_types,
    parse_udev_db,
)
from bench_agent.inventory.evidence import EvidenceSource, LiveSource, Source
from bench_agent.inventory.health import judge_disk
from bench_agent.inventory.probes import cpuid_facts, read_smart_with_pysmart, udev_entry
from bench_agent.inventory.smartctl import SmartctlResult, parse_smartctl
from bench_agent.inventory.system import (
    DMI_DIR,
    DMI_FILES,
    build_memory,
    is_junk_identifier,
    machine_id,
    parse_dmi,
)
from bench_agent.models.inventory import (
    Cpu,
    Disk,
    Inventory,
    Memory,
    NetworkInterface,
    OpticalDrive,
    Smart,
    SoundCard,
    System,
    Transport,
)

T = TypeVar("T")

META_FILE = "bench-agent/meta.json"
WARNINGS_FILE = "bench-agent/collection-warnings.txt"
# Devices that never carry SMART: no point spending a smartctl run on them.
_NO_SMART_PREFIXES = (
    "loop",
    "zram",
    "ram",
    "dm-",
    "md",
    "nbd",
    "vd",
    "xvd",
    "sr",
    "fd",
    "mtdblock",
    "ubiblock",
    "pmem",
)


def collect_cpu(source: Source) -> Cpu:
    cpuinfo_text = source.read("proc/cpuinfo")
    lscpu_text = source.read("lscpu.txt") if not source.live else None
    if source.live and cpuinfo_text is None:
        lscpu_text = source.command("lscpu.txt", ["lscpu"], timeout_s=10)
    arch_text = source.read("proc/sys/kernel/arch")
    if arch_text is None and lscpu_text is None:
        # Kernels before /proc/sys/kernel/arch: ask uname, and keep its answer as evidence.
        arch_text = source.value("uname/machine", lambda: os.uname().machine + "\n")
    cpuinfo = parse_cpuinfo(cpuinfo_text) if cpuinfo_text else None
    lscpu = parse_lscpu(lscpu_text) if lscpu_text else None
    if cpuinfo is None and lscpu is None:
        source.warn("no CPU information (neither proc/cpuinfo nor lscpu.txt)")
    cpu = merge_cpu(cpuinfo, lscpu, arch_text.strip() if arch_text else "")
    if cpuinfo is not None and (not cpu.vendor or not cpu.model):
        # Only then py-cpuinfo's CPUID probe (about 1.2 s): it is off the usual path.
        cpu = merge_cpuid(cpu, cpuid_facts(source))
    # cpuinfo's "cpu MHz" is the current speed: an idle Athlon 64 with Cool'n'Quiet shows
    # 1000 MHz. cpufreq's maximum is the speed the CPU is rated for (lscpu's "CPU max MHz").
    max_khz = source.read("sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if max_khz and max_khz.strip().isdigit() and int(max_khz) > 0:
        cpu.mhz = round(int(max_khz) / 1000.0, 1)
    return cpu


def _dmi_values(source: Source) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in DMI_FILES:
        text = source.read(f"{DMI_DIR}/{name}")
        if text is not None:
            values[name] = text.strip()
    return values


def _transport_from_smartctl(result: SmartctlResult) -> Transport:
    hints: dict[str, Transport] = {
        "ata": "ata",
        "sata": "sata",
        "usb": "usb",
        "nvme": "nvme",
        "scsi": "scsi",
    }
    if result.transport_hint in hints:
        return hints[result.transport_hint]
    if result.device_type == "ata" and result.ata_version:
        # PATA-era standards (ATA/ATAPI-1..6) predate SATA drives in practice.
        match = re.match(r"ATA/ATAPI-(\d)", result.ata_version)
        if match and int(match.group(1)) <= 6:
            return "ata"
    return "unknown"


def _smart_for(source: Source, disk: Disk, smart: bool) -> SmartctlResult | None:
    if not smart:
        return None
    rel = f"smartctl/{disk.name}.txt"
    argv = ["smartctl", "-x", f"/dev/{disk.name}"]
    first: SmartctlResult | None = None
    if source.live and disk.transport == "usb":
        # Most USB enclosures pass ATA commands through SAT; smartctl only guesses that for
        # bridges it knows, so ask for it first and fall back to its own guess. Either way the
        # bundle keeps the text the result came from.
        first = _parse_smart_text(
            source.command(rel, ["smartctl", "-x", "-d", "sat", f"/dev/{disk.name}"], timeout_s=30)
        )
        if first is not None and first.smart.available:
            return read_smart_with_pysmart(source, disk.name, first, "sat")
    second = _parse_smart_text(source.command(rel, argv, timeout_s=30))
    if second is None:
        return first
    # pySMART's Device reads what it knows best; our -x parse fills the rest (see probes).
    return read_smart_with_pysmart(source, disk.name, second, second.device_type)


def _parse_smart_text(text: str | None) -> SmartctlResult | None:
    return parse_smartctl(text) if text is not None else None


def _apply_smart(disk: Disk, result: SmartctlResult | None, reason: str = "") -> None:
    if result is None:
        disk.smart = Smart(available=False, reason=reason or N_("smartctl output not collected"))
    else:
        disk.smart = result.smart
        disk.firmware = disk.firmware or result.firmware
        if result.bridge:
            disk.bridge = result.bridge
        elif result.smart.available and result.model:
            # Behind a bridge lsblk shows the enclosure's name; smartctl sees the drive's.
            disk.model = result.model
        if result.serial and not is_junk_identifier(result.serial):
            disk.serial = result.serial
        if result.rotational is not None and disk.kind == "disk":
            # The drive's own IDENTIFY data ("Solid State Device", "7200 rpm") beats the
            # kernel's guess, which says "rotational" for most USB-attached SSDs.
            disk.rotational = result.rotational
        if not disk.size_bytes and result.capacity_bytes:
            disk.size_bytes = result.capacity_bytes
        if disk.transport == "unknown":
            disk.transport = _transport_from_smartctl(result)
    judge_disk(disk)  # with the default limits; the workflow judges with the profile's


def _udev_props(source: Source, majmin: str) -> dict[str, str]:
    if not majmin:
        return {}
    # pyudev (libudev) where udevd runs, recorded as udev's own database entry.
    text = udev_entry(source, f"run/udev/data/b{majmin}", "block", "")
    return parse_udev_db(text) if text else {}


def collect_block(source: Source, smart: bool) -> tuple[list[Disk], list[OpticalDrive]]:
    from bench_agent.devices.lsblk import parse_lsblk
    from bench_agent.errors import BenchError

    text = source.command("lsblk.json", ["lsblk", "-J", "-b", "-O"], timeout_s=20)
    disks: list[Disk] = []
    optical: list[OpticalDrive] = []
    cdrom_text = source.read("proc/sys/dev/cdrom/info")
    cdrom_table = parse_cdrom_info(cdrom_text) if cdrom_text else {}
    if text is not None:
        try:
            tree = parse_lsblk(text, "lsblk.json")
            raw_nodes = json.loads(text).get("blockdevices", [])
        except (BenchError, ValueError, AttributeError) as exc:
            source.warn(f"lsblk.json unreadable: {exc}")
            tree, raw_nodes = [], []
        majmins = {
            str(node.get("kname") or node.get("name")): str(node.get("maj:min") or "")
            for node in raw_nodes
            if isinstance(node, dict)
        }
        pending: list[tuple[Disk, str]] = []
        live_image = source.read("etc/bench-live-id") is not None
        mounts_text = source.read("proc/mounts")
        mount_types = parse_mount_types(mounts_text) if mounts_text else {}
        for dev in tree:
            name = dev.kernel_name
            props = _udev_props(source, majmins.get(name, ""))
            if dev.type == "rom":
                if "ID_CDROM" not in props:
                    props = _cdrom_id(source, name)
                drive = (
                    optical_from_udev(name, props)
                    if "ID_CDROM" in props
                    else _optical_fallback(source, name, cdrom_table)
                )
                drive.model = drive.model or dev.model
                drive.vendor = drive.vendor or dev.vendor
                drive.bus = drive.bus or dev.tran
                optical.append(drive)
                continue
            if dev.type not in ("disk", "loop"):
                continue
            # The live bench's own devices are never shown as the donated machine's disks.
            if live_system_device(dev, live_image=live_image, mount_types=mount_types):
                continue
            disk = Disk.from_block(dev, props)
            if is_junk_identifier(disk.serial):
                disk.serial = ""
            disks.append(disk)
            if name.startswith(_NO_SMART_PREFIXES) or dev.type == "loop":
                pending.append((disk, "virtual"))
            else:
                pending.append((disk, "probe"))
        to_probe = [d for d, what in pending if what == "probe"]
        # smartctl may wait on a slow USB bridge: probe the drives side by side.
        if to_probe:
            with ThreadPoolExecutor(max_workers=min(4, len(to_probe))) as pool:
                results = list(pool.map(lambda d: _smart_for(source, d, smart), to_probe))
            probed = dict(zip([d.name for d in to_probe], results, strict=True))
        else:
            probed = {}
        for disk, what in pending:
            if what == "virtual":
                _apply_smart(disk, None, N_("virtual or loop device: no SMART"))
            elif not smart:
                _apply_smart(disk, None, N_("SMART not read (--no-smart)"))
            else:
                _apply_smart(disk, probed.get(disk.name))
    else:
        # A bundle without lsblk.json: each smartctl/<name>.txt describes one disk.
        for filename in source.listdir("smartctl"):
            if not filename.endswith(".txt"):
                continue
            name = filename[: -len(".txt")]
            result = _parse_smart_text(source.read(f"smartctl/{filename}"))
            if result is None:
                continue
            disk = Disk(
                name=name,
                path=f"/dev/{name}",
                model=result.model,
                vendor=result.vendor,
                size_bytes=result.capacity_bytes or 0,
                logical_sector_size=result.logical_sector_size or 512,
                physical_sector_size=result.physical_sector_size or 512,
                rotational=result.rotational,
                kind="disk",
            )
            _apply_smart(disk, result)
            disks.append(disk)
        for name, caps in cdrom_table.items():
            optical.append(
                _optical_fallback(source, name, cdrom_table) if caps else OpticalDrive(name=name)
            )
    return disks, optical


def _cdrom_id(source: Source, name: str) -> dict[str, str]:
    """Without udevd: udev's own ``cdrom_id`` asks the drive for its profiles (DVD±RW...)."""
    rel = f"udev/cdrom_id/{name}.txt"
    if source.live:
        tool = next(
            (t for t in ("/usr/lib/udev/cdrom_id", "/lib/udev/cdrom_id") if Path(t).exists()), None
        )
        text = source.command(rel, [tool, f"/dev/{name}"], timeout_s=15) if tool else None
    else:
        text = source.read(rel)
    return parse_udev_db(text) if text else {}


def _optical_fallback(
    source: Source, name: str, cdrom_table: dict[str, dict[str, str]]
) -> OpticalDrive:
    """Without udevd: the kernel's own CD-ROM capability table, plus sysfs for the model."""
    if name in cdrom_table:
        drive = optical_from_cdrom_info(name, cdrom_table[name])
    else:
        source.warn(f"no capability data for optical drive {name}")
        drive = OpticalDrive(name=name, can_read_cd=True)
    vendor = source.read(f"sys/block/{name}/device/vendor")
    model = source.read(f"sys/block/{name}/device/model")
    drive.vendor = (vendor or "").strip()
    drive.model = (model or "").strip()
    return drive


def collect_sound(source: Source) -> list[SoundCard]:
    text = source.read("proc/asound/cards")
    for extra in ("proc/asound/version", "proc/asound/pcm", "proc/asound/devices"):
        source.read(extra)  # kept in the bundle for disputes; "device answers" reads pcm
    if not text:
        return []
    cards = parse_asound_cards(text)
    for card in cards:
        base = f"sys/class/sound/card{card.card}/device"
        driver = source.readlink(f"{base}/driver")
        bus = source.readlink(f"{base}/subsystem")
        if driver:
            card.driver = posixpath.basename(driver)
        if bus:
            card.bus = posixpath.basename(bus)
        sys_name = f"card{card.card}"
        udev = udev_entry(source, f"run/udev/data/+sound:{sys_name}", "sound", sys_name)
        props = parse_udev_db(udev) if udev else {}
        card.bus = card.bus or props.get("ID_BUS", "")
        model = props.get("ID_MODEL_FROM_DATABASE", "")
        if model and not card.name:
            card.name = model
    return cards


def collect_network(source: Source) -> list[NetworkInterface]:
    interfaces: list[NetworkInterface] = []
    for name in source.listdir("sys/class/net"):
        base = f"sys/class/net/{name}"
        device = source.readlink(f"{base}/device")
        if device is None:
            continue  # virtual interface (lo, bridges, tunnels): nothing to test at the bench
        address = (source.read(f"{base}/address") or "").strip()
        carrier = (source.read(f"{base}/carrier") or "").strip()
        speed = (source.read(f"{base}/speed") or "").strip()
        driver = source.readlink(f"{base}/device/driver")
        bus = source.readlink(f"{base}/device/subsystem")
        wireless = source.readlink(f"{base}/phy80211") is not None
        speed_value = int(speed) if speed.lstrip("-").isdigit() else None
        interfaces.append(
            NetworkInterface(
                name=name,
                mac=address,
                driver=posixpath.basename(driver) if driver else "",
                link=(carrier == "1") if carrier in ("0", "1") else None,
                speed_mbps=speed_value if speed_value and speed_value > 0 else None,
                wireless=wireless,
                bus=posixpath.basename(bus) if bus else "",
            )
        )
    return interfaces


def _dmidecode_memory(source: Source) -> str | None:
    if source.live and not Path("/sys/firmware/dmi").exists():
        return None
    return source.command(
        "dmidecode/memory.txt", ["dmidecode", "-t", "16", "-t", "17"], timeout_s=10
    )


def build_inventory(source: Source, *, smart: bool = True) -> Inventory:
    """Read every probe from ``source`` and assemble the inventory (never raises)."""
    inventory = Inventory(source="live" if source.live else "evidence")
    probe_warnings: list[str] = []

    def attempt(what: str, probe: Callable[[], T], fallback: T) -> T:
        try:
            return probe()
        except Exception as exc:  # a probe must never take the inventory down
            probe_warnings.append(f"{what}: {type(exc).__name__}: {exc}")
            return fallback

    inventory.cpu = attempt("cpu", lambda: collect_cpu(source), Cpu())
    meminfo = source.read("proc/meminfo")
    if meminfo is None:
        source.warn("proc/meminfo missing: memory size unknown")
    dmidecode = attempt("memory modules", lambda: _dmidecode_memory(source), None)
    inventory.memory = attempt("memory", lambda: build_memory(meminfo, dmidecode), Memory())
    dmi = _dmi_values(source)
    if not dmi:
        source.warn("no DMI data (sys/class/dmi/id): system identity from hardware digest")
    elif "product_serial" not in dmi:
        source.warn(
            "sys/class/dmi/id/product_serial not readable (root only): "
            "identity from the UUID or a hardware digest"
        )
    inventory.system = attempt("identity", lambda: parse_dmi(dmi), System())
    no_block: tuple[list[Disk], list[OpticalDrive]] = ([], [])
    inventory.disks, inventory.optical = attempt(
        "block devices", lambda: collect_block(source, smart), no_block
    )
    no_sound: list[SoundCard] = []
    inventory.sound = attempt("sound", lambda: collect_sound(source), no_sound)
    no_network: list[NetworkInterface] = []
    inventory.network = attempt("network", lambda: collect_network(source), no_network)
    inventory.system.machine_id = machine_id(
        inventory.system,
        board_serial=dmi.get("board_serial", ""),
        # Built-in interfaces only: a USB dongle or a disk leaves with the next machine.
        macs=[n.mac for n in inventory.network if n.bus != "usb"],
        disk_serials=[
            d.serial
            for d in inventory.disks
            if d.kind == "disk" and not d.removable and d.transport != "usb"
        ],
    )
    inventory.warnings = [*source.warnings, *probe_warnings]
    return inventory


def collect_inventory(
    evidence_dir: Path | None = None,
    save_evidence: Path | None = None,
    *,
    smart: bool = True,
) -> Inventory:
    """Inventory the live machine (``evidence_dir`` None) or replay a saved evidence bundle.

    ``save_evidence`` records every raw source read into that directory (live only), so
    ``collect_inventory(evidence_dir=that)`` later rebuilds the same inventory.
    """
    source: Source
    if evidence_dir is not None:
        source = EvidenceSource(Path(evidence_dir))
        recorded = source.read(WARNINGS_FILE)
        if recorded:
            source.warnings.extend(line for line in recorded.splitlines() if line.strip())
        meta_text = source.read(META_FILE)
        # A bundle recorded with --no-smart replays as such (not as "smartctl not collected").
        inventory = build_inventory(source, smart=smart and _recorded_smart(meta_text))
        inventory.collected_at = _collected_at(meta_text)
        return inventory
    live = LiveSource(save_to=Path(save_evidence) if save_evidence is not None else None)
    now = datetime.now(UTC).replace(microsecond=0)
    inventory = build_inventory(live, smart=smart)
    inventory.collected_at = now
    if save_evidence is not None:
        live.save_to = None  # the bundle's own bookkeeping is not evidence
        target = Path(save_evidence)
        try:
            (target / "bench-agent").mkdir(parents=True, exist_ok=True)
            (target / META_FILE).write_text(
                json.dumps(
                    {
                        "collected_at": now.isoformat(),
                        "tool": f"bench-agent {__version__}",
                        "smart": smart,
                    },
                    indent=2,
                )
                + "\n",
                encoding="utf-8",
            )
            (target / WARNINGS_FILE).write_text(
                "".join(w + "\n" for w in live.warnings), encoding="utf-8"
            )
        except OSError as exc:
            inventory.warnings.append(f"cannot write evidence bookkeeping: {exc}")
    return inventory


def _recorded_smart(meta_text: str | None) -> bool:
    if not meta_text:
        return True
    try:
        return json.loads(meta_text).get("smart", True) is not False
    except (ValueError, AttributeError):
        return True


def _collected_at(meta_text: str | None) -> datetime | None:
    if not meta_text:
        return None
    try:
        value = json.loads(meta_text).get("collected_at")
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except (ValueError, AttributeError):
        return None
