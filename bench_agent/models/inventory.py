"""What the bench found in a machine: CPU, memory, identity, disks + SMART, optical, sound, net."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal, cast

from pydantic import Field

from bench_agent.devices.lsblk import BlockDevice, bus_of, media_description
from bench_agent.models.base import SCHEMA_VERSION, Model

Transport = Literal["ata", "sata", "usb", "nvme", "scsi", "virtio", "mmc", "loop", "unknown"]
Health = Literal["pass", "warn", "fail", "unknown"]


class Cpu(Model):
    vendor: str = ""
    model: str = ""
    family: int | None = None
    model_number: int | None = None
    stepping: int | None = None
    mhz: float | None = None
    physical_cores: int | None = None
    logical_cpus: int = 1
    sockets: int | None = None
    flags: list[str] = Field(default_factory=list)
    is_64bit: bool = False
    has_pae: bool = False
    has_sse2: bool = False
    arch: str = ""  # kernel architecture seen (i686, x86_64)


class MemoryModule(Model):
    locator: str = ""
    size_bytes: int = 0
    type: str = ""  # DDR, DDR2, SDRAM...
    speed_mts: int | None = None
    form_factor: str = ""  # DIMM, SODIMM... (DMI), "" when DMI does not say
    manufacturer: str = ""
    serial: str = ""


class Memory(Model):
    total_bytes: int = 0  # what the kernel sees (MemTotal, as psutil reports it)
    usable_bytes: int | None = None
    installed_bytes: int | None = None  # sum of the DMI modules, when DMI is readable
    modules: list[MemoryModule] = Field(default_factory=list)
    slots: int | None = None
    # The board's "Maximum Capacity" (DMI type 16), when the bench read it.
    max_capacity_bytes: int | None = None


class System(Model):
    vendor: str = ""
    product: str = ""
    version: str = ""
    serial: str = ""
    uuid: str = ""
    chassis: str = ""
    asset_tag: str = ""
    board_vendor: str = ""
    board_product: str = ""
    bios_vendor: str = ""
    bios_version: str = ""
    bios_date: str = ""
    # Stable identity even when the serial is missing or junk ("To be filled by O.E.M.").
    machine_id: str = ""


class SmartAttribute(Model):
    id: int
    name: str
    value: int | None = None
    worst: int | None = None
    thresh: int | None = None
    when_failed: str = ""
    raw: str = ""
    raw_value: int | None = None


class Smart(Model):
    available: bool = False
    reason: str = ""  # why not available
    device_type: Literal["ata", "nvme", "scsi", "unknown"] = "unknown"
    overall: Literal["PASSED", "FAILED"] | None = None
    reallocated_sectors: int | None = None
    pending_sectors: int | None = None
    offline_uncorrectable: int | None = None
    reported_uncorrect: int | None = None
    power_on_hours: int | None = None
    temperature_c: int | None = None
    nvme_critical_warning: int | None = None
    nvme_media_errors: int | None = None
    nvme_percentage_used: int | None = None
    attributes: list[SmartAttribute] = Field(default_factory=list)
    self_test: str = ""  # last self-test result, if any
    # Drive's own recommended polling times (minutes), read from the SMART capabilities.
    short_test_minutes: int | None = None
    extended_test_minutes: int | None = None
    nvme_available_spare: int | None = None
    nvme_spare_threshold: int | None = None


class Disk(Model):
    name: str  # kernel name: sda, nvme0n1, loop3
    path: str = ""
    model: str = ""
    vendor: str = ""
    serial: str = ""
    firmware: str = ""
    wwn: str = ""
    size_bytes: int = 0
    logical_sector_size: int = 512
    physical_sector_size: int = 512
    rotational: bool | None = None
    transport: Transport = "unknown"
    removable: bool = False
    read_only: bool = False
    smart: Smart = Field(default_factory=Smart)
    health: Health = "unknown"
    health_reasons: list[str] = Field(default_factory=list)  # in English
    # Same reasons in every language, for records read later ({"en": [...], "fr": [...]}).
    health_reasons_i18n: dict[str, list[str]] = Field(default_factory=dict)
    kind: str = "disk"  # lsblk TYPE: disk, loop, rom..., or "floppy"
    bridge: str = ""  # USB/SATA bridge model when the drive sits behind one
    mountpoints: list[str] = Field(default_factory=list)

    @classmethod
    def from_block(cls, dev: BlockDevice, udev: Mapping[str, str] | None = None) -> Disk:
        """The disk as the guard's lsblk view shows it: the one conversion of a ``BlockDevice``
        (the inventory's and the wipe plan's alike); udev's properties fill what lsblk lacks."""
        from bench_agent.devices.guard import is_floppy

        props = udev or {}
        name = dev.kernel_name
        rotational = dev.rota
        if "ID_ATA_ROTATION_RATE_RPM" in props:
            rotational = props["ID_ATA_ROTATION_RATE_RPM"] != "0"
        bus = bus_of(dev.tran or props.get("ID_BUS", ""), name, dev.type, dev.subsystems)
        return cls(
            name=name,
            path=dev.path or f"/dev/{name}",
            model=dev.model or props.get("ID_MODEL", "").replace("_", " "),
            vendor=dev.vendor,
            serial=dev.serial or props.get("ID_SERIAL_SHORT", ""),
            firmware=dev.rev or props.get("ID_REVISION", ""),
            wwn=dev.wwn,
            size_bytes=dev.size,
            logical_sector_size=dev.log_sec,
            physical_sector_size=dev.phy_sec,
            rotational=None if dev.type == "loop" else rotational,
            transport=cast(Transport, bus),
            # Not HOTPLUG: AHCI boards flag internal SATA ports as hot-pluggable.
            removable=dev.rm,
            read_only=dev.ro,
            # Floppy drives are listed as disks by lsblk; they are never the PC's disk.
            kind="floppy" if is_floppy(name) else dev.type,
            mountpoints=sorted(set(dev.all_mountpoints())),
        )

    @property
    def media_type(self) -> str:
        """What a wipe certificate states about this disk's media."""
        return media_description(self.kind, self.transport, self.name, self.rotational)


class OpticalDrive(Model):
    name: str
    model: str = ""
    vendor: str = ""
    can_read_cd: bool = False
    can_write_cd: bool = False
    can_read_dvd: bool = False
    can_write_dvd: bool = False
    can_read_bd: bool = False
    can_write_bd: bool = False
    media_present: bool = False
    bus: str = ""  # ata, usb, scsi...


class SoundCard(Model):
    card: int
    id: str = ""
    name: str = ""
    driver: str = ""
    bus: str = ""


class NetworkInterface(Model):
    name: str
    mac: str = ""
    driver: str = ""
    link: bool | None = None
    speed_mbps: int | None = None
    wireless: bool = False
    bus: str = ""  # pci, usb, virtio...


class Inventory(Model):
    schema_version: int = SCHEMA_VERSION
    collected_at: datetime | None = None
    source: Literal["live", "evidence"] = "live"
    cpu: Cpu = Field(default_factory=Cpu)
    memory: Memory = Field(default_factory=Memory)
    system: System = Field(default_factory=System)
    disks: list[Disk] = Field(default_factory=list)
    optical: list[OpticalDrive] = Field(default_factory=list)
    sound: list[SoundCard] = Field(default_factory=list)
    network: list[NetworkInterface] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)  # what a probe could not read, and why
