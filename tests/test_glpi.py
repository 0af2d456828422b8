"""GLPI export: the document validates against the published inventory-format schema."""

from __future__ import annotations

import copy
import csv
import io
import json
from datetime import datetime
from typing import Any

import jsonschema
import pytest

from bench_agent.ledger.glpi import ASSET_CSV_COLUMNS, assets_csv, to_glpi
from bench_agent.models.inventory import (
    Cpu,
    Disk,
    Inventory,
    Memory,
    MemoryModule,
    NetworkInterface,
    OpticalDrive,
    SoundCard,
    System,
)
from tests.conftest import FIXTURES

GLPI = FIXTURES / "glpi"


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GLPI / "glpi-inventory.schema.json").read_text())
    return loaded


def strict(node: Any) -> Any:
    """The schema with ``additionalProperties: false`` on every object that lists properties.

    The published schema only closes the top level; closing every object catches a misspelt
    field name (``memory`` for ``memories``, ``size`` for ``disksize``) that GLPI would ignore.
    """
    node = copy.deepcopy(node)

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            if "properties" in n and "additionalProperties" not in n:
                n["additionalProperties"] = False
            for value in n.values():
                walk(value)
        elif isinstance(n, list):
            for value in n:
                walk(value)

    walk(node)
    return node


def pentium4_desktop() -> Inventory:
    """A typical donated desktop of 2004, written out by hand (one DVD burner, one CD-ROM)."""
    return Inventory(
        collected_at=datetime(2026, 3, 2, 9, 15, 0),
        source="evidence",
        cpu=Cpu(
            vendor="GenuineIntel",
            model="Intel(R) Pentium(R) 4 CPU 3.00GHz",
            family=15,
            model_number=4,
            stepping=1,
            mhz=2993.2,
            physical_cores=1,
            logical_cpus=2,
            sockets=1,
            flags=["fpu", "sse", "sse2", "ht"],
            has_sse2=True,
            arch="i686",
        ),
        memory=Memory(
            total_bytes=1024 * 1024 * 1024,
            modules=[
                MemoryModule(
                    locator="DIMM1",
                    size_bytes=512 << 20,
                    type="DDR",
                    speed_mts=400,
                    manufacturer="Infineon",
                    serial="0A1B2C3D",
                ),
                MemoryModule(locator="DIMM2", size_bytes=512 << 20, type="DDR", speed_mts=400),
            ],
            slots=4,
        ),
        system=System(
            vendor="Dell Inc.",
            product="OptiPlex GX270",
            serial="7XK2Q1J",
            uuid="44454c4c-5800-104b-8032-b7c04f51314a",
            chassis="6",
            board_vendor="Dell Inc.",
            board_product="0DG467",
            bios_vendor="Dell Computer Corporation",
            bios_version="A07",
            bios_date="06/22/2004",
        ),
        disks=[
            Disk(
                name="sda",
                model="ST380011A",
                vendor="Seagate",
                serial="5JVAB123",
                firmware="8.01",
                size_bytes=80_026_361_856,
                transport="ata",
                rotational=True,
            ),
            Disk(name="loop0", kind="loop", transport="loop", size_bytes=1 << 20),
        ],
        optical=[
            OpticalDrive(
                name="sr0",
                model="DVD+-RW GSA-4163B",
                vendor="HL-DT-ST",
                can_read_cd=True,
                can_write_cd=True,
                can_read_dvd=True,
                can_write_dvd=True,
                bus="ata",
            ),
            OpticalDrive(name="sr1", model="CD-224E", vendor="SAMSUNG", can_read_cd=True),
        ],
        sound=[
            SoundCard(card=0, id="I82801DBICH4", name="Intel 82801DB-ICH4", driver="snd_intel8x0")
        ],
        network=[
            NetworkInterface(
                name="eth0", mac="00:0B:DB:12:34:56", driver="e1000", link=True, speed_mbps=100
            )
        ],
    )


def test_the_published_schema_accepts_its_own_example() -> None:
    example = json.loads((GLPI / "glpi-inventory.example-computer.json").read_text())
    jsonschema.Draft7Validator(schema()).validate(example)


def test_export_validates_against_the_published_schema() -> None:
    document = to_glpi(pentium4_desktop(), deviceid="asset-000042", asset_tag="BSN-0042")
    jsonschema.Draft7Validator(schema()).validate(document)
    # And no field outside the format, anywhere.
    jsonschema.Draft7Validator(strict(schema())).validate(document)


def test_export_maps_the_machine_to_glpi_fields() -> None:
    doc = to_glpi(pentium4_desktop(), deviceid="asset-000042", asset_tag="BSN-0042")
    content = doc["content"]
    assert doc["itemtype"] == "Computer" and doc["deviceid"] == "asset-000042"
    assert content["bios"]["bdate"] == "2004-06-22"
    assert content["bios"]["assettag"] == "BSN-0042"
    assert content["bios"]["ssn"] == "7XK2Q1J"
    assert content["hardware"]["memory"] == 1024
    assert content["hardware"]["name"] == "BSN-0042"
    assert content["hardware"]["chassis_type"] == "Mini Tower"
    [cpu] = content["cpus"]
    assert cpu["manufacturer"] == "Intel" and cpu["arch"] == "i686" and cpu["speed"] == 2993
    assert cpu["core"] == 1 and cpu["thread"] == 2
    assert [m["capacity"] for m in content["memories"]] == [512, 512]
    assert content["memories"][0]["speed"] == "400 MT/s"
    storages = content["storages"]
    # The loop device is not part of the machine; optical drives are storages of type cd.
    assert [s["name"] for s in storages] == ["sda", "sr0", "sr1"]
    assert storages[0]["type"] == "disk" and storages[0]["disksize"] == 80026
    assert storages[0]["interface"] == "IDE"
    assert [s["type"] for s in storages[1:]] == ["cd", "cd"]
    assert [s["description"] for s in storages[1:]] == ["DVD-RW", "CD-ROM"]
    assert content["sounds"][0]["name"] == "Intel 82801DB-ICH4"
    assert content["networks"][0] == {
        "description": "eth0",
        "mac": "00:0b:db:12:34:56",
        "driver": "e1000",
        "type": "ethernet",
        "status": "up",
        "speed": "100",
        "virtualdev": False,
    }


def test_a_nearly_empty_inventory_still_validates() -> None:
    document = to_glpi(Inventory(system=System(bios_date="not a date")), deviceid="x")
    jsonschema.Draft7Validator(strict(schema())).validate(document)
    assert "bdate" not in document["content"].get("bios", {})


@pytest.mark.parametrize("arch", ["x86_64", "i586"])
def test_cpu_architectures_that_glpi_knows(arch: str) -> None:
    inventory = pentium4_desktop()
    inventory.cpu.arch = arch
    doc = to_glpi(inventory, deviceid="x")
    assert doc["content"]["cpus"][0]["arch"] == arch
    inventory.cpu.arch = "weird"
    assert "arch" not in to_glpi(inventory, deviceid="x")["content"]["cpus"][0]


def test_asset_csv_has_a_header_and_neutralises_formulas() -> None:
    text = assets_csv(
        [
            {"asset_tag": "BSN-1", "lot": '=HYPERLINK("x")', "ram_mb": 512, "disk_gb": -1},
            {"asset_tag": "BSN-2", "received_at": datetime(2026, 1, 2, 3, 4, 5)},
        ]
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(ASSET_CSV_COLUMNS)
    assert rows[0]["lot"].startswith("'=")
    assert rows[0]["ram_mb"] == "512" and rows[0]["disk_gb"] == "-1"
    assert rows[1]["received_at"] == "2026-01-02T03:04:05"


def test_export_of_a_recorded_machine_validates() -> None:
    """The 2004 Dell OptiPlex GX270 recorded in tests/fixtures/evidence (values read by hand)."""
    from bench_agent.inventory.collect import collect_inventory

    evidence = FIXTURES / "evidence" / "pentium4-desktop"
    inventory = collect_inventory(evidence_dir=evidence)
    document = to_glpi(inventory, deviceid="asset-7", asset_tag="BSN-7")
    jsonschema.Draft7Validator(strict(schema())).validate(document)
    content = document["content"]
    assert content["bios"]["smodel"] == "OptiPlex GX270"
    assert content["bios"]["bdate"] == "2005-04-26"  # DMI bios_date 04/26/2005
    assert content["hardware"]["chassis_type"] == "Space-saving"  # DMI chassis type 15
    assert content["cpus"][0]["arch"] == "i686"
    storages = {s["name"]: s for s in content["storages"]}
    assert storages["sr0"]["type"] == "cd"
    assert storages["sda"]["manufacturer"] == "Hitachi"  # HDS722580VLAT20
    assert storages["sdb"]["manufacturer"] == "Seagate"  # ST380011A
