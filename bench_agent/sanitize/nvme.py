"""NVMe drives through nvme-cli: what the controller supports (``id-ctrl``/``id-ns`` JSON),
Format NVM with Secure Erase Settings, and Sanitize (polled through the sanitize log)."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_agent.sanitize.ata import FirmwareOutcome
from bench_agent.sanitize.commands import CommandResult, run

SYS_BLOCK = Path("/sys/block")


@dataclass
class NvmeCapabilities:
    model: str = ""
    serial: str = ""
    firmware: str = ""
    max_namespaces: int = 1  # NN: how many the controller could have, not how many exist
    format_supported: bool = False  # OACS bit 1
    format_all_namespaces: bool = False  # FNA bit 0
    secure_erase_all_namespaces: bool = False  # FNA bit 1
    crypto_erase_format: bool = False  # FNA bit 2
    sanitize_crypto: bool = False  # SANICAP bit 0
    sanitize_block: bool = False  # SANICAP bit 1
    sanitize_overwrite: bool = False  # SANICAP bit 2
    current_lbaf: int = 0
    lba_bytes: int | None = None


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            return 0
    return 0


def parse_id_ctrl(text: str) -> NvmeCapabilities:
    """Parse ``nvme id-ctrl -o json``."""
    data = json.loads(text)
    oacs, fna, sanicap = _int(data.get("oacs")), _int(data.get("fna")), _int(data.get("sanicap"))
    return NvmeCapabilities(
        model=str(data.get("mn", "")).strip(),
        serial=str(data.get("sn", "")).strip(),
        firmware=str(data.get("fr", "")).strip(),
        max_namespaces=_int(data.get("nn")) or 1,
        format_supported=bool(oacs & 0x2),
        format_all_namespaces=bool(fna & 0x1),
        secure_erase_all_namespaces=bool(fna & 0x2),
        crypto_erase_format=bool(fna & 0x4),
        sanitize_crypto=bool(sanicap & 0x1),
        sanitize_block=bool(sanicap & 0x2),
        sanitize_overwrite=bool(sanicap & 0x4),
    )


def apply_id_ns(caps: NvmeCapabilities, text: str) -> None:
    """Add the namespace's current LBA format from ``nvme id-ns -o json``."""
    data = json.loads(text)
    flbas = _int(data.get("flbas"))
    caps.current_lbaf = (flbas & 0xF) | ((flbas >> 1) & 0x30)
    formats = data.get("lbafs") or []
    if isinstance(formats, list) and caps.current_lbaf < len(formats):
        ds = _int(formats[caps.current_lbaf].get("ds"))
        caps.lba_bytes = 1 << ds if ds else None


def controller_of(kname: str) -> tuple[str, int]:
    """``nvme0n1`` -> (``/dev/nvme0``, namespace id 1)."""
    match = re.match(r"^(nvme\d+)(?:c\d+)?n(\d+)$", kname)
    if match is None:
        return "/dev/" + kname, 1
    nsid_file = SYS_BLOCK / kname / "nsid"
    nsid_text = nsid_file.read_text().strip() if nsid_file.exists() else match.group(2)
    return "/dev/" + match.group(1), int(nsid_text) if nsid_text.isdigit() else 1


def active_namespaces(kname: str) -> list[str]:
    """Block devices of the namespaces of ``kname``'s controller (nvme0n1, nvme0n2...)."""
    ctrl = controller_of(kname)[0].removeprefix("/dev/")
    return sorted(
        p.name for p in SYS_BLOCK.glob(f"{ctrl}n*") if re.fullmatch(rf"{ctrl}(?:c\d+)?n\d+", p.name)
    )


def detect(kname: str) -> tuple[NvmeCapabilities | None, list[CommandResult]]:
    ctrl, _nsid = controller_of(kname)
    log = [run(["nvme", "id-ctrl", "-o", "json", ctrl])]
    try:
        caps = parse_id_ctrl(log[0].stdout)
    except (ValueError, AttributeError):
        return None, log
    ns = run(["nvme", "id-ns", "-o", "json", "/dev/" + kname])
    log.append(ns)
    with contextlib.suppress(ValueError, AttributeError):
        apply_id_ns(caps, ns.stdout)
    return caps, log


def run_format(kname: str, method: str, lbaf: int, *, timeout_s: float) -> FirmwareOutcome:
    ses = "2" if method == "nvme-format-crypto" else "1"
    result = run(
        [
            "nvme",
            "format",
            "/dev/" + kname,
            f"--ses={ses}",
            f"--lbaf={lbaf}",
            "--force",
            f"--timeout={int(timeout_s * 1000)}",
        ],
        timeout=timeout_s + 30,
    )
    # nvme-cli prints this once the controller completed the command; a later step of the
    # tool (re-reading the partition table, a reset) may still fail and set the exit status.
    # The sampled read-back afterwards is what proves the data is gone.
    ok = "Success formatting namespace" in result.stdout
    detail = (
        f"Format NVM completed (nvme-cli exit status {result.returncode})"
        if ok
        else f"Format NVM failed: {(result.stderr or result.stdout).strip()[:200]}"
    )
    return FirmwareOutcome(ok, detail, [result])


def _find_key(data: Any, key: str) -> Any:
    if isinstance(data, dict):
        if key in data:
            return data[key]
        for value in data.values():
            found = _find_key(value, key)
            if found is not None:
                return found
    return None


def parse_sanitize_log(text: str) -> tuple[int, float] | None:
    """(SSTAT status 0-7, progress 0..1) from ``nvme sanitize-log -o json``.

    nvme-cli 2.x nests the log under the device name and SSTAT as an object whose status is
    a string "(1) Most Recent Sanitize Command Completed Successfully."; older versions gave
    the raw register. Status: 0 never sanitized, 1 done, 2 in progress, 3 failed, 4 done
    without deallocation.
    """
    try:
        data = json.loads(text)
    except ValueError:
        return None
    sstat = _find_key(data, "sstat")
    sprog = _int(_find_key(data, "sprog"))
    if isinstance(sstat, dict):
        for value in sstat.values():
            match = re.match(r"^\((\d+)\)", value) if isinstance(value, str) else None
            if match:
                return int(match.group(1)), sprog / 65536
        return None
    if sstat is None:
        return None
    return _int(sstat) & 0x7, sprog / 65536


def run_sanitize(
    kname: str,
    method: str,
    *,
    timeout_s: float,
    on_progress: Callable[[float, str], None],
    poll_s: float = 5.0,
) -> FirmwareOutcome:
    ctrl, _nsid = controller_of(kname)
    action = {"nvme-sanitize-crypto": "4", "nvme-sanitize-block": "2"}[method]
    log = [run(["nvme", "sanitize", ctrl, f"--sanact={action}"], timeout=120)]
    if log[0].returncode != 0:
        return FirmwareOutcome(False, "the controller refused SANITIZE", log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = run(["nvme", "sanitize-log", "-o", "json", ctrl])
        parsed = parse_sanitize_log(status.stdout)
        if parsed is None:
            log.append(status)
            return FirmwareOutcome(False, "unreadable sanitize log", log)
        state, fraction = parsed
        if state == 2:
            on_progress(fraction, "SANITIZE in progress")
            time.sleep(poll_s)
            continue
        log.append(status)
        if state in (1, 4):
            return FirmwareOutcome(True, f"SANITIZE completed (status {state})", log)
        return FirmwareOutcome(False, f"SANITIZE did not complete (status {state})", log)
    return FirmwareOutcome(False, "SANITIZE still running past its time limit", log)
