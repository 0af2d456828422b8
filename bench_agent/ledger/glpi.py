"""Export an asset's inventory in GLPI's inventory format, and the asset list as CSV.

Field names follow glpi-project/inventory_format (the JSON that GLPI's native inventory and
FusionInventory agents send), so municipal IT can import a refurbished machine as a Computer.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bench_agent import __version__
from bench_agent.models.inventory import Disk, Inventory, OpticalDrive

# The schema only accepts these architecture names.
_ARCH = re.compile(
    r"^(mips|mips64|alpha|sparc|sparc64|m68k|i\d86|x86_64|powerpc|powerpc64|arm.*|aarch64)$"
)

_VENDORS = {
    "GenuineIntel": "Intel",
    "AuthenticAMD": "AMD",
    "CentaurHauls": "VIA",
    "CyrixInstead": "Cyrix",
    "GenuineTMx86": "Transmeta",
}

_INTERFACES = {
    "ata": "IDE",
    "sata": "SATA",
    "usb": "USB",
    "nvme": "NVMe",
    "scsi": "SCSI",
    "virtio": "VIRTIO",
    "mmc": "MMC",
}

_CHASSIS = {
    "3": "Desktop",
    "4": "Low Profile Desktop",
    "6": "Mini Tower",
    "7": "Tower",
    "8": "Portable",
    "9": "Laptop",
    "10": "Notebook",
    "13": "All in One",
    "14": "Sub Notebook",
    "15": "Space-saving",
}


# Model-number prefixes of the drives that reach the bench, for disks whose vendor field is empty
# (ATA drives report only a model string).
_DISK_MAKERS = (
    ("ST", "Seagate"),
    ("WDC", "Western Digital"),
    ("WD", "Western Digital"),
    ("HDS", "Hitachi"),
    ("HDT", "Hitachi"),
    ("HTS", "Hitachi"),
    ("IC35", "IBM"),
    ("Maxtor", "Maxtor"),
    ("6Y", "Maxtor"),
    ("6L", "Maxtor"),
    ("6B", "Maxtor"),
    ("MHT", "Fujitsu"),
    ("MHV", "Fujitsu"),
    ("MK", "Toshiba"),
    ("HD", "Samsung"),
    ("HM", "Samsung"),
    ("SAMSUNG", "Samsung"),
    ("Samsung", "Samsung"),
    ("KINGSTON", "Kingston"),
    ("Crucial", "Crucial"),
    ("CT", "Crucial"),
    ("INTEL", "Intel"),
    ("SanDisk", "SanDisk"),
)


def disk_maker(vendor: str, model: str) -> str:
    """The disk's manufacturer: its vendor field, else guessed from a known model prefix."""
    if vendor.strip() and vendor.strip().upper() not in ("ATA", "USB"):
        return vendor.strip()
    for prefix, maker in _DISK_MAKERS:
        if model.startswith(prefix):
            return maker
    return ""


def _mb(size_bytes: int) -> int:
    """GLPI sizes are decimal megabytes for disks (a 256 GB SSD is 256060)."""
    return size_bytes // 1_000_000


def _mib(size_bytes: int) -> int:
    return size_bytes // (1024 * 1024)


def _bios_date(text: str) -> str:
    """DMI writes BIOS dates as MM/DD/YYYY; GLPI wants YYYY-MM-DD. Unknown stays empty."""
    text = text.strip()
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})", text)
    if match:
        month, day, year = match.groups()
        if len(year) == 2:
            year = ("19" if int(year) >= 70 else "20") + year
        return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text
    return ""


def _clean(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty values: GLPI treats a missing field as unknown, an empty one as a value."""
    return {k: v for k, v in entry.items() if v not in ("", None)}


def _cpus(inventory: Inventory) -> list[dict[str, Any]]:
    cpu = inventory.cpu
    if not cpu.model and not cpu.vendor:
        return []
    sockets = max(cpu.sockets or 1, 1)
    cores = cpu.physical_cores // sockets if cpu.physical_cores else None
    threads = None
    if cpu.physical_cores:
        threads = max(cpu.logical_cpus // cpu.physical_cores, 1)
    entry = _clean(
        {
            "name": cpu.model.strip(),
            "manufacturer": _VENDORS.get(cpu.vendor, cpu.vendor),
            "arch": cpu.arch if _ARCH.match(cpu.arch or "") else None,
            "speed": round(cpu.mhz) if cpu.mhz else None,
            "familynumber": str(cpu.family) if cpu.family is not None else None,
            "model": str(cpu.model_number) if cpu.model_number is not None else None,
            "stepping": cpu.stepping,
            "core": cores,
            "corecount": cores,
            "thread": threads,
            "description": (
                f"Family {cpu.family} Model {cpu.model_number} Stepping {cpu.stepping}"
                if cpu.family is not None
                else None
            ),
        }
    )
    return [dict(entry) for _ in range(sockets)]


def _memories(inventory: Inventory) -> list[dict[str, Any]]:
    result = []
    for index, module in enumerate(inventory.memory.modules):
        result.append(
            _clean(
                {
                    "caption": module.locator,
                    "description": "DIMM",
                    "capacity": _mib(module.size_bytes),
                    "type": module.type,
                    "speed": f"{module.speed_mts} MT/s" if module.speed_mts else None,
                    "manufacturer": module.manufacturer,
                    "serialnumber": module.serial,
                    "numslots": index + 1,
                }
            )
        )
    return result


def _disk(disk: Disk) -> dict[str, Any]:
    return _clean(
        {
            "name": disk.name,
            "type": "disk",
            "model": disk.model,
            "manufacturer": disk_maker(disk.vendor, disk.model),
            "serial": disk.serial,
            "firmware": disk.firmware,
            "wwn": disk.wwn,
            "disksize": _mb(disk.size_bytes),
            "interface": _INTERFACES.get(disk.transport),
            "description": (
                "SSD" if disk.rotational is False else "HDD" if disk.rotational else None
            ),
        }
    )


def _optical_description(drive: OpticalDrive) -> str:
    if drive.can_write_bd or drive.can_read_bd:
        return "BD-RW" if drive.can_write_bd else "BD-ROM"
    if drive.can_write_dvd:
        return "DVD-RW"
    if drive.can_read_dvd:
        return "CD-RW/DVD-ROM" if drive.can_write_cd else "DVD-ROM"
    return "CD-RW" if drive.can_write_cd else "CD-ROM"


def _optical(drive: OpticalDrive) -> dict[str, Any]:
    return _clean(
        {
            "name": drive.name,
            "type": "cd",
            "model": drive.model,
            "manufacturer": drive.vendor,
            "interface": _INTERFACES.get(drive.bus, drive.bus.upper() or None),
            "description": _optical_description(drive),
        }
    )


def _networks(inventory: Inventory) -> list[dict[str, Any]]:
    result = []
    for nic in inventory.network:
        status = None
        if nic.link is not None:
            status = "up" if nic.link else "down"
        result.append(
            _clean(
                {
                    "description": nic.name,
                    "mac": nic.mac.lower(),
                    "driver": nic.driver,
                    "type": "wifi" if nic.wireless else "ethernet",
                    "status": status,
                    "speed": str(nic.speed_mbps) if nic.speed_mbps else None,
                    "virtualdev": False,
                }
            )
        )
    return result


def _logdate(when: datetime | None) -> str:
    return (when or datetime.now()).strftime("%Y-%m-%d %H:%M:%S")


def to_glpi(
    inventory: Inventory,
    *,
    deviceid: str,
    asset_tag: str = "",
    name: str = "",
    tag: str = "",
) -> dict[str, Any]:
    """The GLPI inventory document (itemtype Computer) for one machine's inventory.

    ``deviceid`` identifies the machine to GLPI (use the ledger's asset id); ``asset_tag`` is the
    workshop's tag (written to ``bios.assettag`` and used as the computer's name by default);
    ``tag`` is GLPI's entity tag when the receiving GLPI dispatches by tag.
    """
    system = inventory.system
    bios = _clean(
        {
            "assettag": asset_tag or system.asset_tag,
            "bdate": _bios_date(system.bios_date),
            "bmanufacturer": system.bios_vendor,
            "bversion": system.bios_version,
            "mmanufacturer": system.board_vendor,
            "mmodel": system.board_product,
            "smanufacturer": system.vendor,
            "smodel": system.product,
            "ssn": system.serial,
        }
    )
    hardware = _clean(
        {
            "name": name or asset_tag or system.product or deviceid,
            "uuid": system.uuid,
            "memory": _mib(inventory.memory.total_bytes) if inventory.memory.total_bytes else None,
            "chassis_type": _CHASSIS.get(
                system.chassis, system.chassis[:1].upper() + system.chassis[1:]
            ),
            "vmsystem": "Physical",
        }
    )
    storages = [_disk(d) for d in inventory.disks if d.kind != "loop"]
    storages += [_optical(o) for o in inventory.optical]
    content: dict[str, Any] = {
        "versionclient": f"BenchAgent_v{__version__}",
        "accesslog": {"logdate": _logdate(inventory.collected_at)},
        "hardware": hardware,
        "bios": bios,
        "cpus": _cpus(inventory),
        "memories": _memories(inventory),
        "storages": storages,
        "sounds": [
            _clean(
                {
                    "name": card.name or card.id,
                    "caption": card.id,
                    "manufacturer": card.name,
                    "description": card.driver,
                }
            )
            for card in inventory.sound
        ],
        "networks": _networks(inventory),
    }
    content = {k: v for k, v in content.items() if v not in ({}, [])}
    document: dict[str, Any] = {
        "deviceid": deviceid,
        "action": "inventory",
        "itemtype": "Computer",
        "content": content,
    }
    if tag:
        document["tag"] = tag
    return document


# Columns of the asset CSV, in order. Values missing from a row are left empty.
ASSET_CSV_COLUMNS = (
    "asset_tag",
    "lot",
    "status",
    "serial",
    "vendor",
    "product",
    "cpu",
    "ram_mb",
    "disk_gb",
    "image",
    "received_at",
    "packed_at",
    "delivered_at",
    "beneficiary_category",
    "maintenance_end",
)


def assets_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """The asset list as CSV (UTF-8, comma separated, header line), one machine per line."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(ASSET_CSV_COLUMNS), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(row.get(k)) for k in ASSET_CSV_COLUMNS})
    return buffer.getvalue()


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text (never a formula)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    text = str(value)
    # A cell starting with = + - @ is a formula in spreadsheets: neutralise it.
    if text[:1] in ("=", "+", "-", "@") and not re.fullmatch(r"-?\d+(\.\d+)?", text):
        return "'" + text
    return text
