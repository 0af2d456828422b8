"""Parse the text of ``smartctl -a`` / ``smartctl -x``: identity, capacity and SMART health.

Text (not ``--json``) because old live images ship smartctl 5.x/6.x without JSON, and because
the text is what evidence bundles from real machines hold. The parser never raises: what it
cannot read stays ``None`` and is noted in ``SmartctlResult.notes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bench_agent.i18n import N_
from bench_agent.models.inventory import Smart, SmartAttribute

DeviceType = Literal["ata", "nvme", "scsi", "unknown"]

# Model strings that are the USB/SATA bridge's own name rather than the drive's.
_BRIDGE_MODELS = re.compile(
    r"^(ASMT\d|ASM\d{3,4}|JMS\d|JMicron|USB\d?\.\d|Generic[- ]|Mass[- ]Storage|"
    r"VLI|Realtek RTL9|Initio|INIC-|SABRENT|Sabrent|External USB|USB to ATA|TOSHIBA External)",
    re.IGNORECASE,
)
_JUNK_SERIALS = {"", "--", "-", "0", "none", "n/a", "unknown", "not specified", "default string"}

_INT_RE = re.compile(r"-?\d+")


class SmartctlResult(BaseModel):
    """Everything one smartctl text says about one drive."""

    model_config = ConfigDict(extra="forbid")

    device_type: DeviceType = "unknown"
    model: str = ""
    family: str = ""
    vendor: str = ""
    serial: str = ""
    firmware: str = ""
    capacity_bytes: int | None = None
    logical_sector_size: int | None = None
    physical_sector_size: int | None = None
    rotational: bool | None = None
    rotation_rpm: int | None = None
    form_factor: str = ""
    transport_hint: str = ""  # ata, sata, nvme, usb, scsi or "" when the text does not say
    bridge: str = ""  # bridge model when the reported model is a USB bridge's own
    ata_version: str = ""
    sata_version: str = ""
    smartctl_version: str = ""
    smart: Smart = Field(default_factory=Smart)
    notes: list[str] = Field(default_factory=list)


def parse_int(text: str) -> int | None:
    """An integer written with any thousands separator (``1,234``, ``1.234``, ``1 234``)."""
    cleaned = re.sub(r"[,\.\s'\u00a0\u202f]", "", text.strip())
    if not cleaned or not re.fullmatch(r"-?\d+", cleaned):
        return None
    try:
        return int(cleaned)
    except ValueError:
        return None


def parse_raw_value(raw: str) -> int | None:
    """The leading integer of a SMART raw value as smartctl prints it.

    Handles ``16 (Min/Max 11/35)``, ``36 (0 19 0 0 0)``, ``0/1234``, ``12345h+06m``,
    ``12759h+21m+24s``, ``55166h+45m+41.420s`` (hours), ``0x0000001f`` and plain 48-bit
    counters. Returns ``None`` when no number leads the text.
    """
    text = raw.strip()
    if not text:
        return None
    hex_match = re.match(r"0x([0-9a-fA-F]+)\b", text)
    if hex_match:
        return int(hex_match.group(1), 16)
    match = re.match(r"(\d+)", text)
    if not match:
        return None
    return int(match.group(1))


def power_on_hours_from(name: str, raw: str) -> int | None:
    """Hours from attribute 9 whatever unit its name says (hours, minutes, seconds...)."""
    text = raw.strip()
    if re.match(r"^\d+h", text):  # smartctl already converted to "NNNNh+MMm[+SSs]"
        return int(text.split("h", 1)[0])
    value = parse_raw_value(text)
    if value is None:
        return None
    lowered = name.lower()
    if "half_min" in lowered:
        return value // 120
    if "minute" in lowered:
        return value // 60
    if "second" in lowered and "msec" not in lowered:
        return value // 3600
    return value


def _first_number(text: str) -> int | None:
    match = _INT_RE.search(text.replace(",", ""))
    return int(match.group(0)) if match else None


def _capacity(value: str) -> int | None:
    # "203,928,109,056 bytes [203 GB]" / "82 347 195 904 bytes [82,3 GB]" / "320.072.933.376"
    head = value.split("[", 1)[0].replace("bytes", "")
    return parse_int(head)


def _clean_serial(serial: str) -> str:
    return "" if serial.strip().lower() in _JUNK_SERIALS else serial.strip()


_ATTR_X = re.compile(
    r"^\s*(\d{1,3})\s+(\S+)\s+([PO\-][O\-][S\-][R\-][C\-][K\-]\+?)\s+"
    r"(\d+|---)\s+(\d+|---)\s+(\d+|---)\s+(\S+)\s+(.*)$"
)
_ATTR_A = re.compile(
    r"^\s*(\d{1,3})\s+(\S+)\s+(0x[0-9a-fA-F]{4})\s+(\d+|---)\s+(\d+|---)\s+(\d+|---)\s+"
    r"(\S+)\s+(\S+)\s+(\S+)\s+(.*)$"
)


def _opt_int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _parse_attribute(line: str) -> SmartAttribute | None:
    m = _ATTR_X.match(line)
    if m:
        ident, name, _flags, value, worst, thresh, fail, raw = m.groups()
        when_failed = "" if fail == "-" else fail
    else:
        m = _ATTR_A.match(line)
        if not m:
            return None
        ident, name, _flags, value, worst, thresh, _type, _updated, fail, raw = m.groups()
        when_failed = "" if fail == "-" else fail
    raw = raw.strip()
    if name.lower().startswith("power_on"):
        raw_value = power_on_hours_from(name, raw)
    else:
        raw_value = parse_raw_value(raw)
    return SmartAttribute(
        id=int(ident),
        name=name,
        value=_opt_int(value),
        worst=_opt_int(worst),
        thresh=_opt_int(thresh),
        when_failed=when_failed,
        raw=raw,
        raw_value=raw_value,
    )


def _field(line: str) -> tuple[str, str] | None:
    if ":" not in line or line.startswith((" ", "\t")):
        return None
    key, _, value = line.partition(":")
    return key.strip(), value.strip()


# Device Statistics (``-x``): the drive's own power-on hours, preferred to attribute 9.
_DEVSTAT_HOURS = re.compile(r"^0x01\s+0x010\s+4\s+\d+\s+\S+\s+Power-on Hours")


def _overall(value: str) -> Literal["PASSED", "FAILED"] | None:
    upper = value.upper()
    if upper.startswith("PASSED") or upper == "OK":
        return "PASSED"
    if upper.startswith("FAIL"):
        return "FAILED"
    return None


@dataclass
class _Sections:
    """One pass over the text, line by line, sorting each line into the section it belongs to:
    the NVMe health block, the self-test polling times, the attribute and self-test tables,
    and the ``Key: value`` information lines."""

    smart: Smart = field(default_factory=Smart)
    version: str = ""
    info: dict[str, str] = field(default_factory=dict)
    nvme_health: dict[str, str] = field(default_factory=dict)
    dev_stats_hours: int | None = None
    support_values: list[str] = field(default_factory=list)
    in_nvme_health: bool = False
    pending_poll: str | None = None

    def feed(self, index: int, line: str) -> None:
        stripped = line.strip()
        if index < 3 and stripped.startswith("smartctl "):
            parts = stripped.split()
            self.version = parts[1] if len(parts) > 1 else ""
        if self._nvme_health_line(line, stripped) or self._polling_line(stripped):
            return
        if self._table_line(line, stripped):
            return
        self._info_line(line)

    def _nvme_health_line(self, line: str, stripped: str) -> bool:
        if stripped.startswith("SMART/Health Information"):
            self.in_nvme_health = True
            return True
        if not self.in_nvme_health:
            return False
        if not stripped:
            self.in_nvme_health = False
            return True
        kv = _field(line)
        if kv:
            self.nvme_health[kv[0]] = kv[1]
        return True

    def _polling_line(self, stripped: str) -> bool:
        # The polling-time values are on the line after "... self-test routine".
        if "self-test routine" in stripped and stripped.endswith("routine"):
            self.pending_poll = stripped.split()[0].lower()  # short / extended / conveyance
            return True
        pending, self.pending_poll = self.pending_poll, None
        if not pending or "polling time" not in stripped:
            return False
        minutes = _first_number(stripped.split("(", 1)[-1])
        if pending == "short":
            self.smart.short_test_minutes = minutes
        elif pending == "extended":
            self.smart.extended_test_minutes = minutes
        return True

    def _table_line(self, line: str, stripped: str) -> bool:
        if _DEVSTAT_HOURS.match(stripped):
            self.dev_stats_hours = int(stripped.split()[3])
            return True
        attribute = _parse_attribute(line)
        if attribute is not None and not stripped.startswith("0x"):
            self.smart.attributes.append(attribute)
            return True
        if stripped.startswith("# 1 ") and not self.smart.self_test:
            # "# 1  Short offline       Completed without error       00%      4649         -"
            body = stripped[3:].strip()
            cols = re.split(r"\s{2,}", body)
            self.smart.self_test = " — ".join(cols[:2]) if len(cols) >= 2 else body
            return True
        return False

    def _info_line(self, line: str) -> None:
        kv = _field(line)
        if kv is None:
            return
        key, value = kv
        if key == "SMART support is":
            self.support_values.append(value)
        elif key.startswith("SMART overall-health self-assessment") or key == "SMART Health Status":
            self.smart.overall = _overall(value) or self.smart.overall
        elif key not in self.info:
            self.info[key] = value


def _identity(result: SmartctlResult, sections: _Sections) -> bool:
    """Kind of drive, model, serial and versions; True for an NVMe drive."""
    info = sections.info
    is_nvme = (
        bool(sections.nvme_health)
        or "Model Number" in info
        or any(k.startswith(("Namespace 1", "Total NVM Capacity", "PCI Vendor")) for k in info)
    )
    if is_nvme:
        result.device_type = "nvme"
        result.model = info.get("Model Number", "")
        result.transport_hint = "nvme"
        result.rotational = False
    elif "Device Model" in info or "ATA Version is" in info or sections.smart.attributes:
        result.device_type = "ata"
        result.model = info.get("Device Model", "")
    elif "Product" in info or "Vendor" in info or "Transport protocol" in info:
        result.device_type = "scsi"
        result.vendor = info.get("Vendor", "")
        result.model = info.get("Product", "")
        transport = info.get("Transport protocol", "").lower()
        if "sas" in transport:
            result.transport_hint = "scsi"
    result.family = info.get("Model Family", "")
    result.serial = _clean_serial(info.get("Serial Number", info.get("Serial number", "")))
    result.firmware = info.get("Firmware Version", info.get("Revision", ""))
    result.ata_version = info.get("ATA Version is", "")
    result.sata_version = info.get("SATA Version is", "")
    result.form_factor = info.get("Form Factor", "")
    return is_nvme


def _geometry(result: SmartctlResult, info: dict[str, str], is_nvme: bool) -> None:
    """Capacity and sector sizes."""
    capacity_text = (
        info.get("User Capacity")
        or info.get("Namespace 1 Size/Capacity")
        or info.get("Total NVM Capacity")
        or ""
    )
    if capacity_text:
        result.capacity_bytes = _capacity(capacity_text)
    sector = info.get("Sector Size") or info.get("Sector Sizes") or ""
    if sector:
        numbers = [int(n) for n in re.findall(r"\d+", sector)]
        if "logical/physical" in sector and numbers:
            result.logical_sector_size = result.physical_sector_size = numbers[0]
        elif len(numbers) >= 2:
            result.logical_sector_size, result.physical_sector_size = numbers[0], numbers[1]
    elif is_nvme:
        lba = parse_int(info.get("Namespace 1 Formatted LBA Size", ""))
        if lba:
            result.logical_sector_size = result.physical_sector_size = lba


def _rotation_and_bridge(result: SmartctlResult, info: dict[str, str]) -> None:
    rotation = info.get("Rotation Rate", "")
    if "solid state" in rotation.lower():
        result.rotational = False
    elif rotation:
        rpm = _first_number(rotation)
        if rpm:
            result.rotational, result.rotation_rpm = True, rpm

    if _BRIDGE_MODELS.match(result.model):
        result.bridge = result.model
        result.transport_hint = "usb"
        result.notes.append("model string is the USB bridge's, not the drive's")
        if result.rotation_rpm:
            # Bridges report a fixed rotation rate whatever sits behind them.
            result.rotational, result.rotation_rpm = None, None
    elif not result.transport_hint and result.device_type == "ata":
        result.transport_hint = "sata" if result.sata_version else ""


# Why SMART cannot be read, from what smartctl printed (first match wins), and the transport
# that reason reveals.
_UNAVAILABLE_TEXTS = (
    (("unable to detect device type",), N_("smartctl cannot detect the device type"), ""),
    (("unknown usb bridge",), N_("unknown USB bridge (no SMART pass-through)"), "usb"),
    (("read device identity failed",), N_("the device did not answer IDENTIFY"), ""),
    (
        ("permission denied", "operation not permitted"),
        N_("permission denied (smartctl must run as root)"),
        "",
    ),
    (("no such device", "no such file"), N_("no such device"), ""),
)


def _unavailable_reason(result: SmartctlResult, support_values: list[str], text: str) -> str:
    joined = " ".join(support_values).lower()
    if "unavailable" in joined or "lacks smart" in joined:
        return N_("device lacks SMART capability")
    if "disabled" in joined:
        return N_("SMART is disabled on the device")
    lowered_text = text.lower()
    for needles, reason, transport in _UNAVAILABLE_TEXTS:
        if any(needle in lowered_text for needle in needles):
            result.transport_hint = result.transport_hint or transport
            return reason
    return ""


def _ata_summary(smart: Smart, notes: list[str], dev_stats_hours: int | None) -> None:
    by_id = {a.id: a for a in smart.attributes}
    if 5 in by_id:
        smart.reallocated_sectors = by_id[5].raw_value
    if 197 in by_id:
        smart.pending_sectors = by_id[197].raw_value
        if (by_id[197].raw_value or 0) >= 0xFFFF0000:
            notes.append("Current_Pending_Sector raw value looks wrapped")
    if 198 in by_id:
        smart.offline_uncorrectable = by_id[198].raw_value
    if 187 in by_id:
        smart.reported_uncorrect = by_id[187].raw_value
    if dev_stats_hours is not None:
        smart.power_on_hours = dev_stats_hours
    elif 9 in by_id:
        smart.power_on_hours = by_id[9].raw_value
    for temp_id in (194, 190):
        if temp_id in by_id and by_id[temp_id].raw_value is not None:
            smart.temperature_c = by_id[temp_id].raw_value
            break


def _scsi_summary(smart: Smart, result: SmartctlResult, info: dict[str, str], text: str) -> None:
    # SAS/SCSI drives: the grown defect list plays the part of reallocated sectors.
    smart.reallocated_sectors = parse_int(info.get("Elements in grown defect list", ""))
    hours = re.search(r"^Accumulated power on time, hours:minutes\s+(\d+):\d+", text, re.MULTILINE)
    if hours:
        smart.power_on_hours = int(hours.group(1))
    smart.temperature_c = _first_number(info.get("Current Drive Temperature", ""))
    block = parse_int(info.get("Logical block size", "").replace("bytes", ""))
    if block:
        result.logical_sector_size = block
        result.physical_sector_size = (
            parse_int(info.get("Physical block size", "").replace("bytes", "")) or block
        )


def _nvme_summary(smart: Smart, health: dict[str, str]) -> None:
    warning = health.get("Critical Warning", "")
    if warning:
        smart.nvme_critical_warning = (
            int(warning, 16) if warning.lower().startswith("0x") else parse_int(warning)
        )
    smart.nvme_media_errors = parse_int(health.get("Media and Data Integrity Errors", ""))
    smart.nvme_percentage_used = _first_number(health.get("Percentage Used", ""))
    smart.nvme_available_spare = _first_number(health.get("Available Spare", ""))
    smart.nvme_spare_threshold = _first_number(health.get("Available Spare Threshold", ""))
    smart.power_on_hours = parse_int(health.get("Power On Hours", ""))
    smart.temperature_c = _first_number(health.get("Temperature", ""))


def parse_smartctl(text: str) -> SmartctlResult:
    """Parse one drive's ``smartctl -a`` or ``-x`` text (any smartctl version since 5.x)."""
    sections = _Sections()
    for index, line in enumerate(text.splitlines()):
        sections.feed(index, line)
    result = SmartctlResult(smartctl_version=sections.version)
    smart = sections.smart
    is_nvme = _identity(result, sections)
    _geometry(result, sections.info, is_nvme)
    _rotation_and_bridge(result, sections.info)

    unavailable_reason = _unavailable_reason(result, sections.support_values, text)
    has_data = bool(smart.attributes or sections.nvme_health or smart.overall)
    smart.available = has_data and not unavailable_reason
    if not smart.available:
        smart.reason = unavailable_reason or N_("no SMART data in the smartctl output")
    smart.device_type = result.device_type

    if result.device_type == "ata" and smart.available:
        _ata_summary(smart, result.notes, sections.dev_stats_hours)
    if result.device_type == "scsi" and smart.available:
        _scsi_summary(smart, result, sections.info, text)
    if result.device_type == "nvme" and sections.nvme_health:
        _nvme_summary(smart, sections.nvme_health)
    result.smart = smart
    return result
