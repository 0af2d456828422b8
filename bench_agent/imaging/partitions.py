"""Reading an image's or a disk's partition table (GPT or MBR) without external tools.

The writer needs it to know the smallest disk an image fits on, which sector size the table was
written for, and which partition is the last one (the one grown to fill the disk).
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass, field
from typing import Literal

GPT_SIGNATURE = b"EFI PART"
EXT_MAGIC_OFFSET = 1024 + 56
EXT_MAGIC = b"\x53\xef"
LINUX_FS_GUID = "0fc63daf-8483-4772-8e79-3d69d8477de4"


@dataclass(frozen=True)
class Partition:
    number: int  # 1-based, as sgdisk and the kernel count
    first_lba: int
    last_lba: int  # inclusive
    type_guid: str = ""  # GPT type GUID, or "0xNN" for an MBR type byte
    unique_guid: str = ""
    name: str = ""
    attributes: int = 0

    def start_byte(self, sector: int) -> int:
        return self.first_lba * sector

    def end_byte(self, sector: int) -> int:
        return (self.last_lba + 1) * sector


@dataclass
class PartitionTable:
    kind: Literal["gpt", "mbr", "none"]
    sector_size: int = 512
    partitions: list[Partition] = field(default_factory=list)
    last_usable_lba: int = 0  # GPT: the last LBA a partition may use
    backup_lba: int = 0  # GPT: where the backup header sits

    @property
    def last_partition(self) -> Partition | None:
        return max(self.partitions, key=lambda p: p.last_lba, default=None)

    @property
    def backup_area_start(self) -> int | None:
        """First byte after the usable area (GPT backup entries and header), if GPT."""
        if self.kind != "gpt":
            return None
        return (self.last_usable_lba + 1) * self.sector_size


def _pread(fd: int, length: int, offset: int) -> bytes:
    return os.pread(fd, length, offset)


def _parse_gpt(fd: int, sector: int) -> PartitionTable | None:
    header = _pread(fd, 92, sector)
    if len(header) < 92 or header[:8] != GPT_SIGNATURE:
        return None
    backup_lba, _first_usable, last_usable = struct.unpack_from("<QQQ", header, 32)
    entries_lba, count, entry_size = struct.unpack_from("<QII", header, 72)
    if entry_size < 128 or entry_size > 4096 or count > 4096:
        return None  # not a GPT anyone wrote: never read gigabytes because a header says so
    raw = _pread(fd, count * entry_size, entries_lba * sector)
    parts: list[Partition] = []
    for index in range(count):
        chunk = raw[index * entry_size : (index + 1) * entry_size]
        if len(chunk) < 128 or chunk[:16] == b"\0" * 16:
            continue
        first, last, attrs = struct.unpack_from("<QQQ", chunk, 32)
        name = chunk[56:128].decode("utf-16-le", errors="replace").split("\0", 1)[0]
        parts.append(
            Partition(
                number=index + 1,
                first_lba=first,
                last_lba=last,
                type_guid=str(uuid.UUID(bytes_le=bytes(chunk[:16]))),
                unique_guid=str(uuid.UUID(bytes_le=bytes(chunk[16:32]))),
                name=name,
                attributes=attrs,
            )
        )
    return PartitionTable("gpt", sector, parts, last_usable, backup_lba)


def _parse_mbr(fd: int) -> PartitionTable | None:
    mbr = _pread(fd, 512, 0)
    if len(mbr) < 512 or mbr[510:512] != b"\x55\xaa":
        return None
    parts: list[Partition] = []
    for index in range(4):
        entry = mbr[446 + 16 * index : 446 + 16 * (index + 1)]
        ptype = entry[4]
        start, count = struct.unpack_from("<II", entry, 8)
        if ptype == 0 or count == 0:
            continue
        parts.append(Partition(index + 1, start, start + count - 1, f"0x{ptype:02x}"))
    if not parts:
        return None
    return PartitionTable("mbr", 512, parts)


def read_partition_table(fd: int) -> PartitionTable:
    """The table at the start of ``fd`` (an image file or a disk)."""
    for sector in (512, 4096):
        table = _parse_gpt(fd, sector)
        if table is not None:
            return table
    mbr = _parse_mbr(fd)
    return mbr if mbr is not None else PartitionTable("none")


def is_ext_filesystem(fd: int, offset: int) -> bool:
    """True when an ext2/3/4 superblock starts the region at ``offset``."""
    return _pread(fd, 2, offset + EXT_MAGIC_OFFSET) == EXT_MAGIC
