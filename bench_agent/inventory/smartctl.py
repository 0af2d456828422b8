"""Parse the text of ``smartctl -a`` / ``smartctl -x``: identity, capacity and SMART health.

Text (not ``--json``) because old live images ship smartctl 5.x/6.x without JSON, and because
the text is what evidence bundles from real machines hold. The parser never raises: what it
cannot read stays ``None`` and is noted in ``SmartctlResult.notes``.
"""

from __future__ import annotations

import re
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


def parse_smartctl(text: str) -> SmartctlResult:
    """Parse one drive's ``smartctl -a`` or ``-x`` text (any smartctl version since 5.x)."""
    result = SmartctlResult()
    smart = Smart()
    lines = text.splitlines()
    info: dict[str, str] = {}
    nvme_health: dict[str, str] = {}
    dev_stats_hours: int | None = None
    in_nvme_health = False
    support_values: list[str] = []
    pending_poll: str | None = None

    for index, line in enumerate(lines):
        stripped = line.strip()
        if index < 3 and stripped.startswith("smartctl "):
            parts = stripped.split()
            result.smartctl_version = parts[1] if len(parts) > 1 else ""
        if stripped.startswith("SMART/Health Information"):
            in_nvme_health = True
            continue
        if in_nvme_health:
            if not stripped:
                in_nvme_health = False
                continue
            kv = _field(line)
            if kv:
                nvme_health[kv[0]] = kv[1]
            continue
        # The polling-time values are on the line after "... self-test routine".
        if "self-test routine" in stripped and stripped.endswith("routine"):
            pending_poll = stripped.split()[0].lower()  # short / extended / conveyance
            continue
        if pending_poll and "polling time" in stripped:
            minutes = _first_number(stripped.split("(", 1)[-1])
            if pending_poll == "short":
                smart.short_test_minutes = minutes
            elif pending_poll == "extended":
                smart.extended_test_minutes = minutes
            pending_poll = None
            continue
        pending_poll = None
        if re.match(r"^0x01\s+0x010\s+4\s+\d+\s+\S+\s+Power-on Hours", stripped):
            dev_stats_hours = int(stripped.split()[3])
            continue
        attribute = _parse_attribute(line)
        if attribute is not None and not stripped.startswith("0x"):
            smart.attributes.append(attribute)
            continue
        if stripped.startswith("# 1 ") and not smart.self_test:
            # "# 1  Short offline       Completed without error       00%      4649         -"
            body = stripped[3:].strip()
            cols = re.split(r"\s{2,}", body)
            smart.self_test = " — ".join(cols[:2]) if len(cols) >= 2 else body
            continue
        kv = _field(line)
        if kv is None:
            continue
        key, value = kv
        if key == "SMART support is":
            support_values.append(value)
        elif key.startswith("SMART overall-health self-assessment") or key == "SMART Health Status":
            upper = value.upper()
            if upper.startswith("PASSED") or upper == "OK":
                smart.overall = "PASSED"
            elif upper.startswith("FAIL"):
                smart.overall = "FAILED"
        elif key not in info:
            info[key] = value

    # Identity.
    is_nvme = (
        bool(nvme_health)
        or "Model Number" in info
        or any(k.startswith(("Namespace 1", "Total NVM Capacity", "PCI Vendor")) for k in info)
    )
    if is_nvme:
        result.device_type = "nvme"
        result.model = info.get("Model Number", "")
        result.transport_hint = "nvme"
        result.rotational = False
    elif "Device Model" in info or "ATA Version is" in info or smart.attributes:
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

    # SMART availability.
    joined = " ".join(support_values).lower()
    unavailable_reason = ""
    lowered_text = text.lower()
    if "unavailable" in joined or "lacks smart" in joined:
        unavailable_reason = N_("device lacks SMART capability")
    elif "disabled" in joined:
        unavailable_reason = N_("SMART is disabled on the device")
    elif "unable to detect device type" in lowered_text:
        unavailable_reason = N_("smartctl cannot detect the device type")
    elif "unknown usb bridge" in lowered_text:
        unavailable_reason = N_("unknown USB bridge (no SMART pass-through)")
        result.transport_hint = result.transport_hint or "usb"
    elif "read device identity failed" in lowered_text:
        unavailable_reason = N_("the device did not answer IDENTIFY")
    elif "permission denied" in lowered_text or "operation not permitted" in lowered_text:
        unavailable_reason = N_("permission denied (smartctl must run as root)")
    elif "no such device" in lowered_text or "no such file" in lowered_text:
        unavailable_reason = N_("no such device")

    has_data = bool(smart.attributes or nvme_health or smart.overall)
    if has_data and not unavailable_reason:
        smart.available = True
    else:
        smart.available = False
        smart.reason = unavailable_reason or N_("no SMART data in the smartctl output")

    smart.device_type = result.device_type

    # Summary values.
    by_id = {a.id: a for a in smart.attributes}
    if result.device_type == "ata" and smart.available:
        if 5 in by_id:
            smart.reallocated_sectors = by_id[5].raw_value
        if 197 in by_id:
            smart.pending_sectors = by_id[197].raw_value
            if (by_id[197].raw_value or 0) >= 0xFFFF0000:
                result.notes.append("Current_Pending_Sector raw value looks wrapped")
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
    if result.device_type == "scsi" and smart.available:
        # SAS/SCSI drives: the grown defect list plays the part of reallocated sectors.
        smart.reallocated_sectors = parse_int(info.get("Elements in grown defect list", ""))
        hours = re.search(
            r"^Accumulated power on time, hours:minutes\s+(\d+):\d+", text, re.MULTILINE
        )
        if hours:
            smart.power_on_hours = int(hours.group(1))
        smart.temperature_c = _first_number(info.get("Current Drive Temperature", ""))
        block = parse_int(info.get("Logical block size", "").replace("bytes", ""))
        if block:
            result.logical_sector_size = block
            result.physical_sector_size = (
                parse_int(info.get("Physical block size", "").replace("bytes", "")) or block
            )
    if result.device_type == "nvme" and nvme_health:
        warning = nvme_health.get("Critical Warning", "")
        if warning:
            smart.nvme_critical_warning = (
                int(warning, 16) if warning.lower().startswith("0x") else parse_int(warning)
            )
        smart.nvme_media_errors = parse_int(nvme_health.get("Media and Data Integrity Errors", ""))
        smart.nvme_percentage_used = _first_number(nvme_health.get("Percentage Used", ""))
        smart.nvme_available_spare = _first_number(nvme_health.get("Available Spare", ""))
        smart.nvme_spare_threshold = _first_number(nvme_health.get("Available Spare Threshold", ""))
        smart.power_on_hours = parse_int(nvme_health.get("Power On Hours", ""))
        smart.temperature_c = _first_number(nvme_health.get("Temperature", ""))
    result.smart = smart
    return result
