"""The method plan: for each disk, what it supports and the strongest method the profile allows.

Planning only reads (lsblk, ``hdparm -I/-N/--dco-identify``, ``nvme id-ctrl/id-ns``); it is
what ``--dry-run`` shows. Firmware commands are never planned through a USB bridge.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from bench_agent.devices.guard import GuardPolicy, check_target
from bench_agent.errors import InputError, ToolMissing
from bench_agent.i18n import _
from bench_agent.models.inventory import Disk

# The plan is a shared model now (journaled by the workflow); re-exported for the engine.
from bench_agent.models.wipe import FIRMWARE_METHODS as FIRMWARE_METHODS
from bench_agent.models.wipe import HiddenAreas, VerifyMode
from bench_agent.models.wipe import MethodOption as MethodOption
from bench_agent.models.wipe import WipePlan as WipePlan
from bench_agent.sanitize import ata, commands, nvme
from bench_agent.sanitize.certificate import BRIDGE_SERIAL_NOTE
from bench_agent.sanitize.journal import Journal

RequestedMethod = Literal["auto", "zero", "random", "firmware"]

# Strongest first (FIRMWARE_METHODS, in bench_agent.models.wipe). Overwrite is NIST "clear".
OVERWRITE_METHODS = ["random", "zero"]
ALL_METHODS = FIRMWARE_METHODS + OVERWRITE_METHODS
# Methods whose effect reaches sectors hidden by HPA/DCO (ACS: SANITIZE covers all user data,
# including areas not currently addressable).
REACHES_HIDDEN = frozenset({"ata-sanitize-crypto", "ata-sanitize-block", "ata-sanitize-overwrite"})
METHOD_GROUPS = {
    "firmware": FIRMWARE_METHODS,
    "purge": FIRMWARE_METHODS,
    "overwrite": OVERWRITE_METHODS,
    "clear": OVERWRITE_METHODS,
}
ASSUMED_MBPS = {"nvme": 1000.0, "ssd": 300.0, "hdd": 100.0}


def _speed_class(disk: Disk) -> str:
    """The class of ``ASSUMED_MBPS`` an overwrite's estimate uses."""
    if disk.kind == "loop":
        return "ssd"
    if disk.transport == "nvme" or disk.name.startswith("nvme"):
        return "nvme"
    return "hdd" if disk.rotational else "ssd"


def _expand_allowed(allowed: list[str] | None) -> set[str]:
    if allowed is None:
        return set(ALL_METHODS)
    out: set[str] = set()
    for name in allowed:
        if name in METHOD_GROUPS:
            out.update(METHOD_GROUPS[name])
        elif name in ALL_METHODS:
            out.add(name)
        elif name == "auto":
            out.update(ALL_METHODS)
        else:
            raise InputError(
                _("Unknown wipe method '{name}' in the profile.", name=name),
                _("Use one of: {names}.", names=", ".join(ALL_METHODS + list(METHOD_GROUPS))),
            )
    return out


def _ata_support(caps: ata.AtaCapabilities) -> dict[str, str | None]:
    """method -> None when usable now, else why not."""
    sec = caps.security
    out: dict[str, str | None] = {}
    sanitize_reason = None if caps.sanitize else "no SANITIZE feature set"
    out["ata-sanitize-crypto"] = sanitize_reason or (
        None if caps.sanitize_crypto else "no CRYPTO SCRAMBLE"
    )
    out["ata-sanitize-block"] = sanitize_reason or (
        None if caps.sanitize_block else "no BLOCK ERASE"
    )
    out["ata-sanitize-overwrite"] = sanitize_reason or (
        None if caps.sanitize_overwrite else "no OVERWRITE"
    )
    if not sec.supported:
        security_reason: str | None = "no ATA Security feature set"
    elif sec.frozen:
        security_reason = "security frozen by the BIOS (suspend/resume the machine to unfreeze)"
    elif sec.enabled or sec.locked:
        security_reason = "a security password is already set"
    else:
        security_reason = None
    out["ata-secure-erase-enhanced"] = security_reason or (
        None if sec.enhanced_erase else "enhanced erase not supported"
    )
    out["ata-secure-erase"] = security_reason
    return out


def _nvme_support(caps: nvme.NvmeCapabilities) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    out["nvme-sanitize-crypto"] = None if caps.sanitize_crypto else "no crypto erase sanitize"
    out["nvme-sanitize-block"] = None if caps.sanitize_block else "no block erase sanitize"
    fmt = None if caps.format_supported else "Format NVM not supported"
    out["nvme-format-crypto"] = fmt or (
        None if caps.crypto_erase_format else "no cryptographic erase in Format"
    )
    out["nvme-format-user-data"] = fmt
    return out


def select_method(
    support: dict[str, str | None],
    allowed: set[str],
    requested: RequestedMethod,
    prefer_random: bool,
    device: str,
) -> tuple[str, str | None, list[MethodOption]]:
    """(method, overwrite fallback for a firmware method, every option with its reason).

    ``support`` maps each firmware method to None (usable now) or why not. ``auto`` takes the
    strongest usable firmware purge, else an overwrite: random on flash (a controller that
    compresses or deduplicates cannot shortcut it), zeros on magnetic media.
    """
    options: list[MethodOption] = []
    for name in ALL_METHODS:
        reason = support.get(name, "not this kind of drive") if name in FIRMWARE_METHODS else None
        options.append(
            MethodOption(
                method=name,
                level="purge" if name in FIRMWARE_METHODS else "clear",
                supported=reason is None,
                allowed=name in allowed,
                reason=reason or ("" if name in allowed else "not allowed by the profile"),
            )
        )
    usable = [o.method for o in options if o.supported and o.allowed]
    overwrite_default = "random" if prefer_random else "zero"
    overwrite_choices = [m for m in (overwrite_default, *OVERWRITE_METHODS) if m in usable]
    chosen: str | None
    if requested in ("zero", "random"):
        if requested not in allowed:
            raise InputError(
                _("The profile does not allow the '{method}' method.", method=requested),
                _("Allowed here: {names}.", names=", ".join(usable) or "-"),
            )
        chosen = requested
    elif requested == "firmware":
        firmware = [m for m in usable if m in FIRMWARE_METHODS]
        if not firmware:
            why = "; ".join(
                f"{o.method}: {o.reason}"
                for o in options
                if o.method in FIRMWARE_METHODS and o.reason
            )
            raise InputError(
                _(
                    "{device} supports no firmware purge the profile allows ({why}).",
                    device=device,
                    why=why,
                ),
                _("Use --method auto to fall back to an overwrite."),
            )
        chosen = firmware[0]
    else:
        chosen = (
            usable[0]
            if usable and usable[0] in FIRMWARE_METHODS
            else (overwrite_choices[0] if overwrite_choices else None)
        )
    if chosen is None:
        raise InputError(
            _(
                "No wipe method is both supported by {device} and allowed by the profile.",
                device=device,
            ),
            _("Allow 'zero' or 'random' in the profile's wipe methods."),
        )
    fallback = overwrite_choices[0] if chosen in FIRMWARE_METHODS and overwrite_choices else None
    return chosen, fallback, options


# How the serial of a disk behind a USB bridge was read, strongest first: the drive's own
# ATA IDENTIFY relayed by a SAT bridge (read-only), then the SCSI unit serial number (VPD page
# 0x80, which some bridges fill with the drive's and others with their own).
USB_SERIAL_PROBES = (
    ("ata-identify-sat", ["smartctl", "-i", "-d", "sat"]),
    ("scsi-vpd-80", ["smartctl", "-i", "-d", "scsi"]),
)


def pick_usb_serial(outputs: list[tuple[str, str]], bridge_serial: str) -> dict[str, str]:
    """The drive's own serial (and model) from the read-only identify outputs of a disk behind
    a USB bridge, ``[(probe, smartctl text)]`` in the order tried; ``bridge_serial`` is what
    the bridge reports (lsblk's SERIAL: udev's, from the USB descriptor).

    A junk serial ("--", zeros), an IDENTIFY the bridge answered itself (its own model
    string), or a VPD serial equal to the bridge's own is not the drive's. Without one, the
    bridge's serial stays, said so: ``source`` is then ``"bridge"``.
    """
    from bench_agent.inventory.smartctl import parse_smartctl
    from bench_agent.inventory.system import is_junk_identifier

    bridge = bridge_serial.strip()
    for probe, text in outputs:
        result = parse_smartctl(text)
        serial = result.serial.strip()
        if not serial or is_junk_identifier(serial) or result.bridge:
            continue
        if probe == "ata-identify-sat" and result.device_type == "ata":
            # The drive itself answered IDENTIFY: its serial even when the bridge relays it.
            return {"serial": serial, "model": result.model, "source": probe}
        if probe == "scsi-vpd-80" and serial.lower() != bridge.lower():
            return {"serial": serial, "model": "", "source": probe}
    return {"serial": bridge, "model": "", "source": "bridge"}


def usb_identity(path: str, bridge_serial: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Ask the drive behind the bridge who it is (read-only identify commands only; nothing
    destructive is ever sent through a bridge); (picked identity, evidence)."""
    outputs: list[tuple[str, str]] = []
    evidence: list[dict[str, Any]] = []
    for probe, argv in USB_SERIAL_PROBES:
        try:
            result = commands.run([*argv, path], timeout=30.0)
        except ToolMissing:
            break
        evidence.append(result.evidence())
        outputs.append((probe, result.stdout))
        picked = pick_usb_serial(outputs, bridge_serial)
        if picked["source"] != "bridge":
            return picked, evidence
    return pick_usb_serial(outputs, bridge_serial), evidence


def serial_is_the_drives(plan: WipePlan) -> bool:
    """False when the plan's serial is only a USB bridge's (two disks in docks with the same
    bridge serial are different disks): it names no disk, so it never matches another."""
    usb: dict[str, Any] = plan.detection.get("usb") or {}
    return usb.get("serial_source") != "bridge"


def plan_one(
    device: str,
    *,
    method: RequestedMethod = "auto",
    verify: VerifyMode = "sample",
    allowed_methods: list[str] | None = None,
    policy: GuardPolicy | None = None,
    probe_firmware: bool = True,
) -> WipePlan:
    policy = policy or GuardPolicy()
    dev = check_target(device, policy)
    # The guard's view of the device as the inventory states a disk: the plan's identity.
    disk = Disk.from_block(dev)
    allowed = _expand_allowed(allowed_methods)
    speed_class = _speed_class(disk)
    notes: list[str] = []
    support: dict[str, str | None] = {m: "not this kind of drive" for m in FIRMWARE_METHODS}
    detection: dict[str, Any] = {}
    evidence: list[dict[str, Any]] = []
    hidden = HiddenAreas(note="not an ATA drive: no HPA/DCO")
    estimates: dict[str, float] = {}
    path = disk.path
    # Without udev (the live image, old kernels) lsblk may not know the serial; the drive does.
    model, serial = disk.model, disk.serial
    if dev.type == "loop":
        notes.append("loop device: no drive firmware to ask")
    elif dev.tran == "usb":
        notes.append("behind a USB bridge: firmware commands are never sent through it")
        support = {m: "behind a USB bridge" for m in FIRMWARE_METHODS}
        picked, log_usb = usb_identity(path, disk.serial)
        evidence.extend(log_usb)
        detection["usb"] = {
            "bridge_serial": disk.serial,
            "serial_source": picked["source"],
            "drive_serial": "" if picked["source"] == "bridge" else picked["serial"],
        }
        if picked["source"] == "bridge":
            notes.append(BRIDGE_SERIAL_NOTE)
        else:
            serial, model = picked["serial"], picked["model"] or model
            notes.append(
                f"serial read from the drive behind the USB bridge ({picked['source']}); "
                f"the bridge reports {disk.serial or 'no serial'}"
            )
    elif probe_firmware and (dev.tran == "nvme" or dev.kernel_name.startswith("nvme")):
        caps, log = nvme.detect(dev.kernel_name)
        evidence.extend(r.evidence() for r in log)
        if caps is None:
            notes.append("nvme id-ctrl gave no answer: firmware methods unavailable")
        else:
            detection["nvme"] = dataclasses.asdict(caps)
            model, serial = model or caps.model, serial or caps.serial
            support.update(_nvme_support(caps))
            others = [n for n in nvme.active_namespaces(dev.kernel_name) if n != dev.kernel_name]
            if others:
                notes.append(
                    "the controller has other namespaces ("
                    + ", ".join(others)
                    + "): NVMe Sanitize erases them too"
                )
    elif probe_firmware and dev.tran in {"sata", "ata", "pata", ""}:
        caps_ata, hidden, log = ata.detect(path)
        evidence.extend(r.evidence() for r in log)
        if caps_ata is None:
            notes.append("hdparm -I gave no ATA identify data: firmware methods unavailable")
            hidden = HiddenAreas(note="no ATA identify data: HPA/DCO not checked")
        else:
            detection["ata"] = dataclasses.asdict(caps_ata)
            model, serial = model or caps_ata.model, serial or caps_ata.serial
            support.update(_ata_support(caps_ata))
            sec = caps_ata.security
            if sec.erase_minutes:
                estimates["ata-secure-erase"] = sec.erase_minutes * 60.0
            if sec.enhanced_erase_minutes:
                estimates["ata-secure-erase-enhanced"] = sec.enhanced_erase_minutes * 60.0
    prefer_random = speed_class in {"ssd", "nvme"} and dev.type != "loop"
    chosen, fallback, options = select_method(support, allowed, method, prefer_random, path)
    if chosen in FIRMWARE_METHODS and fallback is None:
        notes.append("no overwrite allowed as a fallback if the firmware purge fails")
    if hidden.hpa_present or hidden.dco_present:
        if chosen in REACHES_HIDDEN:
            notes.append("hidden areas (HPA/DCO) are covered by SANITIZE")
        else:
            notes.append(
                "hidden areas (HPA/DCO) will NOT be erased by this method; the report says so"
            )
    estimate = estimates.get(chosen)
    if estimate is None and chosen in OVERWRITE_METHODS:
        estimate = disk.size_bytes / (ASSUMED_MBPS[speed_class] * 1e6)
        if verify == "full":
            estimate *= 2
        elif verify == "sample":
            estimate *= 1.1
    return WipePlan.for_disk(
        disk,
        model=model,
        serial=serial,
        method=chosen,
        level="purge" if chosen in FIRMWARE_METHODS else "clear",
        verify=verify,
        fallback=fallback,
        options=options,
        hidden_areas=hidden,
        estimate_s=estimate,
        notes=notes,
        detection=detection,
        evidence=evidence,
        allow_removable=policy.allow_removable,
        allow_loop=policy.allow_loop,
    )


def plan_wipes(
    devices: list[str],
    *,
    method: RequestedMethod = "auto",
    verify: VerifyMode = "sample",
    allowed_methods: list[str] | None = None,
    policy: GuardPolicy | None = None,
    resume: bool = False,
    journal_directory: Path | None = None,
) -> list[WipePlan]:
    """Plan every disk first (any refusal stops everything before anything is written)."""
    if method not in ("auto", "zero", "random", "firmware"):
        raise InputError(
            _("Unknown wipe method '{name}' in the profile.", name=method),
            _("Use one of: {names}.", names="auto, zero, random, firmware"),
        )
    if verify not in ("full", "sample", "none"):
        raise InputError(
            _("Unknown verification '{name}'.", name=verify),
            _("Use one of: {names}.", names="full, sample, none"),
        )
    seen: set[str] = set()
    plans = []
    for device in devices:
        plan = plan_one(
            device, method=method, verify=verify, allowed_methods=allowed_methods, policy=policy
        )
        if plan.kname in seen:
            raise InputError(
                _("{device} is listed twice.", device=device), _("Give each disk once.")
            )
        seen.add(plan.kname)
        plans.append(plan)
    if resume:
        if journal_directory is None:
            raise ValueError("resume=True needs the station's journal_directory")
        journal = Journal(journal_directory)
        for plan in plans:
            _attach_resume(plan, journal)
    return plans


def _attach_resume(plan: WipePlan, journal: Journal) -> None:
    """Resume an interrupted overwrite only when it is safe: same disk, same overwrite method,
    a flushed checkpoint, and the same pattern (seed) regenerated."""
    if plan.is_firmware or not serial_is_the_drives(plan):
        return  # a bridge's serial cannot tell this disk from another in the same dock
    for entry in journal.interrupted():
        if (
            entry.same_disk(plan.serial, plan.size_bytes, plan.kname)
            and entry.method == plan.method
            and entry.written_upto > 0
            and (plan.method == "zero" or entry.seed)
        ):
            plan.resume_journal = entry.id
            plan.resume_from = min(entry.written_upto, plan.size_bytes)
            plan.seed = entry.seed
            plan.notes.append(
                f"resuming the interrupted wipe {entry.id} at byte "
                f"{plan.resume_from}; verification still covers the whole disk"
            )
            return
