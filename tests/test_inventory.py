"""Live inventory of this machine, evidence record/replay, and recorded bundles."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench_agent.inventory import collect_inventory
from bench_agent.inventory.devices import parse_asound_cards, parse_cdrom_info, parse_udev_db
from bench_agent.inventory.system import is_junk_identifier, machine_id, parse_dmidecode_memory
from bench_agent.models.inventory import Inventory, System
from tests.conftest import FIXTURES, LoopFactory

P4_BUNDLE = FIXTURES / "evidence" / "pentium4-desktop"
SMARTCTL = FIXTURES / "smartctl"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench_agent.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def comparable(inventory: Inventory) -> dict[str, object]:
    return inventory.model_dump(mode="json", exclude={"collected_at", "source"})


@pytest.mark.device
def test_inventory_json_lists_a_loop_device(make_loop: LoopFactory) -> None:
    loop = make_loop(8 << 20)
    result = cli("inventory", "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert data["cpu"]["logical_cpus"] >= 1 and data["cpu"]["model"]
    assert data["memory"]["total_bytes"] > 64 << 20
    names = {d["name"]: d for d in data["disks"]}
    disk = names[loop.name]
    assert disk["size_bytes"] == 8 << 20
    assert disk["transport"] == "loop"
    assert disk["smart"]["available"] is False
    assert disk["health"] == "unknown"
    # Every whole block device of the machine is there (lsblk's own view, udevd or not).
    lsblk = json.loads(
        subprocess.run(
            ["lsblk", "-J", "-d", "-o", "NAME,TYPE"], capture_output=True, text=True, check=True
        ).stdout
    )
    expected = {d["name"] for d in lsblk["blockdevices"] if d["type"] in ("disk", "loop")}
    assert expected <= set(names)
    assert data["system"]["machine_id"]


@pytest.mark.device
def test_save_live_then_replay_is_identical(tmp_path: Path, make_loop: LoopFactory) -> None:
    make_loop(4 << 20)
    bundle = tmp_path / "bundle"
    live = collect_inventory(save_evidence=bundle)
    assert live.source == "live"
    assert (bundle / "proc" / "cpuinfo").is_file()
    assert (bundle / "proc" / "meminfo").is_file()
    assert (bundle / "lsblk.json").is_file()
    replay = collect_inventory(evidence_dir=bundle)
    assert replay.source == "evidence"
    assert comparable(replay) == comparable(live)
    assert replay.collected_at == live.collected_at  # kept in bench-agent/meta.json


def test_cli_replays_a_saved_bundle_without_the_machine(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    saved = cli("inventory", "--json", "--save-evidence", str(bundle), "--no-smart")
    assert saved.returncode == 0, saved.stderr
    replayed = cli("inventory", "--json", "--evidence", str(bundle))
    assert replayed.returncode == 0, replayed.stderr
    a, b = json.loads(saved.stdout), json.loads(replayed.stdout)
    for doc in (a, b):
        doc.pop("collected_at"), doc.pop("source")
    assert a == b


def test_missing_sources_become_warnings(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    inventory = collect_inventory(evidence_dir=tmp_path)
    assert inventory.disks == []
    assert any("proc/meminfo" in w for w in inventory.warnings)
    assert any("CPU" in w for w in inventory.warnings)
    assert inventory.system.machine_id.startswith("hw-")  # nothing to identify it by


def test_corrupt_lsblk_json_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "lsblk.json").write_text("{not json")
    inventory = collect_inventory(evidence_dir=tmp_path)
    assert any("lsblk.json" in w for w in inventory.warnings)


def test_bundle_of_only_cpuinfo_meminfo_and_smartctl(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    shutil.copy(
        FIXTURES / "cpu" / "amd-epyc-kvm-this-vm.cpuinfo.txt", tmp_path / "proc" / "cpuinfo"
    )
    (tmp_path / "proc" / "meminfo").write_text("MemTotal:        1015808 kB\n")
    (tmp_path / "smartctl").mkdir()
    shutil.copy(SMARTCTL / "samsung-hd160jj-p-7b9ff4.txt", tmp_path / "smartctl" / "sda.txt")
    shutil.copy(
        SMARTCTL / "nvme-intel-660p-e90e91-media-errors.txt", tmp_path / "smartctl" / "nvme0n1.txt"
    )
    shutil.copy(SMARTCTL / "usb-asmt109x-safe-9b5172.txt", tmp_path / "smartctl" / "sdc.txt")
    inventory = collect_inventory(evidence_dir=tmp_path)
    assert inventory.memory.total_bytes == 1015808 * 1024
    assert inventory.cpu.model == "AMD EPYC"
    disks = {d.name: d for d in inventory.disks}
    assert set(disks) == {"sda", "nvme0n1", "sdc"}
    sda = disks["sda"]
    assert (sda.model, sda.size_bytes, sda.firmware) == (
        "SAMSUNG HD160JJ/P",
        160_000_000_000,
        "ZM100-34",
    )
    assert sda.health == "warn"  # 76200 power-on hours
    nvme = disks["nvme0n1"]
    assert (nvme.model, nvme.size_bytes, nvme.transport) == (
        "INTEL SSDPEKNW512G8H",
        512_110_190_592,
        "nvme",
    )
    assert nvme.health == "fail"  # 60 media errors
    assert nvme.rotational is False
    sdc = disks["sdc"]
    assert sdc.transport == "usb" and sdc.bridge == "ASMT109x- Safe"
    assert sdc.health == "pass"


def test_pentium4_bundle_replays() -> None:
    inventory = collect_inventory(evidence_dir=P4_BUNDLE)
    assert inventory.source == "evidence"
    assert str(inventory.collected_at) == "2024-03-14 09:12:40+00:00"
    cpu = inventory.cpu
    assert cpu.model == "Intel(R) Pentium(R) 4 CPU 3.06GHz"
    assert (cpu.family, cpu.model_number, cpu.stepping) == (15, 2, 7)
    assert (cpu.physical_cores, cpu.logical_cpus) == (1, 2)
    assert cpu.has_sse2 and not cpu.is_64bit and cpu.arch == "i686"
    assert inventory.memory.total_bytes == 505264 * 1024
    assert inventory.memory.installed_bytes == 512 << 20
    assert inventory.memory.slots == 4 and len(inventory.memory.modules) == 2
    assert inventory.memory.modules[0].type == "DDR"
    assert inventory.memory.modules[0].speed_mts == 400
    system = inventory.system
    assert (system.vendor, system.product, system.serial) == (
        "Dell Computer Corporation",
        "OptiPlex GX270",
        "4BQ2K1J",
    )
    assert system.chassis == "space-saving"
    assert system.machine_id.startswith("sn-")
    disks = {d.name: d for d in inventory.disks}
    assert disks["sda"].model == "HDS722580VLAT20"
    assert disks["sda"].size_bytes == 82_347_195_904
    assert disks["sda"].transport == "ata"
    assert disks["sda"].health == "warn"
    assert disks["sdb"].model == "ST380011A"
    assert disks["sdb"].health == "fail"
    assert inventory.optical[0].name == "sr0"
    assert inventory.optical[0].can_read_dvd and not inventory.optical[0].can_write_dvd
    assert inventory.optical[0].model == "DVD-ROM GDR8163B"
    assert inventory.sound[0].driver == "snd_intel8x0"
    assert inventory.sound[0].name == "Intel ICH5"
    assert inventory.sound[0].bus == "pci"
    assert inventory.network[0].driver == "e1000" and inventory.network[0].link is True
    # The same bundle replays to the same inventory every time.
    assert comparable(collect_inventory(evidence_dir=P4_BUNDLE)) == comparable(inventory)


def test_evidence_dir_that_does_not_exist_is_exit_2(tmp_path: Path) -> None:
    result = cli("inventory", "--evidence", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nope" in result.stderr.splitlines()[0]


def test_human_output_has_words_and_symbols() -> None:
    result = cli("inventory", "--evidence", str(P4_BUNDLE))
    assert result.returncode == 0, result.stderr
    assert "[x] failing" in result.stdout and "[!] worn" in result.stdout
    french = cli("--lang", "fr", "inventory", "--evidence", str(P4_BUNDLE))
    assert "[x] défaillant" in french.stdout and "Disques" in french.stdout


# --- identity ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "To be filled by O.E.M.",
        "System Serial Number",
        "0",
        "Default string",
        "",
        "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
        "03000200-0400-0500-0006-000700080009",
        "Not Specified",
        "None",
        "  ",
        "..........",
    ],
)
def test_junk_identifiers(value: str) -> None:
    assert is_junk_identifier(value)


@pytest.mark.parametrize("value", ["4BQ2K1J", "CZC4321XYZ", "44454c4c-4200-1051-8032-b4c04f4b314a"])
def test_real_identifiers(value: str) -> None:
    assert not is_junk_identifier(value)


def test_machine_id_is_stable_without_a_serial() -> None:
    junk = System(
        vendor="ASUS",
        product="P5GC",
        serial="To be filled by O.E.M.",
        uuid="00000000-0000-0000-0000-000000000000",
    )
    first = machine_id(junk, macs=["00:1a:92:aa:bb:cc"], disk_serials=["WD-1234", "S1ZX"])
    # Same NIC, disks replaced at the bench (a remediation): still the same machine.
    again = machine_id(junk.model_copy(), macs=["00:1A:92:AA:BB:CC"], disk_serials=["NEW-9"])
    assert first == again and first.startswith("mac-")
    other = machine_id(junk, macs=["00:1a:92:aa:bb:cd"])
    assert other != first
    with_board = machine_id(junk, board_serial="MB-1234567", macs=["00:1a:92:aa:bb:cc"])
    assert with_board.startswith("board-")
    disks_only = machine_id(junk, macs=["00:00:00:00:00:00"], disk_serials=["S1ZX", "WD-1234"])
    assert disks_only == machine_id(junk, disk_serials=["WD-1234", "S1ZX"])
    assert disks_only.startswith("disk-")
    with_uuid = machine_id(junk.model_copy(update={"uuid": "6a1f0e2c-1111-2222-3333-444455556666"}))
    assert with_uuid.startswith("uuid-")
    real = machine_id(System(vendor="Dell", product="GX270", serial="4BQ2K1J"))
    assert real.startswith("sn-") and real == machine_id(
        System(vendor="Dell", product="GX270", serial="4BQ2K1J")
    )


# --- small device parsers ------------------------------------------------------------------


def test_udev_database_entry() -> None:
    text = (
        "S:disk/by-id/ata-X\nI:123\nE:ID_CDROM=1\nE:ID_CDROM_DVD=1\nE:ID_MODEL=DVD_ROM\nG:systemd\n"
    )
    assert parse_udev_db(text) == {"ID_CDROM": "1", "ID_CDROM_DVD": "1", "ID_MODEL": "DVD_ROM"}
    assert parse_udev_db("ID_CDROM=1\nID_CDROM_CD_R=1\n") == {"ID_CDROM": "1", "ID_CDROM_CD_R": "1"}


def test_cdrom_info_two_drives() -> None:
    text = (
        "CD-ROM information, Id: cdrom.c 3.20 2003/12/17\n\n"
        "drive name:\t\tsr1\tsr0\nCan read DVD:\t\t0\t1\nCan write CD-R:\t\t1\t0\n"
    )
    table = parse_cdrom_info(text)
    assert table["sr0"]["can read dvd"] == "1" and table["sr1"]["can write cd-r"] == "1"


def test_asound_cards() -> None:
    cards = parse_asound_cards((P4_BUNDLE / "proc" / "asound" / "cards").read_text())
    assert [(c.card, c.id, c.driver, c.name) for c in cards] == [(0, "ICH5", "ICH4", "Intel ICH5")]


def test_dmidecode_memory_modules() -> None:
    modules, slots = parse_dmidecode_memory((P4_BUNDLE / "dmidecode" / "memory.txt").read_text())
    assert slots == 4
    assert [m.locator for m in modules] == ["DIMM_1", "DIMM_2"]
    assert all(m.manufacturer == "" for m in modules)  # "Not Specified" is not a maker


def lsblk_row(
    name: str,
    fields: dict[str, Any],
    *,
    kind: str = "disk",
    sector: int = 512,
    mountpoints: list[str | None] | None = None,
) -> dict[str, Any]:
    """One device of ``lsblk --json`` output: the keys every row has, then ``fields``."""
    return {
        "name": name,
        "kname": name,
        "path": f"/dev/{name}",
        "type": kind,
        **fields,
        "ro": False,
        "log-sec": sector,
        "phy-sec": sector,
        "mountpoints": mountpoints or [None],
    }


def test_bundle_recorded_with_udevd_running(tmp_path: Path) -> None:
    """With udevd, lsblk names the devices and the udev database adds what sysfs lacks."""
    lsblk = {
        "blockdevices": [
            lsblk_row(
                "sda",
                {
                    "maj:min": "8:0",
                    "size": 250_059_350_016,
                    "model": "Samsung SSD 840 EVO 250GB",
                    "serial": None,
                    "tran": "sata",
                    "rota": True,
                    "rm": False,
                },
            ),
            lsblk_row(
                "sr0",
                {
                    "maj:min": "11:0",
                    "size": 1_073_741_312,
                    "model": "DVD+-RW GH24NSD1",
                    "tran": "sata",
                    "rota": True,
                    "rm": True,
                },
                kind="rom",
                sector=2048,
            ),
        ]
    }
    (tmp_path / "lsblk.json").write_text(json.dumps(lsblk))
    udev = tmp_path / "run" / "udev" / "data"
    udev.mkdir(parents=True)
    (udev / "b8:0").write_text(
        "S:disk/by-id/ata-Samsung_SSD_840\nE:ID_BUS=ata\n"
        "E:ID_SERIAL_SHORT=S1DBNSAF123456X\n"
        "E:ID_ATA_ROTATION_RATE_RPM=0\n"
    )
    (udev / "b11:0").write_text(
        "E:ID_CDROM=1\nE:ID_CDROM_CD_R=1\nE:ID_CDROM_DVD=1\n"
        "E:ID_CDROM_DVD_PLUS_RW=1\nE:ID_VENDOR=HL-DT-ST\n"
        "E:ID_MODEL=DVD+-RW_GH24NSD1\nE:ID_BUS=ata\n"
    )
    (tmp_path / "smartctl").mkdir()
    shutil.copy(SMARTCTL / "ssd-samsung-840evo-7e3c6c.txt", tmp_path / "smartctl" / "sda.txt")
    inventory = collect_inventory(evidence_dir=tmp_path)
    disk = inventory.disks[0]
    assert disk.serial == "S1DBNSAF123456X"  # lsblk had none; udev's ID_SERIAL_SHORT
    assert disk.rotational is False  # lsblk's rota=1 corrected by the drive's 0 rpm
    assert disk.transport == "sata" and disk.health == "warn"  # 63003 power-on hours
    drive = inventory.optical[0]
    assert (drive.vendor, drive.model) == ("HL-DT-ST", "DVD+-RW GH24NSD1")
    assert drive.can_read_dvd and drive.can_write_dvd and drive.can_write_cd
    assert [d.name for d in inventory.disks] == ["sda"]  # the DVD writer is not a disk


def test_bundle_recorded_without_udevd(tmp_path: Path) -> None:
    """No udev database: cdrom_id's own answer for the drive, lsblk's subsystems for USB."""
    lsblk = {
        "blockdevices": [
            lsblk_row(
                "sdb",
                {
                    "maj:min": "8:16",
                    "size": 15_931_539_456,
                    "model": "Cruzer Blade",
                    "tran": None,
                    "rota": False,
                    "rm": True,
                    "hotplug": True,
                    "subsystems": "block:scsi:usb:pci",
                },
                mountpoints=["/run/live/medium"],
            ),
            lsblk_row(
                "sda",
                {
                    "maj:min": "8:0",
                    "size": 80_026_361_856,
                    "model": "TOSHIBA MK8034GS",
                    "tran": "sata",
                    "rota": True,
                    "rm": False,
                    "hotplug": True,
                    "subsystems": "block:scsi:pci",
                },
            ),
            lsblk_row(
                "sr0",
                {
                    "maj:min": "11:0",
                    "size": 1_073_741_312,
                    "model": "DVD-RAM UJ-850S",
                    "tran": "sata",
                    "rota": True,
                    "rm": True,
                },
                kind="rom",
                sector=2048,
            ),
        ]
    }
    (tmp_path / "lsblk.json").write_text(json.dumps(lsblk))
    cdrom_id = tmp_path / "udev" / "cdrom_id"
    cdrom_id.mkdir(parents=True)
    (cdrom_id / "sr0.txt").write_text(
        "ID_CDROM=1\nID_CDROM_CD=1\nID_CDROM_CD_R=1\n"
        "ID_CDROM_CD_RW=1\nID_CDROM_DVD=1\nID_CDROM_DVD_R=1\n"
        "ID_CDROM_DVD_RAM=1\nID_CDROM_MRW=1\n"
    )
    inventory = collect_inventory(evidence_dir=tmp_path)
    disks = {d.name: d for d in inventory.disks}
    assert disks["sdb"].transport == "usb" and disks["sdb"].removable
    assert disks["sdb"].mountpoints == ["/run/live/medium"]
    # An internal SATA disk on a hot-plug capable port is not removable.
    assert disks["sda"].transport == "sata" and not disks["sda"].removable
    drive = inventory.optical[0]
    assert drive.can_write_dvd and drive.can_write_cd and drive.model == "DVD-RAM UJ-850S"
    # No smartctl text was recorded for the disks: health unknown, and said why.
    assert disks["sda"].health == "unknown"
    assert disks["sda"].smart.reason == "smartctl output not collected"


BUNDLE_FILES = [
    "proc/cpuinfo",
    "lscpu.txt",
    "proc/meminfo",
    "lsblk.json",
    "smartctl/sda.txt",
    "sys/class/dmi/id/product_serial",
    "dmidecode/memory.txt",
    "proc/asound/cards",
    "proc/sys/dev/cdrom/info",
    "sys/class/net/eth0/speed",
    "sys/class/net/eth0/device.link",
    "run/udev/data/b8:0",
    "bench-agent/meta.json",
    "bench-agent/collection-warnings.txt",
]


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(BUNDLE_FILES), st.text(max_size=200), max_size=8))
def test_odd_bundles_never_raise(files: dict[str, str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for rel, text in files.items():
            path = Path(folder) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", errors="surrogateescape")
        inventory = collect_inventory(evidence_dir=Path(folder))
        assert inventory.source == "evidence"
        json.loads(inventory.model_dump_json())


@pytest.mark.parametrize(
    "rel,text",
    [
        ("lsblk.json", "[1, 2]"),
        ("lsblk.json", '{"blockdevices": null}'),
        ("lsblk.json", '{"blockdevices": [{"name": "sda", "size": "huge", "type": "disk"}]}'),
        ("lsblk.json", '{"blockdevices": [{"kname": "sda"}]}'),
        ("bench-agent/meta.json", '{"collected_at": "yesterday"}'),
        ("bench-agent/meta.json", "[]"),
        ("proc/meminfo", "MemTotal: lots kB"),
        ("smartctl/sda.txt", "\x00\x01binary\xff"),
    ],
)
def test_odd_json_and_text_sources(tmp_path: Path, rel: str, text: str) -> None:
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    inventory = collect_inventory(evidence_dir=tmp_path)
    assert inventory.source == "evidence"


def test_bundle_recorded_without_smart_replays_as_such(tmp_path: Path) -> None:
    lsblk = {
        "blockdevices": [
            lsblk_row(
                "sda",
                {
                    "maj:min": "8:0",
                    "size": 40_020_664_320,
                    "model": "ST340014A",
                    "tran": "ata",
                    "rota": True,
                    "rm": False,
                },
            )
        ]
    }
    (tmp_path / "lsblk.json").write_text(json.dumps(lsblk))
    (tmp_path / "bench-agent").mkdir()
    (tmp_path / "bench-agent" / "meta.json").write_text('{"smart": false}')
    disk = collect_inventory(evidence_dir=tmp_path).disks[0]
    assert disk.smart.reason == "SMART not read (--no-smart)"
    assert disk.health == "unknown"


@pytest.mark.parametrize(
    "file,reason",
    [
        ("loop-device-not-root-this-vm.txt", "permission denied (smartctl must run as root)"),
        ("loop-device-sat-this-vm.txt", "the device did not answer IDENTIFY"),
    ],
)
def test_recorded_smartctl_refusals(file: str, reason: str) -> None:
    from bench_agent.inventory.smartctl import parse_smartctl

    smart = parse_smartctl((SMARTCTL / file).read_text()).smart
    assert not smart.available
    assert smart.reason == reason


def test_rated_speed_from_cpufreq_not_the_idle_speed(tmp_path: Path) -> None:
    # An Athlon 64 idling at 1000 MHz under Cool'n'Quiet: the name carries no GHz.
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 15\nmodel\t\t: 47\n"
        "model name\t: AMD Athlon(tm) 64 Processor 3000+\nstepping\t: 2\n"
        "cpu MHz\t\t: 1000.000\nflags\t\t: fpu pae sse sse2 lm 3dnow\n"
    )
    assert collect_inventory(evidence_dir=tmp_path).cpu.mhz == 1000.0
    freq = tmp_path / "sys" / "devices" / "system" / "cpu" / "cpu0" / "cpufreq"
    freq.mkdir(parents=True)
    (freq / "cpuinfo_max_freq").write_text("1800000\n")
    assert collect_inventory(evidence_dir=tmp_path).cpu.mhz == 1800.0


def test_a_crashing_probe_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench_agent.inventory import collect

    def broken(source: object) -> list[object]:
        raise RuntimeError("ALSA table unreadable")

    monkeypatch.setattr(collect, "collect_sound", broken)
    inventory = collect_inventory(evidence_dir=P4_BUNDLE)
    assert inventory.sound == []
    assert "sound: RuntimeError: ALSA table unreadable" in inventory.warnings
    assert inventory.disks  # the other probes still ran


def test_recorded_vm_bundle_replays() -> None:
    """A bundle recorded by --save-evidence on the development VM (see its SOURCES.md)."""
    bundle = FIXTURES / "evidence" / "debian12-vm"
    inventory = collect_inventory(evidence_dir=bundle)
    assert inventory.cpu.model == "AMD EPYC" and inventory.cpu.arch == "x86_64"
    assert (inventory.cpu.logical_cpus, inventory.cpu.physical_cores) == (2, 2)
    assert inventory.memory.total_bytes == 24684084 * 1024
    disks = {d.name: d for d in inventory.disks}
    assert set(disks) == {"loop0", "loop1", "loop2", "zram0", "vda"}
    assert disks["vda"].size_bytes == 274877906944 and disks["vda"].transport == "virtio"
    assert disks["vda"].mountpoints == ["/"]
    assert disks["loop1"].size_bytes == 67108864 and disks["loop1"].transport == "loop"
    assert all(d.health == "unknown" and not d.smart.available for d in disks.values())
    assert [(n.name, n.mac, n.driver, n.bus, n.link) for n in inventory.network] == [
        ("eth0", "02:fc:00:00:00:01", "virtio_net", "virtio", True)
    ]
    assert inventory.system.machine_id.startswith("mac-")
    assert inventory.warnings == [
        "no DMI data (sys/class/dmi/id): system identity from hardware digest"
    ]
    assert str(inventory.collected_at) == "2026-11-23 13:08:18+00:00"


def test_drive_identify_beats_the_kernel_rotational_guess(tmp_path: Path) -> None:
    lsblk = {
        "blockdevices": [
            lsblk_row(
                "sdb",
                {
                    "size": 1_024_209_543_168,
                    "model": "ASMT1153e",
                    "tran": "usb",
                    "rota": True,
                    "rm": False,
                },
            )
        ]
    }
    (tmp_path / "lsblk.json").write_text(json.dumps(lsblk))
    (tmp_path / "smartctl").mkdir()
    shutil.copy(SMARTCTL / "usb-asmt109x-safe-9b5172.txt", tmp_path / "smartctl" / "sdb.txt")
    disk = collect_inventory(evidence_dir=tmp_path).disks[0]
    assert disk.rotational is False  # "Rotation Rate: Solid State Device"
    assert disk.size_bytes == 1_024_209_543_168  # the kernel's size, not the text's
    assert disk.bridge == "ASMT109x- Safe" and disk.transport == "usb"
