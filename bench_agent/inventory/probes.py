"""Live probes through the libraries the design card names: pyudev, psutil and py-cpuinfo.

Each probe that feeds the inventory goes through a :class:`Source`, so what a library saw on
the live machine is recorded in the evidence bundle and replayed from it without the library:

- **pyudev** (libudev) gives a device's udev properties (``ID_MODEL``, ``ID_CDROM_DVD_R``...).
  Recorded as ``run/udev/data/<id>``, the name and ``E:KEY=VALUE`` layout of udev's own
  database entry, so bundles recorded before (which copied that file) replay unchanged. Used
  only where udevd runs (``/run/udev/data`` holds entries): without it libudev knows only the
  kernel's uevent keys and the callers keep their fallbacks (``cdrom_id``,
  ``/proc/sys/dev/cdrom/info``).
- **py-cpuinfo**'s CPUID probe, only when ``/proc/cpuinfo`` and ``lscpu`` left the vendor or the
  model unknown: it costs about 1.2 s (it runs the instruction in a child process), so it never
  runs on the usual path. Recorded as ``py-cpuinfo/cpuid.json``.
- **pySMART** reads SMART: its ``Device`` is given a ``Smartctl`` whose every invocation goes
  through the :class:`Source` (live: smartctl runs and its text is recorded under
  ``smartctl/<disk>.pysmart/`` with pySMART's own dataset naming, ``_-d_ata_--all__dev_sda``;
  replay: the recorded text). See :func:`read_smart_with_pysmart` for which field comes from
  pySMART and which from our parser of ``smartctl -x`` (``bench_agent.inventory.smartctl``).
- **psutil** for what the automatic checks read live (free memory, temperatures, per-core
  load); those checks run on the machine itself and are never replayed.

The libraries are imported inside the functions: the application's start-up stays lean on a
Pentium 4, and a machine without libudev still gets an inventory.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

from bench_agent.inventory.evidence import Source
from bench_agent.inventory.smartctl import SmartctlResult

UDEV_DATA = Path("/run/udev/data")
CPUID_FILE = "py-cpuinfo/cpuid.json"


def udevd_runs() -> bool:
    """udevd has filled its database (/run/udev/data); without it libudev knows no ID_* keys.

    An empty directory is not enough: installing the udev package in a chroot creates it.
    """
    try:
        with os.scandir(UDEV_DATA) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


def _udev_text(properties: dict[str, str]) -> str:
    return "".join(f"E:{key}={value}\n" for key, value in sorted(properties.items()))


@functools.cache
def _udev_context() -> Any:
    # One per process: each Context looks libudev up again (ctypes runs ldconfig -p).
    import pyudev

    return pyudev.Context()


def _pyudev_properties(subsystem: str, sys_name: str, devnum: int | None) -> dict[str, str]:
    import pyudev

    context = _udev_context()
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


# --- pySMART -------------------------------------------------------------------------------


def pysmart_folder(name: str) -> str:
    return f"smartctl/{name}.pysmart"


def _pysmart_rel(folder: str, params: list[str]) -> str:
    # pySMART's own test dataset names a recorded call by its arguments: _-d_ata_--all__dev_sda
    return f"{folder}/_" + "_".join(p.replace("/", "_") for p in params)


_PYSMART_LOCK = threading.Lock()


def _import_pysmart() -> Any:
    # pySMART sets LANG=C for the whole process when first imported (so smartctl speaks
    # English); our own language choice must not change under the operator's feet. The disks
    # are read side by side: one thread imports while the others wait.
    with _PYSMART_LOCK:
        if "pySMART.smartctl" in sys.modules:
            return sys.modules["pySMART"]
        saved = os.environ.get("LANG")
        try:
            import pySMART
            import pySMART.smartctl
        finally:
            if saved is None:
                os.environ.pop("LANG", None)
            else:
                os.environ["LANG"] = saved
        return pySMART


def _source_smartctl(source: Source, folder: str) -> Any:
    """A pySMART ``Smartctl`` that runs (live) or replays (evidence) each call through ``source``."""
    base: Any = _import_pysmart().smartctl.Smartctl

    class SourceSmartctl(base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(smartctl_path="smartctl")
            self.calls: list[list[str]] = []
            self.answers: dict[tuple[str, ...], str | None] = {}

        def generic_call(
            self, params: list[str], pass_options: bool = False
        ) -> tuple[list[str], int]:
            argv = [*(self.options if pass_options else []), *params]
            key = tuple(argv)
            if key not in self.answers:
                # pySMART asks again for the interface on each access (-l sataphy, --all):
                # one reading is one snapshot, so each distinct call runs smartctl once.
                self.calls.append(argv)
                rel = _pysmart_rel(folder, argv)
                self.answers[key] = source.command(rel, ["smartctl", *argv], timeout_s=30)
            text = self.answers[key]
            return (text.splitlines(), 0) if text is not None else ([], 1)

    return SourceSmartctl()


def read_smart_with_pysmart(
    source: Source, name: str, ours: SmartctlResult, interface: str
) -> SmartctlResult:
    """SMART of ``/dev/<name>`` through pySMART's ``Device``, merged over our ``-x`` parse.

    From pySMART (it reads ``smartctl --all``, the layout its parser knows):
    - ``temperature_c``: attribute 194/190, SCSI "Current Drive Temperature" or the NVMe log;
    - the NVMe health log: critical warning, media and data integrity errors, percentage used,
      available spare and its threshold.
    From our parser of ``smartctl -x`` (``ours``), because pySMART lacks them or reads them
    worse: the drive's own overall verdict as written (pySMART folds attribute warnings into
    its "assessment"; grading applies the profile's limits itself), the ATA counters (5, 187,
    197, 198: pySMART reads a raw value as its first number, and a wrapped 48-bit pending
    count or a "Power_On_Half_Minutes" needs our raw-value rules), power-on hours, the
    attribute table and the self-test log (pySMART cannot read ``-x``'s brief attribute
    layout, which every bundle recorded before pySMART holds), identity, capacity, rotation,
    USB bridges and the polling times (pySMART gives defaults where the drive states none).

    A bundle recorded before pySMART has no ``smartctl/<name>.pysmart/``: it replays from our
    parser alone, exactly as it did.
    """
    if not ours.smart.available or ours.device_type == "unknown":
        return ours
    folder = pysmart_folder(name)
    if not source.live and not source.listdir(folder):
        return ours
    if not source.live:
        # The interface the live run used is in the recorded call's name (_-d_sat_--all__dev_sdb).
        recorded = [re.match(r"_-d_([a-z0-9+,]+)_--all_", f) for f in source.listdir(folder)]
        interface = next((m.group(1) for m in recorded if m), interface)
    pysmart = _import_pysmart()
    try:
        device = pysmart.Device(
            f"/dev/{name}", interface=interface, smartctl=_source_smartctl(source, folder)
        )
    except Exception as exc:  # pySMART raises plain ValueError/IndexError on odd texts
        source.warn(f"pySMART could not read {name}: {type(exc).__name__}: {exc}")
        return ours
    merged = ours.model_copy(deep=True)
    smart = merged.smart
    temperature = device.temperature
    if isinstance(temperature, int) and 0 < temperature < 120:
        smart.temperature_c = temperature
    nvme = device.if_attributes if interface == "nvme" else None
    if nvme is not None:
        pairs = (
            ("nvme_critical_warning", "criticalWarning"),
            ("nvme_media_errors", "integrityErrors"),
            ("nvme_percentage_used", "percentageUsed"),
            ("nvme_available_spare", "availableSpare"),
            ("nvme_spare_threshold", "availableSpareThreshold"),
        )
        for field, attribute in pairs:
            value = getattr(nvme, attribute, None)
            if isinstance(value, int):
                setattr(smart, field, value)
    return merged


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
