"""Codes the bench stores (criterion ids, wipe methods, verification modes) said in words, in
the language shown: an operator reads "Disque sdb : santé", never ``disk.sdb.health``."""

from __future__ import annotations

import re

from bench_agent.i18n import N_, _
from bench_agent.workflow.guided import CHECK_TITLES

CRITERIA = {
    "ram": N_("Memory"),
    "cpu.sse2": N_("Processor: SSE2 instructions"),
    "cpu.64bit": N_("Processor: 64-bit"),
    "cpu.pae": N_("Processor: PAE"),
    "cpu.speed": N_("Processor: speed"),
    "cpu.threads": N_("Processor: cores"),
    "disk.capacity": N_("Disk space"),
    "disk.ssd": N_("Solid-state disk"),
    "optical": N_("Optical drive"),
    "sound": N_("Sound card"),
    "network": N_("Network interface"),
}
# Per-disk and per-check criteria: "disk.sdb.health", "guided.keyboard", "auto.cpu.load".
_DISK = re.compile(r"disk\.([A-Za-z0-9_-]+)\.health")

METHODS = {
    "zero": N_("zeros"),
    "random": N_("random data"),
    "nvme-sanitize-crypto": N_("NVMe sanitize (cryptographic)"),
    "nvme-sanitize-block": N_("NVMe sanitize (block erase)"),
    "nvme-format-crypto": N_("NVMe format (cryptographic)"),
    "nvme-format-user-data": N_("NVMe format (user data)"),
    "ata-sanitize-crypto": N_("ATA sanitize (cryptographic)"),
    "ata-sanitize-block": N_("ATA sanitize (block erase)"),
    "ata-sanitize-overwrite": N_("ATA sanitize (overwrite)"),
    "ata-secure-erase-enhanced": N_("ATA secure erase (enhanced)"),
    "ata-secure-erase": N_("ATA secure erase"),
}
VERIFICATIONS = {
    "full": N_("everything read back"),
    "sample": N_("samples read back (10 %)"),
    "none": N_("no read-back"),
}


def criterion_words(criterion_id: str) -> str:
    if criterion_id in CRITERIA:
        return _(CRITERIA[criterion_id])
    disk = _DISK.fullmatch(criterion_id)
    if disk:
        return _("Disk {name}: health", name=disk.group(1))
    kind, _sep, rest = criterion_id.partition(".")
    if kind == "guided" and rest in CHECK_TITLES:
        return _("Guided check: {name}", name=_(CHECK_TITLES[rest]))
    if kind == "auto" and rest:
        return _("Automatic check: {name}", name=rest)
    return criterion_id


def method_words(method: str) -> str:
    return _(METHODS[method]) if method in METHODS else method


def verification_words(mode: str) -> str:
    return _(VERIFICATIONS[mode]) if mode in VERIFICATIONS else mode
