"""Parsers for the device sources: udev database entries, the kernel's CD-ROM table,
ALSA's card list and network sysfs bits. Pure functions over text."""

from __future__ import annotations

import re

from bench_agent.devices.guard import is_floppy
from bench_agent.devices.lsblk import BlockDevice
from bench_agent.models.inventory import OpticalDrive, SoundCard

# Where the live bench mounts its own medium (ISO/stick), settings partition and squashfs root.
LIVE_MOUNTS = ("/run/live", "/run/bench-live")
# The smallest real floppy format (5¼" 360 kB); an empty drive reports a few kB or nothing.
FLOPPY_MIN_BYTES = 360 * 1024


def parse_udev_db(text: str) -> dict[str, str]:
    """Properties of a udev database entry (``/run/udev/data/b8:0``: ``E:KEY=VALUE`` lines),
    or of ``udevadm info --query=property`` / ``cdrom_id`` output (``KEY=VALUE`` lines)."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("E:"):
            line = line[2:]
        elif line[:2] in {"S:", "L:", "I:", "G:", "Q:", "V:", "W:", "N:", "M:"}:
            continue
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z0-9_]+", key):
            props[key] = value
    return props


def parse_cdrom_info(text: str) -> dict[str, dict[str, str]]:
    """``/proc/sys/dev/cdrom/info``: one column per drive → {drive: {capability: value}}."""
    rows: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and "\t" in line:
            rows.append((key.strip(), value.split()))
    names: list[str] = []
    for key, values in rows:
        if key.lower() == "drive name":
            names = values
    table: dict[str, dict[str, str]] = {name: {} for name in names}
    for key, values in rows:
        for name, value in zip(names, values, strict=False):
            table[name][key.lower()] = value
    return table


def optical_from_udev(name: str, props: dict[str, str]) -> OpticalDrive:
    def has(*keys: str) -> bool:
        return any(props.get(k) == "1" for k in keys)

    return OpticalDrive(
        name=name,
        model=props.get("ID_MODEL", "").replace("_", " ").strip(),
        vendor=props.get("ID_VENDOR", "").replace("_", " ").strip(),
        can_read_cd=has("ID_CDROM", "ID_CDROM_CD"),
        can_write_cd=has("ID_CDROM_CD_R", "ID_CDROM_CD_RW"),
        can_read_dvd=has("ID_CDROM_DVD"),
        can_write_dvd=has(
            "ID_CDROM_DVD_R",
            "ID_CDROM_DVD_RW",
            "ID_CDROM_DVD_PLUS_R",
            "ID_CDROM_DVD_PLUS_RW",
            "ID_CDROM_DVD_RAM",
        ),
        can_read_bd=has("ID_CDROM_BD"),
        can_write_bd=has("ID_CDROM_BD_R", "ID_CDROM_BD_RE"),
        media_present=has("ID_CDROM_MEDIA"),
        bus=props.get("ID_BUS", ""),
    )


def optical_from_cdrom_info(name: str, caps: dict[str, str]) -> OpticalDrive:
    def yes(key: str) -> bool:
        return caps.get(key, "0") == "1"

    return OpticalDrive(
        name=name,
        can_read_cd=True,
        can_write_cd=yes("can write cd-r") or yes("can write cd-rw"),
        can_read_dvd=yes("can read dvd"),
        can_write_dvd=yes("can write dvd-r") or yes("can write dvd-ram"),
    )


def parse_asound_cards(text: str) -> list[SoundCard]:
    """``/proc/asound/cards``: `` 0 [I82801DBICH4   ]: ICH4 - Intel 82801DB-ICH4``."""
    cards: list[SoundCard] = []
    pattern = re.compile(r"^\s*(\d+)\s+\[([^\]]*)\]:\s*(.*?)\s+-\s+(.*)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            number, card_id, driver, name = match.groups()
            cards.append(
                SoundCard(
                    card=int(number), id=card_id.strip(), driver=driver.strip(), name=name.strip()
                )
            )
    return cards


def parse_mount_types(text: str) -> dict[str, str]:
    """``/proc/mounts``: mounted device name (``loop0``) → filesystem type."""
    types: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0].startswith("/dev/"):
            types[fields[0].removeprefix("/dev/")] = fields[2]
    return types


def live_system_device(
    dev: BlockDevice, *, live_image: bool, mount_types: dict[str, str] | None = None
) -> str:
    """Why ``dev`` belongs to the bench itself rather than the donated machine ("" if it does
    not): the loop device under a mounted squashfs root, the live medium and its settings
    partition, an empty floppy drive, and on the live image its loop/zram/RAM devices.
    ``mount_types`` comes from /proc/mounts (lsblk leaves FSTYPE empty without udev)."""
    name = dev.kernel_name
    mounts = dev.all_mountpoints()
    types = mount_types or {}
    fstypes = {d.fstype or types.get(d.kernel_name, "") for d in dev.walk()}
    if dev.type == "loop" and mounts and "squashfs" in fstypes:
        return "squashfs root"
    if live_image and any(
        mount == top or mount.startswith(top + "/") for mount in mounts for top in LIVE_MOUNTS
    ):
        return "live medium"
    if is_floppy(name) and dev.size < FLOPPY_MIN_BYTES:
        return "empty floppy drive"
    if live_image and (dev.type == "loop" or re.match(r"(zram|ram)\d+$", name)):
        return "live system"
    return ""
