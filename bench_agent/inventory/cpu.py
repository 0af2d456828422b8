"""CPU facts from ``/proc/cpuinfo`` and/or ``lscpu`` text (both are kept in evidence bundles).

Those two texts are parsed here directly: they hold what grading needs, and py-cpuinfo's full
probe costs about 1.2 s (it runs CPUID in a child process) on every inventory. py-cpuinfo's
CPUID probe is asked only where it adds to them: when the kernel left the vendor or the model
name unknown (:func:`merge_cpuid`, fed by ``bench_agent.inventory.probes.cpuid_facts``).
"""

from __future__ import annotations

import re

from bench_agent.models.inventory import Cpu


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    match = re.match(r"\s*(-?\d+)", text)
    return int(match.group(1)) if match else None


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    match = re.match(r"\s*(\d+(?:[.,]\d+)?)", text)
    return float(match.group(1).replace(",", ".")) if match else None


def rated_mhz_from_name(model_name: str) -> float | None:
    """The frequency printed in the model name ("... CPU 3.06GHz", "@ 2.40GHz", "1000MHz")."""
    match = re.search(r"(\d+(?:\.\d+)?)\s*([GM])Hz", model_name, re.IGNORECASE)
    if not match:
        return None
    value = float(match.group(1))
    return round(value * 1000, 1) if match.group(2).upper() == "G" else value


def _finish(cpu: Cpu) -> Cpu:
    flags = set(cpu.flags)
    cpu.is_64bit = "lm" in flags
    cpu.has_pae = "pae" in flags
    cpu.has_sse2 = "sse2" in flags
    cpu.model = " ".join(cpu.model.split())
    return cpu


def parse_cpuinfo(text: str) -> Cpu:
    """Parse ``/proc/cpuinfo`` (x86 layout; other architectures give what they can)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key.strip().lower()] = value.strip()
    if current:
        blocks.append(current)
    processors = [b for b in blocks if "processor" in b] or blocks
    cpu = Cpu()
    if not processors:
        return cpu
    first = processors[0]
    cpu.vendor = first.get("vendor_id", "")
    cpu.model = first.get("model name", "") or first.get("cpu model", "")
    cpu.family = _int(first.get("cpu family"))
    cpu.model_number = _int(first.get("model"))
    cpu.stepping = _int(first.get("stepping"))
    cpu.flags = sorted(set(first.get("flags", "").split()))
    cpu.logical_cpus = max(1, len(processors))
    cores = {(b.get("physical id", "0"), b.get("core id")) for b in processors if "core id" in b}
    sockets = {b["physical id"] for b in processors if "physical id" in b}
    cpu.sockets = len(sockets) if sockets else None
    if cores:
        cpu.physical_cores = len(cores)
    elif "cpu cores" in first:
        cpu.physical_cores = (_int(first["cpu cores"]) or 1) * max(1, len(sockets))
    else:
        # Old uniprocessor kernels print neither core id nor cpu cores: one core per entry,
        # unless the "ht" flag and "siblings" say two threads share one core.
        siblings = _int(first.get("siblings"))
        if siblings and siblings > 1 and len(processors) == siblings:
            cpu.physical_cores = 1
        else:
            cpu.physical_cores = len(processors)
    cpu.mhz = rated_mhz_from_name(cpu.model) or _float(first.get("cpu mhz"))
    return _finish(cpu)


def parse_lscpu(text: str) -> Cpu:
    """Parse the text output of ``lscpu`` (any util-linux layout, English locale)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip().lower() not in fields:
            fields[key.strip().lower()] = value.strip()
    cpu = Cpu()
    cpu.vendor = fields.get("vendor id", "")
    cpu.model = fields.get("model name", "")
    cpu.family = _int(fields.get("cpu family"))
    cpu.model_number = _int(fields.get("model"))
    cpu.stepping = _int(fields.get("stepping"))
    cpu.flags = sorted(set(fields.get("flags", "").split()))
    cpu.logical_cpus = _int(fields.get("cpu(s)")) or 1
    sockets = _int(fields.get("socket(s)"))
    per_socket = _int(fields.get("core(s) per socket"))
    if per_socket is None and sockets is None:
        per_socket = _int(fields.get("core(s) per cluster"))
    cpu.sockets = sockets
    if per_socket is not None:
        cpu.physical_cores = per_socket * (sockets or 1)
    else:
        threads = _int(fields.get("thread(s) per core")) or 1
        cpu.physical_cores = max(1, cpu.logical_cpus // threads)
    cpu.arch = fields.get("architecture", "")
    cpu.mhz = (
        _float(fields.get("cpu max mhz"))
        or rated_mhz_from_name(cpu.model)
        or _float(fields.get("cpu mhz"))
    )
    return _finish(cpu)


def merge_cpuid(cpu: Cpu, cpuid: dict[str, object]) -> Cpu:
    """Fill what the kernel left unknown from CPUID (py-cpuinfo); never overrides the kernel."""
    if not cpuid:
        return cpu
    cpu = cpu.model_copy()
    vendor, brand = cpuid.get("vendor_id_raw"), cpuid.get("brand_raw")
    if not cpu.vendor and isinstance(vendor, str):
        cpu.vendor = vendor.strip()
    if not cpu.model and isinstance(brand, str):
        cpu.model = brand.strip()
        cpu.mhz = cpu.mhz or rated_mhz_from_name(cpu.model)
    for ours, theirs in (("family", "family"), ("model_number", "model"), ("stepping", "stepping")):
        value = cpuid.get(theirs)
        if getattr(cpu, ours) is None and isinstance(value, int):
            setattr(cpu, ours, value)
    flags = cpuid.get("flags")
    if not cpu.flags and isinstance(flags, list):
        cpu.flags = sorted({str(f) for f in flags})
    return _finish(cpu)


def merge_cpu(cpuinfo: Cpu | None, lscpu: Cpu | None, arch: str = "") -> Cpu:
    """One CPU from both sources: cpuinfo's per-processor facts, lscpu's topology."""
    if cpuinfo is None and lscpu is None:
        return Cpu(arch=arch)
    if cpuinfo is None:
        assert lscpu is not None
        cpu = lscpu.model_copy()
    elif lscpu is None:
        cpu = cpuinfo.model_copy()
    else:
        cpu = cpuinfo.model_copy()
        for name in ("vendor", "model"):
            if not getattr(cpu, name):
                setattr(cpu, name, getattr(lscpu, name))
        for name in ("family", "model_number", "stepping", "mhz"):
            if getattr(cpu, name) is None:
                setattr(cpu, name, getattr(lscpu, name))
        if not cpu.flags:
            cpu.flags = lscpu.flags
        if lscpu.sockets is not None:
            cpu.sockets = lscpu.sockets
        if lscpu.physical_cores is not None:
            cpu.physical_cores = lscpu.physical_cores
        cpu.logical_cpus = max(cpu.logical_cpus, lscpu.logical_cpus)
        if lscpu.arch:
            cpu.arch = lscpu.arch
    if arch:
        cpu.arch = arch
    return _finish(cpu)
