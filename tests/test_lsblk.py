"""lsblk JSON parsing across util-linux versions."""

from __future__ import annotations

import pytest

from bench_agent.devices.lsblk import find_device, parse_lsblk
from bench_agent.errors import InputError
from tests.conftest import FIXTURES


def test_current_layout_with_whole_disk_mounted() -> None:
    tree = parse_lsblk((FIXTURES / "lsblk" / "debian12-vm.json").read_text())
    vda = find_device(tree, "/dev/vda")
    assert vda is not None
    assert vda.type == "disk" and vda.rota is True and vda.ro is False
    assert vda.size == 274877906944
    assert vda.all_mountpoints() == ["/"]
    zram = find_device(tree, "zram0")
    assert zram is not None and zram.log_sec == 4096 and zram.all_mountpoints() == []


def test_old_layout_with_strings_and_single_mountpoint() -> None:
    tree = parse_lsblk((FIXTURES / "lsblk" / "util-linux-2.34-strings.json").read_text())
    sda = find_device(tree, "sda")
    assert sda is not None
    assert sda.size == 40020664320 and sda.rota is True and sda.rm is False
    assert sda.model == "ST340014A" and sda.tran == "ata"
    assert sda.all_mountpoints() == ["/mnt/old", "[SWAP]"]
    assert [c.name for c in sda.children] == ["sda1", "sda2"]
    sr0 = find_device(tree, "sr0")
    assert sr0 is not None and sr0.rm is True and sr0.type == "rom"


def test_garbage_names_the_source() -> None:
    with pytest.raises(InputError) as err:
        parse_lsblk("{not json", source="bundle/lsblk.json")
    assert "bundle/lsblk.json" in err.value.message


def test_floppy_drive_is_never_a_disk_to_wipe() -> None:
    """QEMU's -M pc (and many real old PCs) show fd0 as a removable 4 KiB 'disk'."""
    from bench_agent.devices.guard import is_floppy

    assert is_floppy("fd0") and is_floppy("fd1")
    assert not is_floppy("sda") and not is_floppy("fd") and not is_floppy("nvme0n1")
