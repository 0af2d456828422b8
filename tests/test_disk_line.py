"""One disk model line (issue 12, finding 6): the guard's lsblk view becomes the inventory's
``Disk`` in one place (``Disk.from_block``), the wipe plan takes its identity from that disk in
one place (``WipePlan.for_disk``) and the report from the plan in one place
(``WipeReport.for_plan``); the wipe-only path (no pydantic) states the same identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_agent.devices.guard import GuardPolicy, check_target
from bench_agent.devices.lsblk import BlockDevice, parse_lsblk
from bench_agent.inventory import collect_inventory
from bench_agent.models.inventory import Disk
from bench_agent.models.wipe import WipePlan, WipeReport
from bench_agent.sanitize.lite import new_report
from bench_agent.sanitize.plan import plan_one
from tests.conftest import FIXTURES, LoopFactory

IDENTITY = ("device", "model", "vendor", "serial", "size_bytes", "media_type")
BUNDLES = [
    FIXTURES / "evidence-live" / "qemu-old-pc" / "bundle" / "lsblk.json",
    FIXTURES / "evidence" / "debian12-vm" / "lsblk.json",
]


def disks_of(path: Path) -> list[BlockDevice]:
    return [d for d in parse_lsblk(path.read_text()) if d.type in ("disk", "loop")]


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.parts[-2])
def test_recorded_disks_keep_their_identity_from_lsblk_to_the_report(bundle: Path) -> None:
    for dev in disks_of(bundle):
        disk = Disk.from_block(dev)
        plan = WipePlan.for_disk(disk, method="zero", level="clear")
        report = WipeReport.for_plan(plan, status="erased")
        assert (plan.device, plan.kname, plan.size_bytes) == (disk.path, disk.name, dev.size)
        assert (plan.transport, plan.rotational) == (disk.transport, disk.rotational)
        assert {f: getattr(report, f) for f in IDENTITY} == {f: getattr(plan, f) for f in IDENTITY}
        # Both shapes state the same media; the pydantic-free path too.
        assert disk.media_type == dev.media_type == new_report(dev, "sample")["media_type"]
        assert new_report(dev, "sample")["vendor"] == plan.vendor


def test_the_sata_transport_word_is_not_the_manufacturer() -> None:
    (sda,) = [d for d in disks_of(BUNDLES[0]) if d.kernel_name == "sda"]
    assert sda.vendor == "ATA"
    disk = Disk.from_block(sda)
    assert disk.vendor == "ATA"  # the inventory keeps what lsblk said (replay stays identical)
    plan = WipePlan.for_disk(disk, method="zero", level="clear")
    assert plan.vendor == "" and plan.media_type == "magnetic (HDD)" and plan.transport == "ata"
    assert WipePlan.for_disk(disk, method="zero", level="clear", serial="FW-SERIAL").serial == (
        "FW-SERIAL"  # what the drive's firmware said when lsblk knew less
    )


@pytest.mark.device
def test_a_real_disk_is_the_same_in_the_inventory_the_plan_the_report_and_the_lite_path(
    make_loop: LoopFactory,
) -> None:
    device = str(make_loop(64 << 20))
    policy = GuardPolicy(allow_loop=True)
    plan = plan_one(device, method="zero", verify="sample", policy=policy)
    dev = check_target(device, policy)
    # The inventory's disk for the same device gives the plan the same identity.
    [disk] = [d for d in collect_inventory(smart=False).disks if d.path == device]
    from_inventory = WipePlan.for_disk(disk, method="zero", level="clear")
    fields = (*IDENTITY, "kname", "transport", "rotational", "logical_sector", "physical_sector")
    assert {f: getattr(plan, f) for f in fields} == {f: getattr(from_inventory, f) for f in fields}
    assert plan.media_type == "virtual disk (loop device)" and plan.size_bytes == 64 << 20
    report = WipeReport.for_plan(plan, status="failed")
    lite = new_report(dev, "sample")
    assert {f: getattr(report, f) for f in IDENTITY} == {f: lite[f] for f in IDENTITY}
