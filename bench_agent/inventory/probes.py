"""Live probes through the libraries the design card names: pyudev, psutil and py-cpuinfo.

Each probe that feeds the inventory goes through a :class:`Source`, so what a library saw on
the live machine is recorded in the evidence bundle and replayed from it without the library:

- **pyudev** (libudev) gives a device's udev properties (``ID_MODEL``, ``ID_CDROM_DVD_R``...).
  Recorded as ``run/udev/data/<id>``, the name and ``E:KEY=VALUE`` layout of udev's own
  database entry, so bundles recorded before (which copied that file) replay unchanged. Used
  only where udevd runs (``/run/udev/data`` exists): without it libudev knows only the kernel's
  uevent keys and the callers keep their fallbacks (``cdrom_id``, ``/proc/sys/dev/cdrom/info``).
- **py-cpuinfo**'s CPUID probe, only when ``/proc/cpuinfo`` and ``lscpu`` left the vendor or the
  model unknown: it costs about 1.2 s (it runs the instruction in a child process), so it never
  runs on the usual path. Recorded as ``py-cpuinfo/cpuid.json``.
- **psutil** for what the automatic checks read live (free memory, temperatures, per-core
  load); those checks run on the machine itself and are never replayed.

The libraries are imported inside the functions: the application's start-up stays lean on a
Pentium 4, and a machine without libudev still gets an inventory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench_agent.inventory.evidence import Source

UDEV_DATA = Path("/run/udev/data")
CPUID_FILE = "py-cpuinfo/cpuid.json"


def udevd_runs() -> bool:
    """udevd keeps its database under /run/udev/data; without it libudev knows no ID_* keys."""
    return UDEV_DATA.is_dir()


def _udev_text(properties: dict[str, str]) -> str:
    return "".join(f"E:{key}={value}\n" for key, value in sorted(properties.items()))


def _pyudev_properties(subsystem: str, sys_name: str, devnum: int | None) -> dict[str, str]:
    import pyudev

    context = pyudev.Context()
    if devnum is not None:
        device = pyudev.Devices.from_device_number(context, subsystem, devnum)
    else:
        device = pyudev.Devices.from_name(context, subsystem, sys_name)
    return {str(k): str(v) for k, v in device.properties.items()}


def udev_entry(source: Source, rel: str, subsystem: str, sys_name: str) -> str | None:
    """Text of the udev entry ``rel`` (``run/udev/data/b8:0``, ``run/udev/data/+sound:card0``).

    Live with udevd: asked of libudev through pyudev and recorded under ``rel``. Live without
    udevd: the plain read (absent, so callers fall back). Replay: the recorded file.
    """
    if not source.live or not udevd_runs():
        return source.read(rel)
    devnum: int | None = None
    if rel.startswith("run/udev/data/b"):
        major, _sep, minor = rel.rsplit("/b", 1)[1].partition(":")
        if not (major.isdigit() and minor.isdigit()):
            return None
        devnum = os.makedev(int(major), int(minor))

    if not _has_pyudev():
        return source.read(rel)
    try:
        props = _pyudev_properties(subsystem, sys_name, devnum)
    except Exception:  # pyudev raises its own DeviceNotFound*Error for a vanished device
        return None
    if not any(key.startswith("ID_") for key in props):
        return None  # udevd has not processed this device: no entry, as in udev's database
    text = _udev_text(props)
    return source.value(rel, lambda: text)


def _has_pyudev() -> bool:
    try:
        import pyudev  # noqa: F401
    except (ImportError, OSError):  # OSError: libudev.so.1 missing
        return False
    return True


def list_udev_devices(subsystem: str, **properties: str) -> list[tuple[str, dict[str, str]]]:
    """(sys_name, properties) of the live devices of ``subsystem`` that udev knows."""
    import pyudev

    context = pyudev.Context()
    found = context.list_devices(subsystem=subsystem, **properties)
    return [(d.sys_name, {str(k): str(v) for k, v in d.properties.items()}) for d in found]


# --- py-cpuinfo ----------------------------------------------------------------------------


def _cpuid_json() -> str:
    from cpuinfo import cpuinfo

    info = cpuinfo._get_cpu_info_from_cpuid()  # the CPUID part only: no /proc re-read
    keep = ("vendor_id_raw", "brand_raw", "family", "model", "stepping", "flags")
    return json.dumps({k: info[k] for k in keep if k in info}, indent=2, sort_keys=True) + "\n"


def cpuid_facts(source: Source) -> dict[str, Any]:
    """What the CPUID instruction says (vendor, brand string, family/model/stepping, flags).

    Live: py-cpuinfo's CPUID probe (about 1.2 s), recorded as ``py-cpuinfo/cpuid.json``.
    Replay: that file. Empty when the CPU has no CPUID (i486) or the probe failed.
    """
    text = source.value(CPUID_FILE, _cpuid_json)
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# --- psutil (live checks) ------------------------------------------------------------------


def memory_available() -> int | None:
    """Bytes the kernel can give a new program now (psutil computes it on kernels before
    MemAvailable existed, where /proc/meminfo's MemFree alone undercounts the page cache)."""
    import psutil

    try:
        return int(psutil.virtual_memory().available)
    except (OSError, RuntimeError):
        return None


def temperatures() -> dict[str, float]:
    """Every temperature sensor psutil reads (hwmon, then thermal zones) in °C, by name."""
    import psutil

    try:
        sensors = psutil.sensors_temperatures()
    except (OSError, RuntimeError, AttributeError):
        return {}
    temps: dict[str, float] = {}
    for chip, entries in sensors.items():
        for index, entry in enumerate(entries, start=1):
            if -40 < entry.current < 150:
                temps[f"{chip}/{entry.label or f'temp{index}'}"] = float(entry.current)
    return temps


def cpu_busy_sampler() -> Any:
    """Start measuring per-core use; call the result to get each core's busy % since then."""
    import psutil

    psutil.cpu_percent(percpu=True)  # the first call sets the reference point

    def busy() -> list[float]:
        return [float(p) for p in psutil.cpu_percent(percpu=True)]

    return busy
