"""Imaging: catalogue entries (which master, where, how to check it) and imaging results."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from bench_agent.models.base import SCHEMA_VERSION, Model

Architecture = Literal["i686", "amd64"]
PartitionTable = Literal["gpt", "mbr", "none"]


class MappedRange(Model):
    """A byte range of the image that holds data (bmap-style), with its SHA-256."""

    start: int  # byte offset in the image, inclusive
    end: int  # byte offset, exclusive
    sha256: str

    @property
    def length(self) -> int:
        return self.end - self.start


class ImageEntry(Model):
    """One master in the catalogue (``images/<name>.toml``)."""

    name: str
    version: str
    description: dict[str, str] = Field(default_factory=dict)  # {"en": ..., "fr": ...}
    architecture: Architecture
    min_ram_mib: int = 0
    min_disk_mib: int = 0
    source: str  # path relative to the catalogue file, or an http(s) URL
    compressed_size: int
    image_size: int  # uncompressed bytes
    compressed_sha256: str
    image_sha256: str  # of the whole uncompressed image, holes read as zeros
    block_size: int = 4096
    logical_sector_size: int = 512  # sector size the partition table was written for
    partition_table: PartitionTable = "none"
    # Smallest disk the image fits on: the end of its last partition or mapped byte, plus
    # room for the backup GPT (rebuilt at the disk's end after writing).
    last_used_byte: int = 0
    ranges: list[MappedRange] = Field(default_factory=list)
    catalogue_file: str = ""  # where the entry was read from (not stored in the TOML)

    @property
    def mapped_bytes(self) -> int:
        return sum(r.length for r in self.ranges)

    def describe(self, language: str) -> str:
        return self.description.get(language) or self.description.get("en", "")


class ImageReport(Model):
    schema_version: int = SCHEMA_VERSION
    device: str
    image: str  # catalogue name
    version: str = ""
    architecture: str = ""
    image_sha256: str = ""
    status: Literal["success", "failed", "aborted"]
    status_detail: str = ""
    bytes_written: int = 0
    ranges_total: int = 0
    ranges_verified: int = 0
    readback_verified: bool = False
    grown: bool = False
    final_partition_bytes: int | None = None
    checks: dict[str, str] = Field(default_factory=dict)  # "sgdisk -v": "ok", "e2fsck -n": "ok"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    throughput_mbps: float | None = None
    # The failing range when status is "failed" because of data: "3 (bytes 1048576-2097152)".
    failed_range: str = ""
    # A previous write to this device was interrupted (found in the journal) and was redone.
    redone_after_interrupt: bool = False
    device_serial: str = ""
    device_bytes: int | None = None
    write_s: float | None = None
    verify_s: float | None = None
    grow_s: float | None = None
    # Personalisation (education masters): written after the verified write, verified on its
    # own. The range hashes above describe the master; these are the files written on top.
    source: str = ""  # where the master was read from: a local file, or the URL streamed
    asset_tag: str = ""
    hostname: str = ""
    hostname_note: str = ""  # how the asset tag was made a valid hostname ("" = unchanged)
    personalised_files: dict[str, str] = Field(default_factory=dict)  # path -> SHA-256
