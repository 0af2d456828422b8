"""Block-device facts from ``lsblk -J -b -O``: one parser shared by the inventory and the guard.

lsblk's JSON differs between util-linux versions (booleans as ``true`` or ``"1"``, sizes as
numbers or strings, ``mountpoint`` vs ``mountpoints``); this module accepts all of them so a
recorded ``lsblk.json`` from any machine replays.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench_agent.errors import InputError, ToolMissing
from bench_agent.i18n import _

LSBLK_ARGS = ["lsblk", "-J", "-b", "-O"]


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def _as_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _as_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


_BOOL_FIELDS = ("rota", "rm", "hotplug", "ro")
_TEXT_FIELDS = (
    "name",
    "kname",
    "path",
    "type",
    "model",
    "vendor",
    "serial",
    "rev",
    "wwn",
    "tran",
    "fstype",
    "pttype",
    "pkname",
    "subsystems",
)


# lsblk's TRAN as the inventory states it (``models.inventory.Transport``).
_BUSES = {
    "sata": "sata",
    "ata": "ata",
    "usb": "usb",
    "nvme": "nvme",
    "sas": "scsi",
    "spi": "scsi",
    "fc": "scsi",
    "iscsi": "scsi",
    "mmc": "mmc",
    "virtio": "virtio",
}


def bus_of(tran: str, name: str, kind: str, subsystems: str = "") -> str:
    """The transport of a block device (one of ``models.inventory.Transport``), from lsblk's
    TRAN, else its subsystems or its kernel name."""
    tran = tran.lower()
    if kind == "loop" or name.startswith("loop"):
        return "loop"
    if not tran and "usb" in subsystems.split(":"):
        tran = "usb"
    if tran in _BUSES:
        return _BUSES[tran]
    for prefix, bus in (("vd", "virtio"), ("xvd", "virtio"), ("nvme", "nvme"), ("mmcblk", "mmc")):
        if name.startswith(prefix):
            return bus
    return "ata" if name.startswith("hd") else "unknown"


def media_description(kind: str, bus: str, name: str, rotational: bool | None) -> str:
    """The media type a wipe certificate states (NIST SP 800-88 §4.8)."""
    if kind == "loop":
        return "virtual disk (loop device)"
    usb = "USB " if bus == "usb" else ""
    if bus == "nvme" or name.startswith("nvme"):
        return usb + "NVMe flash (SSD)"
    return usb + ("magnetic (HDD)" if rotational else "flash (SSD)")


def disk_vendor(vendor: str) -> str:
    """The manufacturer a certificate states: SATA disks all say "ATA" in lsblk's VENDOR, which
    is the transport, not the manufacturer."""
    return "" if vendor.strip().upper() == "ATA" else vendor


@dataclass
class BlockDevice:
    """One node of the lsblk tree (disk, part, lvm, crypt, loop, rom, raid...).

    A plain dataclass (no pydantic): the wipe-only path of CPUs without SSE2 runs the guard,
    hence this parser, with the standard library only.
    """

    name: str
    kname: str = ""
    path: str = ""
    type: str = ""
    size: int = 0
    model: str = ""
    vendor: str = ""
    serial: str = ""
    rev: str = ""
    wwn: str = ""
    tran: str = ""
    rota: bool = False
    rm: bool = False
    hotplug: bool = False
    ro: bool = False
    log_sec: int = 512
    phy_sec: int = 512
    fstype: str = ""
    pttype: str = ""
    pkname: str = ""
    subsystems: str = ""
    mountpoints: list[str] = field(default_factory=list)
    children: list[BlockDevice] = field(default_factory=list)

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> BlockDevice:
        """Build from a normalised lsblk node; unknown keys are ignored, values coerced."""
        if not isinstance(node, dict) or "name" not in node:
            raise TypeError(f"an lsblk node needs a name: {node!r:.80}")
        values: dict[str, Any] = {}
        for key in _TEXT_FIELDS:
            if key in node:
                values[key] = _as_text(node[key])
        for key in _BOOL_FIELDS:
            if key in node:
                values[key] = _as_bool(node[key])
        if "size" in node:
            values["size"] = _as_int(node["size"]) or 0
        for key in ("log_sec", "phy_sec"):
            if key in node:
                values[key] = _as_int(node[key]) or 512
        values["mountpoints"] = [str(m) for m in node.get("mountpoints") or []]
        values["children"] = [cls.from_node(child) for child in node.get("children") or []]
        return cls(**values)

    @property
    def kernel_name(self) -> str:
        return self.kname or self.name

    @property
    def bus(self) -> str:
        return bus_of(self.tran, self.kernel_name, self.type, self.subsystems)

    @property
    def media_type(self) -> str:
        return media_description(self.type, self.bus, self.kernel_name, self.rota)

    def walk(self) -> Iterator[BlockDevice]:
        """This device and every device stacked on it (partitions, dm, md...)."""
        yield self
        for child in self.children:
            yield from child.walk()

    def all_mountpoints(self) -> list[str]:
        return [m for dev in self.walk() for m in dev.mountpoints]


def _normalise(node: dict[str, Any]) -> dict[str, Any]:
    out = {
        key.replace("-", "_").replace("%", "pct").replace(":", "_"): value
        for key, value in node.items()
    }
    mounts = out.get("mountpoints")
    if not isinstance(mounts, list):
        single = out.get("mountpoint")
        mounts = [single] if single else []
    out["mountpoints"] = [str(m) for m in mounts if m]
    out["children"] = [_normalise(child) for child in out.get("children") or []]
    return out


def parse_lsblk(text: str, source: str = "lsblk") -> list[BlockDevice]:
    """Parse ``lsblk -J -b -O`` output; ``source`` names the file in error messages."""
    try:
        data = json.loads(text)
        nodes = data["blockdevices"]
        return [BlockDevice.from_node(_normalise(node)) for node in nodes]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            _("{source} is not valid 'lsblk -J -b -O' output: {error}", source=source, error=exc),
            _("Record it again with: lsblk -J -b -O > lsblk.json"),
        ) from exc


def run_lsblk_text(*devices: str) -> str:
    """Raw JSON text of lsblk for the given devices (all when none), for evidence bundles."""
    if shutil.which("lsblk") is None:
        raise ToolMissing(
            _("The 'lsblk' tool is missing."), _("Install util-linux (scripts/setup does).")
        )
    result = subprocess.run([*LSBLK_ARGS, *devices], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InputError(
            _("lsblk failed: {error}", error=result.stderr.strip()),
            _("Check that the device exists: lsblk -d"),
        )
    return result.stdout


def run_lsblk(*devices: str) -> list[BlockDevice]:
    return parse_lsblk(run_lsblk_text(*devices))


def find_device(tree: list[BlockDevice], name: str) -> BlockDevice | None:
    """Find a node by kernel name or path anywhere in the tree."""
    wanted = name.removeprefix("/dev/")
    for top in tree:
        for dev in top.walk():
            if wanted in {dev.kernel_name, dev.name} or name == dev.path:
                return dev
    return None
