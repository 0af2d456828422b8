"""ATA drives through hdparm: what the drive supports (``hdparm -I``), hidden areas (HPA with
``-N``, DCO with ``--dco-identify``), and the firmware purges (SANITIZE, SECURITY ERASE UNIT).

hdparm exits 0 even when the drive aborts a command, so success is judged from the drive's
state read back afterwards, never from the exit status.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench_agent.models.wipe import HiddenAreas
from bench_agent.sanitize.commands import CommandResult, run


@dataclass
class AtaSecurity:
    supported: bool = False
    enabled: bool = False
    locked: bool = False
    frozen: bool = False
    expired: bool = False
    enhanced_erase: bool = False
    erase_minutes: int | None = None
    enhanced_erase_minutes: int | None = None


@dataclass
class AtaCapabilities:
    model: str = ""
    serial: str = ""
    firmware: str = ""
    transport: str = ""
    rotation_rpm: int | None = None  # 0 = solid state
    sectors: int | None = None
    features: list[str] = field(default_factory=list)
    sanitize: bool = False
    sanitize_crypto: bool = False
    sanitize_block: bool = False
    sanitize_overwrite: bool = False
    hpa_feature: bool = False
    dco_feature: bool = False
    security: AtaSecurity = field(default_factory=AtaSecurity)

    @property
    def solid_state(self) -> bool:
        return self.rotation_rpm == 0


def _field(text: str, label: str) -> str:
    match = re.search(rf"^\s*{re.escape(label)}:\s*(.*)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def parse_hdparm_identify(text: str) -> AtaCapabilities:
    """Parse ``hdparm -I`` text output."""
    caps = AtaCapabilities(
        model=_field(text, "Model Number"),
        serial=_field(text, "Serial Number"),
        firmware=_field(text, "Firmware Revision"),
        transport=_field(text, "Transport"),
    )
    rotation = _field(text, "Nominal Media Rotation Rate")
    if "Solid State" in rotation:
        caps.rotation_rpm = 0
    elif rotation.isdigit():
        caps.rotation_rpm = int(rotation)
    sectors = re.search(r"LBA48\s+user addressable sectors:\s*(\d+)", text) or re.search(
        r"LBA\s+user addressable sectors:\s*(\d+)", text
    )
    if sectors:
        caps.sectors = int(sectors.group(1))

    section = text.split("Commands/features:", 1)[1] if "Commands/features:" in text else ""
    section = re.split(r"^\S", section, maxsplit=1, flags=re.MULTILINE)[0]
    for line in section.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("Enabled") or stripped.startswith("not"):
            continue
        caps.features.append(stripped.lstrip("*").strip())
    names = set(caps.features)
    caps.sanitize = "SANITIZE feature set" in names
    caps.sanitize_crypto = caps.sanitize and "CRYPTO_SCRAMBLE_EXT command" in names
    caps.sanitize_block = caps.sanitize and "BLOCK_ERASE_EXT command" in names
    caps.sanitize_overwrite = caps.sanitize and "OVERWRITE_EXT command" in names
    caps.hpa_feature = "Host Protected Area feature set" in names
    caps.dco_feature = "Device Configuration Overlay feature set" in names

    if "Security:" in text:
        security = text.split("Security:", 1)[1]
        security = re.split(r"^\S", security, maxsplit=1, flags=re.MULTILINE)[0]
        sec = caps.security
        for line in security.splitlines():
            words = line.split()
            if not words:
                continue
            negated = words[0] == "not"
            key = " ".join(words[1:] if negated else words)
            value = not negated
            if key == "supported":
                sec.supported = value
            elif key == "enabled":
                sec.enabled = value
            elif key == "locked":
                sec.locked = value
            elif key == "frozen":
                sec.frozen = value
            elif key == "expired: security count":
                sec.expired = value
            elif key == "supported: enhanced erase":
                sec.enhanced_erase = value
        normal = re.search(r"(\d+)min for SECURITY ERASE UNIT", security)
        enhanced = re.search(r"(\d+)min for ENHANCED SECURITY ERASE UNIT", security)
        sec.erase_minutes = int(normal.group(1)) if normal else None
        sec.enhanced_erase_minutes = int(enhanced.group(1)) if enhanced else None
    return caps


def parse_hdparm_native_max(text: str) -> tuple[int, int] | None:
    """``hdparm -N``: (visible sectors, native max sectors) or None when unreadable."""
    match = re.search(r"max sectors\s*=\s*(\d+)\s*/\s*(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def parse_dco_real_max(text: str) -> int | None:
    """``hdparm --dco-identify``: the real (factory) max sectors, None when no DCO answer."""
    match = re.search(r"Real max sectors:\s*(\d+)", text)
    return int(match.group(1)) if match else None


def hidden_areas_from(native: tuple[int, int] | None, dco_max: int | None) -> HiddenAreas:
    """HPA/DCO facts; ``erased`` stays False here: only the engine may say hidden sectors were
    erased, and only for a method that reaches them."""
    areas = HiddenAreas(checked=native is not None)
    notes = []
    if native is not None:
        visible, native_max = native
        # hdparm -N counts max LBA + 1; a drive without HPA shows equal numbers.
        areas.visible_sectors = visible
        areas.native_max_sectors = native_max
        areas.hpa_present = visible < native_max
        notes.append(f"HPA hides {native_max - visible} sectors" if areas.hpa_present else "no HPA")
    else:
        notes.append("HPA state unknown (hdparm -N gave no answer)")
    reference = areas.native_max_sectors or areas.visible_sectors
    if dco_max is not None and reference is not None and dco_max >= reference:
        areas.dco_present = dco_max > reference
        notes.append(
            f"DCO hides {dco_max - reference} sectors"
            if areas.dco_present
            else "no DCO restriction"
        )
    else:
        # A drive without DCO aborts DCO IDENTIFY and hdparm prints a meaningless answer
        # (QEMU: "Real max sectors: 1"); that is "unknown", never "no DCO".
        notes.append("DCO state unknown (no usable DCO IDENTIFY answer)")
    areas.note = "; ".join(notes)
    return areas


def detect(device: str) -> tuple[AtaCapabilities | None, HiddenAreas, list[CommandResult]]:
    """Ask the drive (read-only commands only)."""
    log: list[CommandResult] = []
    ident = run(["hdparm", "-I", device])
    log.append(ident)
    caps = parse_hdparm_identify(ident.stdout) if "ATA device" in ident.stdout else None
    native = dco = None
    if caps is not None:
        hpa = run(["hdparm", "-N", device])
        log.append(hpa)
        native = parse_hdparm_native_max(hpa.stdout)
        dco_result = run(["hdparm", "--dco-identify", device])
        log.append(dco_result)
        dco = parse_dco_real_max(dco_result.stdout)
    return caps, hidden_areas_from(native, dco), log


# -- firmware purges ------------------------------------------------------------------------


@dataclass
class FirmwareOutcome:
    success: bool
    detail: str
    log: list[CommandResult] = field(default_factory=list)
    password: str = ""


def temporary_password() -> str:
    # Short and printable: hdparm takes up to 32 bytes; an operator may have to type it to
    # unlock a drive after a power cut, so it is also written to the journal.
    return "bench" + secrets.token_hex(4)


SANITIZE_ARGS = {
    "ata-sanitize-crypto": ["--sanitize-crypto-scramble"],
    "ata-sanitize-block": ["--sanitize-block-erase"],
    "ata-sanitize-overwrite": [
        "--sanitize-overwrite-passes",
        "1",
        "--sanitize-overwrite",
        "hex:00000000",
    ],
}


def parse_sanitize_status(text: str) -> tuple[str, int | None, bool]:
    """(state SD0..SD4 or '', percent or None, last operation completed without error)."""
    state = re.search(r"State:\s*(SD\d)", text)
    percent = re.search(r"Progress:\s*0x[0-9a-fA-F]+\s*\((\d+)%\)", text)
    return (
        state.group(1) if state else "",
        int(percent.group(1)) if percent else None,
        "Completed Without Error" in text,
    )


def run_sanitize(
    device: str,
    method: str,
    *,
    timeout_s: float,
    on_progress: Callable[[float, str], None],
    poll_s: float = 5.0,
) -> FirmwareOutcome:
    log = [
        run(["hdparm", "--yes-i-know-what-i-am-doing", *SANITIZE_ARGS[method], device], timeout=120)
    ]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = run(["hdparm", "--sanitize-status", device])
        state, percent, ok = parse_sanitize_status(status.stdout)
        if state != "SD2":
            log.append(status)
            if ok and state in {"SD0", "SD4"}:
                return FirmwareOutcome(True, f"SANITIZE finished ({state}) without error", log)
            return FirmwareOutcome(
                False, f"SANITIZE did not complete: state {state or 'unknown'}", log
            )
        on_progress((percent or 0) / 100, "SANITIZE in progress")
        time.sleep(poll_s)
    return FirmwareOutcome(False, "SANITIZE still running past its time limit", log)


def run_security_erase(
    device: str,
    *,
    enhanced: bool,
    estimate_min: int | None,
    on_progress: Callable[[float, str], None],
    record_password: Callable[[str], None],
) -> FirmwareOutcome:
    """SECURITY ERASE UNIT with a temporary user password, judged from the state read back."""
    out = FirmwareOutcome(False, "")
    before = run(["hdparm", "-I", device])
    out.log.append(before)
    sec = parse_hdparm_identify(before.stdout).security
    if not sec.supported:
        out.detail = "the drive does not support the ATA Security feature set"
        return out
    if sec.frozen:
        out.detail = (
            "the drive is frozen by the BIOS (suspend and resume the machine, or "
            "re-plug the drive, to unfreeze it)"
        )
        return out
    if sec.enabled or sec.locked:
        out.detail = "a security password is already set on the drive (unknown password)"
        return out
    password = temporary_password()
    out.password = password
    record_password(password)
    out.log.append(
        run(
            ["hdparm", "--user-master", "u", "--security-set-pass", password, device], mask=password
        )
    )
    state = run(["hdparm", "-I", device])
    out.log.append(state)
    if not parse_hdparm_identify(state.stdout).security.enabled:
        out.detail = "the drive refused SECURITY SET PASSWORD (security is still not enabled)"
        return out
    minutes = (sec.enhanced_erase_minutes if enhanced else sec.erase_minutes) or 0
    timeout = max(600.0, minutes * 60 * 2 + 600)
    t0 = time.monotonic()
    on_progress(0.0, f"drive estimate: {minutes} min" if minutes else "no drive estimate")
    flag = "--security-erase-enhanced" if enhanced else "--security-erase"
    estimate_s = max(60.0, minutes * 60.0)

    def tick(elapsed: float) -> None:
        on_progress(
            min(0.99, elapsed / estimate_s),
            f"SECURITY ERASE UNIT running, drive estimate {minutes or '?'} min",
        )

    out.log.append(
        run(
            ["hdparm", "--user-master", "u", flag, password, device],
            timeout=timeout,
            mask=password,
            on_tick=tick,
            tick_s=5.0,
        )
    )
    on_progress(1.0, f"erase returned after {time.monotonic() - t0:.0f} s")
    after = run(["hdparm", "-I", device])
    out.log.append(after)
    after_sec = parse_hdparm_identify(after.stdout).security
    if after_sec.enabled or after_sec.locked:
        # The erase did not happen (a successful erase clears the password): unlock/disable.
        out.log.append(
            run(
                ["hdparm", "--user-master", "u", "--security-disable", password, device],
                mask=password,
            )
        )
        still = parse_hdparm_identify(run(["hdparm", "-I", device]).stdout).security
        out.detail = "SECURITY ERASE UNIT did not complete"
        if still.enabled or still.locked:
            # The operator needs it to unlock the drive by hand; it protects nothing now.
            out.detail += f"; the drive still has the temporary user password '{password}'"
        return out
    out.success = True
    out.detail = "SECURITY ERASE UNIT completed: security disabled again by the drive"
    return out
