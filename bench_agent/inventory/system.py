"""System identity (DMI), memory (meminfo + DMI modules) and a stable machine id."""

from __future__ import annotations

import hashlib
import re

from bench_agent.models.inventory import Memory, MemoryModule, System

DMI_DIR = "sys/class/dmi/id"
DMI_FIELDS = {
    "sys_vendor": "vendor",
    "product_name": "product",
    "product_version": "version",
    "product_serial": "serial",
    "product_uuid": "uuid",
    "chassis_asset_tag": "asset_tag",
    "board_vendor": "board_vendor",
    "board_name": "board_product",
    "bios_vendor": "bios_vendor",
    "bios_version": "bios_version",
    "bios_date": "bios_date",
}
# Only these are read (and saved); the rest of the DMI folder adds nothing to grading.
DMI_FILES = (*DMI_FIELDS, "chassis_type", "chassis_vendor", "board_serial")

# SMBIOS chassis types (DMTF DSP0134, table 17), the ones a workshop meets.
CHASSIS_TYPES = {
    1: "other",
    2: "unknown",
    3: "desktop",
    4: "low-profile desktop",
    5: "pizza box",
    6: "mini tower",
    7: "tower",
    8: "portable",
    9: "laptop",
    10: "notebook",
    11: "hand held",
    12: "docking station",
    13: "all in one",
    14: "sub notebook",
    15: "space-saving",
    16: "lunch box",
    17: "main server chassis",
    30: "tablet",
    31: "convertible",
    32: "detachable",
    35: "mini pc",
    36: "stick pc",
}

_JUNK = re.compile(
    r"^(|0+|none|n/?a|null|unknown|not applicable|not specified|not available|"
    r"to be filled by o\.?e\.?m\.?|system serial number|system product name|"
    r"system manufacturer|default string|oem|o\.e\.m\.|chassis serial number|"
    r"base board serial number|serial number|123456789|0123456789|xxxxxxxx+|"
    r"invalid|empty|\.+|-+|\*+|fffffff+)$",
    re.IGNORECASE,
)
_JUNK_UUIDS = {
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",  # the classic AMI placeholder
    "00020003-0004-0005-0006-000700080009",
}


def is_junk_identifier(value: str) -> bool:
    """True for serials/UUIDs a vendor never filled ("To be filled by O.E.M.", zeros...)."""
    text = value.strip()
    if _JUNK.match(text):
        return True
    lowered = text.lower()
    if lowered in _JUNK_UUIDS:
        return True
    stripped = re.sub(r"[-\s:]", "", lowered)
    return bool(stripped) and len(set(stripped)) == 1 and stripped[0] in "0f"


def parse_dmi(values: dict[str, str]) -> System:
    system = System()
    for filename, field in DMI_FIELDS.items():
        setattr(system, field, values.get(filename, "").strip())
    chassis = values.get("chassis_type", "").strip()
    if chassis.isdigit():
        system.chassis = CHASSIS_TYPES.get(int(chassis), f"type {chassis}")
    else:
        system.chassis = chassis
    return system


def machine_id(
    system: System,
    board_serial: str = "",
    macs: list[str] | None = None,
    disk_serials: list[str] | None = None,
) -> str:
    """A stable identity: the DMI serial when real, else the UUID, else a hardware digest.

    The digest prefers what stays with the machine through the bench: the board's serial, then
    the MAC addresses of the built-in network interfaces; disk serials only as a last resort
    (disks are the part most often replaced). The prefix says which source was used (``sn-``,
    ``uuid-``, ``board-``, ``mac-``, ``disk-``, ``hw-``); the rest is a digest so the id has
    the same shape whatever it came from.
    """

    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]

    vendor = system.vendor.strip().lower()
    product = system.product.strip().lower()
    if system.serial and not is_junk_identifier(system.serial):
        return "sn-" + digest(f"{vendor}|{product}|{system.serial.strip()}")
    if system.uuid and not is_junk_identifier(system.uuid):
        return "uuid-" + digest(system.uuid.strip().lower())
    if board_serial and not is_junk_identifier(board_serial):
        return "board-" + digest(f"{vendor}|{product}|{board_serial.strip()}")
    good_macs = sorted({m.lower() for m in (macs or []) if m and not is_junk_identifier(m)})
    if good_macs:
        return "mac-" + digest("|".join([vendor, product, *good_macs]))
    serials = sorted({s for s in (disk_serials or []) if s and not is_junk_identifier(s)})
    if serials:
        return "disk-" + digest("|".join([vendor, product, *serials]))
    return "hw-" + digest(f"{vendor}|{product}")


def parse_meminfo(text: str) -> int | None:
    """``MemTotal`` in bytes."""
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def _size_bytes(text: str) -> int:
    match = re.match(r"\s*(\d+)\s*(bytes|kB|KB|MB|GB|TB)", text)
    if not match:
        return 0
    factor = {
        "bytes": 1,
        "kB": 1 << 10,
        "KB": 1 << 10,
        "MB": 1 << 20,
        "GB": 1 << 30,
        "TB": 1 << 40,
    }[match.group(2)]
    return int(match.group(1)) * factor


def _dmi_fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in block.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key not in fields:
            fields[key] = value.strip()
    return fields


def parse_dmidecode_max_capacity(text: str) -> int | None:
    """The boards' "Maximum Capacity" (sum of the system memory arrays, ``dmidecode -t 16``)."""
    total = 0
    for block in re.split(r"\n\s*\n", text):
        if "Physical Memory Array" not in block:
            continue
        fields = _dmi_fields(block)
        if fields.get("Use", "System Memory") != "System Memory":
            continue
        total += _size_bytes(fields.get("Maximum Capacity", ""))
    return total or None


def _known(value: str) -> str:
    return "" if value in ("", "Unknown", "Other", "Not Specified") else value


def parse_dmidecode_memory(text: str) -> tuple[list[MemoryModule], int | None]:
    """Installed modules and slot count from ``dmidecode -t 17`` text."""
    modules: list[MemoryModule] = []
    slots = 0
    for block in re.split(r"\n\s*\n", text):
        if "Memory Device" not in block:
            continue
        fields = _dmi_fields(block)
        slots += 1
        size = _size_bytes(fields.get("Size", ""))
        if size <= 0:
            continue
        speed_match = re.match(
            r"(\d+)", fields.get("Configured Memory Speed", "") or fields.get("Speed", "")
        )
        manufacturer = fields.get("Manufacturer", "")
        serial = fields.get("Serial Number", "")
        modules.append(
            MemoryModule(
                locator=fields.get("Locator", ""),
                size_bytes=size,
                type=fields.get("Type", ""),
                speed_mts=int(speed_match.group(1)) if speed_match else None,
                form_factor=_known(fields.get("Form Factor", "")),
                manufacturer="" if is_junk_identifier(manufacturer) else manufacturer,
                serial="" if is_junk_identifier(serial) else serial,
            )
        )
    return modules, (slots or None)


def build_memory(meminfo: str | None, dmidecode: str | None) -> Memory:
    memory = Memory()
    total = parse_meminfo(meminfo) if meminfo else None
    if total is not None:
        memory.total_bytes = total
        memory.usable_bytes = total
    if dmidecode:
        memory.modules, memory.slots = parse_dmidecode_memory(dmidecode)
        memory.max_capacity_bytes = parse_dmidecode_max_capacity(dmidecode)
        if memory.modules:
            memory.installed_bytes = sum(m.size_bytes for m in memory.modules)
    return memory
