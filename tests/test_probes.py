"""The design card's libraries as live probes: psutil, py-cpuinfo and pyudev on this machine,
recorded into an evidence bundle and replayed from it; each declared core dependency is used."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from bench_agent.inventory import probes
from bench_agent.inventory.checks import cpu_load
from bench_agent.inventory.collect import collect_cpu, collect_inventory
from bench_agent.inventory.evidence import EvidenceSource, LiveSource
from tests.conftest import FIXTURES, LoopFactory, require_tool

ROOT = Path(__file__).resolve().parents[1]


def _meminfo_kb(key: str) -> int:
    text = Path("/proc/meminfo").read_text(encoding="utf-8")
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    assert match, key
    return int(match.group(1))


# --- psutil ---------------------------------------------------------------------------------


def test_psutil_free_memory_is_the_kernels_figure() -> None:
    available = probes.memory_available()
    assert available is not None
    kernel = _meminfo_kb("MemAvailable") * 1024
    # Both read at nearly the same moment; other tests run beside this one.
    assert abs(available - kernel) < max(64 << 20, kernel // 10)


def test_psutil_temperatures_are_every_sensor_sysfs_has() -> None:
    temps = probes.temperatures()
    hwmon = list(Path("/sys/class/hwmon").glob("hwmon*/temp*_input"))
    zones = list(Path("/sys/class/thermal").glob("thermal_zone*/temp"))
    if not hwmon and not zones:
        assert temps == {}  # this VM: no sensor at all, the check says "skipped"
    else:
        assert temps and all(-40 < t < 150 for t in temps.values())


def test_psutil_sees_each_core_busy_under_the_load() -> None:
    busy = probes.cpu_busy_sampler()
    ok, _rounds = cpu_load(os.cpu_count() or 1, 0.5)
    per_core = busy()
    assert ok
    assert len(per_core) == os.cpu_count()
    assert all(0.0 <= p <= 100.0 for p in per_core)
    assert max(per_core) > 30.0  # the hashing threads did load the machine


# --- py-cpuinfo -----------------------------------------------------------------------------


def _cpuinfo_without_model_name() -> str:
    text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    return "".join(
        line + "\n"
        for line in text.splitlines()
        if not line.startswith(("model name", "vendor_id"))
    )


def test_cpuid_fills_what_the_kernel_left_unknown_and_replays(tmp_path: Path) -> None:
    # A kernel that prints no model name (as some old or odd kernels do): the live root is a
    # copy of this machine's /proc/cpuinfo without it, so py-cpuinfo's CPUID probe must run.
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc/cpuinfo").write_text(_cpuinfo_without_model_name(), encoding="utf-8")
    bundle = tmp_path / "bundle"
    live = collect_cpu(LiveSource(root=root, save_to=bundle))
    expected = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    model = re.search(r"^model name\s*:\s*(.+)$", expected, re.MULTILINE)
    vendor = re.search(r"^vendor_id\s*:\s*(.+)$", expected, re.MULTILINE)
    assert model and vendor
    assert live.model == " ".join(model.group(1).split())
    assert live.vendor == vendor.group(1).strip()
    assert (bundle / probes.CPUID_FILE).is_file()
    assert collect_cpu(EvidenceSource(bundle)) == live


def test_cpuid_probe_stays_off_the_usual_path(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    cpu = collect_cpu(LiveSource(save_to=bundle))
    assert cpu.model and cpu.vendor
    assert not (bundle / probes.CPUID_FILE).exists()


# --- pyudev ---------------------------------------------------------------------------------


def test_pyudev_reads_the_properties_of_each_disk_lsblk_lists() -> None:
    # libudev answers for every disk, with udevd or without (then only the kernel's keys).
    for block in Path("/sys/block").iterdir():
        major, minor = (block / "dev").read_text("utf-8").strip().split(":")
        props = probes._pyudev_properties("block", "", os.makedev(int(major), int(minor)))
        assert props["DEVNAME"] == f"/dev/{block.name}" and props["SUBSYSTEM"] == "block"


def test_udev_entry_replays_the_recorded_database_entry(tmp_path: Path) -> None:
    entry = "E:ID_CDROM=1\nE:ID_CDROM_DVD=1\nE:ID_MODEL=DVD-ROM_GDR8163B\n"
    (tmp_path / "run/udev/data").mkdir(parents=True)
    (tmp_path / "run/udev/data/b11:0").write_text(entry, encoding="utf-8")
    source = EvidenceSource(tmp_path)
    assert probes.udev_entry(source, "run/udev/data/b11:0", "block", "") == entry
    assert probes.udev_entry(source, "run/udev/data/b8:0", "block", "") is None


def test_live_udev_entries_are_recorded_only_with_udevs_properties(tmp_path: Path) -> None:
    # Without udevd (this VM, usually) libudev knows only the kernel's keys: the fallbacks
    # answer and the bundle holds no udev entry, as before pyudev. Where udevd filled its
    # database, each entry with udev's ID_* properties is recorded and replays the same.
    data = Path("/run/udev/data")
    assert probes.udevd_runs() == (data.is_dir() and any(data.iterdir()))
    bundle = tmp_path / "bundle"
    live = collect_inventory(save_evidence=bundle, smart=False)
    recorded = list((bundle / "run/udev/data").glob("*"))
    if not probes.udevd_runs():
        assert recorded == []
    assert all("E:ID_" in p.read_text("utf-8") for p in recorded)
    replay = collect_inventory(evidence_dir=bundle)
    assert [d.model_dump() for d in replay.disks] == [d.model_dump() for d in live.disks]


def test_a_bundle_with_udev_entries_replays_them(tmp_path: Path) -> None:
    # The recorded Debian VM plus the udev entry its disk has where udevd runs.
    bundle = tmp_path / "vm"
    shutil.copytree(FIXTURES / "evidence" / "debian12-vm", bundle)
    (bundle / "run/udev/data").mkdir(parents=True)
    (bundle / "run/udev/data/b254:0").write_text(
        "E:DEVNAME=/dev/vda\nE:ID_MODEL=QEMU_HARDDISK\nE:ID_SERIAL_SHORT=QM00001\n",
        encoding="utf-8",
    )
    vda = next(d for d in collect_inventory(evidence_dir=bundle).disks if d.name == "vda")
    assert (vda.model, vda.serial) == ("QEMU HARDDISK", "QM00001")


# --- pySMART -------------------------------------------------------------------------------

# Real texts pySMART's parser reads: `smartctl --all` layout (ATA) and NVMe (-x = --all there).
PYSMART_TEXTS = sorted((FIXTURES / "smartctl").glob("nvme-*.txt")) + sorted(
    (FIXTURES / "smartctl-all").glob("*.txt")
)


def _one_sata_disk_bundle(where: Path, text: str, pysmart_text: str | None) -> Path:
    """A bundle of one SATA disk ``sda``: lsblk's entry, ``smartctl -x`` and pySMART's call."""
    vm = json.loads((FIXTURES / "evidence/debian12-vm/lsblk.json").read_text("utf-8"))
    node = next(n for n in vm["blockdevices"] if n["name"] == "vda")
    node.update(
        name="sda",
        kname="sda",
        path="/dev/sda",
        tran="sata",
        vendor="ATA",
        mountpoint=None,
        mountpoints=[None],
        fsroots=[None],
        subsystems="block:scsi:pci",
    )
    node["maj:min"] = "8:0"
    where.mkdir(parents=True)
    (where / "lsblk.json").write_text(json.dumps({"blockdevices": [node]}), "utf-8")
    (where / "smartctl").mkdir()
    (where / "smartctl/sda.txt").write_text(text, "utf-8")
    if pysmart_text is not None:
        kind = "nvme" if "NVMe" in text else "ata"
        folder = where / probes.pysmart_folder("sda")
        folder.mkdir(parents=True)
        (folder / f"_-d_{kind}_--all__dev_sda").write_text(pysmart_text, "utf-8")
    return where


def test_pysmart_and_our_parser_agree_on_every_real_text_both_read(tmp_path: Path) -> None:
    assert len(PYSMART_TEXTS) == 7  # six NVMe drives and one SATA SSD
    for path in PYSMART_TEXTS:
        text = path.read_text("utf-8")
        ours = collect_inventory(
            evidence_dir=_one_sata_disk_bundle(tmp_path / path.stem, text, None)
        )
        both = collect_inventory(
            evidence_dir=_one_sata_disk_bundle(tmp_path / f"{path.stem}-pysmart", text, text)
        )
        assert both.warnings == ours.warnings, path.name
        assert both.disks[0].smart == ours.disks[0].smart, path.name
        assert ours.disks[0].smart.available, path.name


def test_pysmart_is_the_source_of_temperature_and_nvme_health(tmp_path: Path) -> None:
    text = (FIXTURES / "smartctl/nvme-wdc-sn520-9eb947-critical-warning.txt").read_text("utf-8")
    assert "Temperature:                        45 Celsius" in text
    assert "Percentage Used:                    0%" in text
    # pySMART's recorded call says otherwise than the -x text: its reading wins on its fields.
    altered = text.replace(
        "Temperature:                        45 Celsius",
        "Temperature:                        51 Celsius",
    ).replace("Percentage Used:                    0%", "Percentage Used:                    7%")
    disk = collect_inventory(
        evidence_dir=_one_sata_disk_bundle(tmp_path / "b", text, altered)
    ).disks[0]
    assert disk.smart.temperature_c == 51
    assert disk.smart.nvme_percentage_used == 7
    assert disk.smart.nvme_critical_warning == 4 and disk.smart.overall == "FAILED"


def test_pysmart_that_cannot_read_a_text_leaves_our_reading(tmp_path: Path) -> None:
    # -x's brief attribute layout ("PO--CK") makes pySMART's ATA parser raise: a warning, and
    # the SMART data stays our parser's.
    text = (FIXTURES / "smartctl/seagate-st3250820as-401923.txt").read_text("utf-8")
    alone = collect_inventory(evidence_dir=_one_sata_disk_bundle(tmp_path / "a", text, None))
    both = collect_inventory(evidence_dir=_one_sata_disk_bundle(tmp_path / "b", text, text))
    assert both.disks[0].smart == alone.disks[0].smart
    assert any(w.startswith("pySMART could not read sda") for w in both.warnings)


@pytest.mark.device
def test_pysmart_runs_smartctl_live_records_and_replays(
    make_loop: LoopFactory, tmp_path: Path
) -> None:
    require_tool("smartctl")
    loop = make_loop(4 << 20)
    bundle = tmp_path / "bundle"
    live_source = LiveSource(save_to=bundle)
    folder = probes.pysmart_folder(loop.name)
    pysmart = probes._import_pysmart()
    live = pysmart.Device(
        str(loop), interface="scsi", smartctl=probes._source_smartctl(live_source, folder)
    )
    # Every smartctl call pySMART made (its --all and the PHY logs it probes) is in the bundle.
    recorded = {p.name for p in (bundle / folder).iterdir()}
    assert f"_-d_scsi_--all__dev_{loop.name}" in recorded
    assert recorded == {probes._pysmart_rel("", c).lstrip("/") for c in live.smartctl.calls}
    replay = pysmart.Device(
        str(loop),
        interface="scsi",
        smartctl=probes._source_smartctl(EvidenceSource(bundle), folder),
    )
    assert (replay.model, replay.serial, replay.smart_capable) == (
        live.model,
        live.serial,
        live.smart_capable,
    )


def test_importing_pysmart_leaves_the_language_alone() -> None:
    # A fresh process: pySMART's import-time LANG=C happens only once per process.
    code = (
        "import os, sys; from bench_agent.inventory import probes; "
        "probes._import_pysmart(); assert 'pySMART' in sys.modules; print(os.environ['LANG'])"
    )
    env = {**os.environ, "LANG": "fr_FR.UTF-8"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "fr_FR.UTF-8"


def test_a_bundle_the_bench_recorded_live_replays_into_its_live_inventory() -> None:
    # The i686 live image in QEMU (IDE disk with emulated SMART, udevd running) recorded it:
    # pySMART's smartctl calls and pyudev's udev entries replay into what it read live.
    folder = FIXTURES / "evidence-live" / "qemu-old-pc"
    bundle = folder / "bundle"
    pysmart_calls = {p.name for p in (bundle / probes.pysmart_folder("sda")).iterdir()}
    assert pysmart_calls == {"_-d_ata_--all__dev_sda", "_-d_ata_-l_sataphy__dev_sda"}
    assert "E:ID_SERIAL_SHORT=5JV0OLD1" in (bundle / "run/udev/data/b8:0").read_text("utf-8")
    live = json.loads((folder / "live-inventory.json").read_text("utf-8"))
    replay = collect_inventory(evidence_dir=bundle).model_dump(mode="json")
    assert (live.pop("source"), replay.pop("source")) == ("live", "evidence")
    assert replay == live
    disk = replay["disks"][0]
    assert disk["smart"]["temperature_c"] == 31 and disk["smart"]["overall"] == "PASSED"
    assert replay["optical"][0]["can_read_dvd"] is True  # udev's ID_CDROM_DVD, via pyudev


# --- every declared core dependency is imported by the product -------------------------------


def _imported_top_modules() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "bench_agent").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_every_declared_core_dependency_is_imported() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def norm(name: str) -> str:  # PEP 503: tomli-w and tomli_w are one distribution
        return re.sub(r"[-_.]+", "-", name).lower()

    declared = {
        norm(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]
    }
    imported = _imported_top_modules()
    used: set[str] = set()
    for module, dists in packages_distributions().items():
        if module in imported:
            used |= {norm(d) for d in dists}
    assert declared - used == set(), "declared in pyproject.toml, imported nowhere"
