"""Building masters: the block map of a raw image, its digests and zstd file, its catalogue entry.

``scripts/build-test-master`` runs this module: by default it builds a small but real GPT test
master from scratch (BIOS-boot partition, FAT EFI system partition, ext4 root with files and a
SHA-256 manifest); with ``--from RAW_IMAGE`` it turns any raw master into a catalogue entry.

The block map marks as mapped every block the image needs on the target: for ext2/3/4
partitions, the blocks the filesystem's bitmaps say are in use (all metadata included, so a
target full of old data never confuses e2fsck); everywhere else, the file's data extents
(``SEEK_DATA``/``SEEK_HOLE``), which is all of it for a non-sparse copy of a disk.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from bench_agent.durable import fsync_dir
from bench_agent.errors import BenchError, InputError, ToolMissing
from bench_agent.i18n import _
from bench_agent.imaging.catalogue import station_images_dir, write_entry
from bench_agent.imaging.partitions import is_ext_filesystem, read_partition_table
from bench_agent.models.image import Architecture, ImageEntry, MappedRange
from bench_agent.models.image import PartitionTable as PartitionTableKind

BLOCK = 4096
CHUNK = 4 << 20
Extent = tuple[int, int]  # [start, end) in bytes


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    if shutil.which(cmd[0]) is None:
        raise ToolMissing(
            _("The tool {tool} is missing.", tool=cmd[0]),
            _("Install it with scripts/setup."),
        )
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BenchError(
            _(
                "{tool} failed: {error}",
                tool=" ".join(cmd[:2]),
                error=(result.stderr or result.stdout).strip()[-300:],
            ),
            _("Check the image file and the free space."),
        )
    return result


def data_extents(path: Path) -> list[Extent]:
    """The file's data extents from ``SEEK_DATA``/``SEEK_HOLE`` (all of it if unsupported)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        extents: list[Extent] = []
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break
                return [(0, size)]
            end = os.lseek(fd, start, os.SEEK_HOLE)
            extents.append((start, end))
            pos = end
        return extents
    finally:
        os.close(fd)


_FREE = re.compile(r"^\s*Free blocks: (.*)$", re.MULTILINE)


def ext_used_extents(image: Path, offset: int, length: int) -> list[Extent]:
    """Blocks in use in the ext2/3/4 filesystem at ``offset`` (from ``dumpe2fs``'s bitmaps)."""
    spec = f"{image}?offset={offset}"
    head = _run(["dumpe2fs", "-h", spec]).stdout
    fields = dict(
        (k.strip(), v.strip()) for k, _s, v in (line.partition(":") for line in head.splitlines())
    )
    block_size = int(fields["Block size"])
    blocks = int(fields["Block count"])
    first_data = int(fields.get("First block", "0"))
    text = _run(["dumpe2fs", spec]).stdout
    free: list[Extent] = []
    for match in _FREE.finditer(text):
        for part in match.group(1).split(","):
            part = part.strip()
            if not part:
                continue
            lo, _dash, hi = part.partition("-")
            free.append((int(lo), int(hi or lo) + 1))
    free.sort()
    used: list[Extent] = []
    pos = 0
    for lo, hi in free:
        if lo > pos:
            used.append((pos, lo))
        pos = max(pos, hi)
    if pos < blocks:
        used.append((pos, blocks))
    del first_data  # block 0 (boot block) counts as used when first_data is 1
    fs_end = min(length, blocks * block_size)
    return [
        (offset + lo * block_size, offset + min(hi * block_size, fs_end))
        for lo, hi in used
        if lo * block_size < fs_end
    ]


def _subtract(extents: Iterable[Extent], holes: list[Extent]) -> list[Extent]:
    out: list[Extent] = []
    for start, end in extents:
        pos = start
        for h_lo, h_hi in holes:
            if h_hi <= pos or h_lo >= end:
                continue
            if h_lo > pos:
                out.append((pos, h_lo))
            pos = max(pos, h_hi)
        if pos < end:
            out.append((pos, end))
    return out


def merge_extents(extents: Iterable[Extent], size: int, align: int = BLOCK) -> list[Extent]:
    """Align outwards to ``align`` (clipped to ``size``), sort, and merge touching extents."""
    aligned = sorted(
        (s - s % align, min(size, -(-e // align) * align)) for s, e in extents if e > s
    )
    merged: list[Extent] = []
    for start, end in aligned:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# Mapped ranges are cut at every multiple of this: a failure names a small piece of the disk,
# and the writer hashes several ranges in parallel.
MAX_RANGE = 16 << 20


def split_every(extents: list[Extent], step: int = MAX_RANGE) -> list[Extent]:
    """Cut extents at every multiple of ``step``."""
    out: list[Extent] = []
    for start, end in extents:
        pos = start
        while pos < end:
            cut = min(end, (pos // step + 1) * step)
            out.append((pos, cut))
            pos = cut
    return out


def _split_at(extents: list[Extent], cut: int) -> list[Extent]:
    out: list[Extent] = []
    for start, end in extents:
        if start < cut < end:
            out += [(start, cut), (cut, end)]
        else:
            out.append((start, end))
    return out


@dataclass
class BlockMap:
    ranges: list[Extent]
    table_kind: PartitionTableKind
    sector_size: int
    last_used_byte: int


def block_map(image: Path) -> BlockMap:
    """Mapped ranges of a raw image (see the module docstring)."""
    size = image.stat().st_size
    fd = os.open(image, os.O_RDONLY)
    try:
        table = read_partition_table(fd)
        ext_parts = [
            p for p in table.partitions if is_ext_filesystem(fd, p.start_byte(table.sector_size))
        ]
        bare_ext = table.kind == "none" and is_ext_filesystem(fd, 0)
    finally:
        os.close(fd)
    ss = table.sector_size
    ext_regions = [(p.start_byte(ss), min(size, p.end_byte(ss))) for p in ext_parts]
    if bare_ext:  # a filesystem image without a partition table
        ext_regions = [(0, size)]
    extents = _subtract(data_extents(image), sorted(ext_regions))
    for start, end in ext_regions:
        extents += ext_used_extents(image, start, end - start)
    ranges = merge_extents(extents, size)
    last_used = ranges[-1][1] if ranges else 0
    backup = table.backup_area_start
    if backup is not None and backup < size:
        ranges = _split_at(ranges, backup)
        inside = [e for _s, e in ranges if e <= backup]
        last_used = max(inside, default=0)
    ranges = split_every(ranges)
    for part in table.partitions:
        last_used = max(last_used, min(size, part.end_byte(ss)))
    if table.kind == "none":
        last_used = size  # no table tells where the content ends: all of it must fit
    if backup is not None and backup < size:
        # The backup GPT is rebuilt at the disk's end, but it needs its room after the last
        # partition: a disk smaller than that cannot hold a valid table.
        last_used = min(size, last_used + (size - backup))
    return BlockMap(ranges, table.kind, ss, last_used)


@dataclass
class Digests:
    image_sha256: str
    compressed_sha256: str
    compressed_size: int
    range_sha256: list[str]


class _HashingWriter:
    def __init__(self, handle: object) -> None:
        self.handle = handle
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        written: int = self.handle.write(data)  # type: ignore[attr-defined]
        return written


def compress_and_hash(image: Path, ranges: list[Extent], out: Path, level: int = 3) -> Digests:
    """One pass over the image: zstd (with checksum) to ``out``, image and range digests."""
    size = image.stat().st_size
    whole = hashlib.sha256()
    range_hashes = [hashlib.sha256() for _r in ranges]
    compressor = zstandard.ZstdCompressor(level=level, threads=-1, write_checksum=True)
    tmp = out.with_name(out.name + ".part")
    with open(image, "rb") as src, open(tmp, "wb") as dst:
        sink = _HashingWriter(dst)
        writer_target: Any = sink  # a file-like with write(); zstandard only calls that
        with compressor.stream_writer(writer_target, size=size, closefd=False) as zw:
            pos = 0
            index = 0
            while pos < size:
                data = src.read(min(CHUNK, size - pos))
                if not data:
                    raise InputError(
                        _("The image {path} is shorter than expected.", path=image),
                        _("Check that it was not modified while being read."),
                    )
                whole.update(data)
                zw.write(data)
                end = pos + len(data)
                while index < len(ranges) and ranges[index][0] < end:
                    r_lo, r_hi = ranges[index]
                    lo, hi = max(r_lo, pos), min(r_hi, end)
                    if hi > lo:
                        range_hashes[index].update(data[lo - pos : hi - pos])
                    if r_hi <= end:
                        index += 1
                    else:
                        break
                pos = end
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, out)
    fsync_dir(out.parent)  # streamed, so not through atomic_write; the rename made durable
    return Digests(
        whole.hexdigest(), sink.sha.hexdigest(), sink.size, [h.hexdigest() for h in range_hashes]
    )


def entry_from_raw(
    raw: Path,
    *,
    out_dir: Path,
    name: str,
    version: str,
    architecture: Architecture,
    description: dict[str, str],
    min_ram_mib: int = 0,
    min_disk_mib: int = 0,
    extra_architectures: Iterable[Architecture] = (),
) -> list[Path]:
    """Compress ``raw`` into ``out_dir/<name>.img.zst`` and write its catalogue entries."""
    if not raw.is_file():
        raise InputError(
            _("The raw image {path} does not exist.", path=raw),
            _("Give the path of a raw disk image (e.g. made with dd)."),
        )
    bmap = block_map(raw)
    out_dir.mkdir(parents=True, exist_ok=True)
    compressed = out_dir / f"{name}.img.zst"
    digests = compress_and_hash(raw, bmap.ranges, compressed)
    base = ImageEntry(
        name=name,
        version=version,
        description=description,
        architecture=architecture,
        min_ram_mib=min_ram_mib,
        min_disk_mib=min_disk_mib or -(-bmap.last_used_byte // (1 << 20)),
        source=compressed.name,
        compressed_size=digests.compressed_size,
        image_size=raw.stat().st_size,
        compressed_sha256=digests.compressed_sha256,
        image_sha256=digests.image_sha256,
        block_size=BLOCK,
        logical_sector_size=bmap.sector_size,
        partition_table=bmap.table_kind,
        last_used_byte=bmap.last_used_byte,
        ranges=[
            MappedRange(start=s, end=e, sha256=h)
            for (s, e), h in zip(bmap.ranges, digests.range_sha256, strict=True)
        ],
    )
    written = [write_entry(base, out_dir / f"{name}.toml")]
    for arch in extra_architectures:
        variant = base.model_copy(update={"name": f"{name}-{arch}", "architecture": arch})
        written.append(write_entry(variant, out_dir / f"{name}-{arch}.toml"))
    return written


# --- the test master -----------------------------------------------------------------------

TEST_MASTER_MIB = 320
ESP_MIB = 64


def _test_tree(root: Path, seed: int = 2026, data_mib: int = 24) -> None:
    """A small school-like tree of text and data files, plus a SHA-256 manifest."""
    rng = random.Random(seed)
    words = [
        "lire",
        "écrire",
        "compter",
        "classe",
        "école",
        "cahier",
        "histoire",
        "géographie",
        "sciences",
        "calcul",
        "musique",
        "dessin",
        "poème",
        "conjugaison",
        "fraction",
        "carte",
        "planète",
        "énergie",
    ]
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("poste-eleve\n")
    (root / "etc" / "os-release").write_text('PRETTY_NAME="Bench test master"\nID=bench-test\n')
    lessons = root / "home" / "eleve" / "lecons"
    lessons.mkdir(parents=True)
    for n in range(1, 41):
        lines = [" ".join(rng.choice(words) for _w in range(12)) for _l in range(4000)]
        (lessons / f"lecon-{n:02d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = root / "usr" / "share" / "jeux"
    data.mkdir(parents=True)
    for n in range(1, max(1, data_mib // 4) + 1):
        (data / f"niveau-{n}.dat").write_bytes(rng.randbytes(4 << 20))
    manifest = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        manifest.append(f"{digest}  {path.relative_to(root)}")
    (root / "MANIFEST.sha256").write_text("\n".join(manifest) + "\n")


def build_test_raw(
    raw: Path, work: Path, size_mib: int = TEST_MASTER_MIB, data_mib: int = 24
) -> None:
    """A GPT disk image: BIOS boot, FAT16 ESP, ext4 root with files (sparse, mostly empty).

    ``data_mib`` of incompressible game data sits beside ~18 MB of text lessons; the benchmark
    builds a larger one than the tests.
    """
    with open(raw, "wb") as handle:
        handle.truncate(size_mib << 20)
    _run(
        [
            "sgdisk",
            "-o",
            "-n",
            "1:2048:+1M",
            "-t",
            "1:ef02",
            "-c",
            "1:bios-boot",
            "-n",
            f"2:0:+{ESP_MIB}M",
            "-t",
            "2:ef00",
            "-c",
            "2:esp",
            "-n",
            "3:0:0",
            "-t",
            "3:8300",
            "-c",
            "3:root",
            str(raw),
        ]
    )
    fd = os.open(raw, os.O_RDONLY)
    try:
        table = read_partition_table(fd)
    finally:
        os.close(fd)
    parts = {p.number: p for p in table.partitions}
    esp, root_part = parts[2], parts[3]
    esp_sectors = esp.last_lba - esp.first_lba + 1
    _run(
        [
            "mkfs.fat",
            "-F",
            "16",
            "-n",
            "ESP",
            "--offset",
            str(esp.first_lba),
            str(raw),
            str(esp_sectors // 2),
        ]
    )
    efi = work / "esp" / "EFI" / "BOOT"
    efi.mkdir(parents=True)
    (efi / "README.TXT").write_text("Bench Agent test master: no boot loader inside.\n")
    _run(["mcopy", "-s", "-i", f"{raw}@@{esp.first_lba * 512}", str(work / "esp" / "EFI"), "::/"])
    tree = work / "root"
    _test_tree(tree, data_mib=data_mib)
    blocks = (root_part.last_lba - root_part.first_lba + 1) * 512 // BLOCK
    _run(
        [
            "mkfs.ext4",
            "-q",
            "-F",
            "-b",
            str(BLOCK),
            "-T",
            "default",
            "-L",
            "root",
            "-E",
            f"offset={root_part.first_lba * 512},nodiscard,lazy_itable_init=1",
            "-d",
            str(tree),
            str(raw),
            str(blocks),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="build-test-master",
        description="Build the test master (default) or turn a raw master into a catalogue entry.",
    )
    parser.add_argument("--out", type=Path, default=None, help="catalogue directory (images/)")
    parser.add_argument("--from", dest="raw", type=Path, help="an existing raw disk image")
    parser.add_argument("--name", default="test-master")
    parser.add_argument("--version", default="1")
    parser.add_argument("--arch", choices=["amd64", "i686"], default="amd64")
    parser.add_argument(
        "--also-arch",
        choices=["amd64", "i686"],
        action="append",
        default=None,
        help="also write <name>-<arch>.toml for this architecture",
    )
    parser.add_argument(
        "--size-mib", type=int, default=TEST_MASTER_MIB, help="test master: disk size"
    )
    parser.add_argument(
        "--data-mib",
        type=int,
        default=24,
        help="test master: incompressible data in the root filesystem",
    )
    parser.add_argument("--min-ram-mib", type=int, default=0)
    parser.add_argument("--min-disk-mib", type=int, default=0)
    parser.add_argument("--description-en", default="")
    parser.add_argument("--description-fr", default="")
    args = parser.parse_args(argv)
    out = args.out
    if out is None:  # the station's catalogue (this is a program's entry point)
        from bench_agent.config import load_settings

        out = station_images_dir(load_settings())
    try:
        if args.raw is not None:
            also = args.also_arch or []
            paths = entry_from_raw(
                args.raw,
                out_dir=out,
                name=args.name,
                version=args.version,
                architecture=args.arch,
                min_ram_mib=args.min_ram_mib,
                min_disk_mib=args.min_disk_mib,
                extra_architectures=also,
                description={
                    "en": args.description_en or args.name,
                    "fr": args.description_fr or args.description_en or args.name,
                },
            )
        else:
            if os.geteuid() != 0:
                print(_("note: not root; building anyway (no device is touched)"), file=sys.stderr)
            also = args.also_arch if args.also_arch is not None else ["i686"]
            with tempfile.TemporaryDirectory(prefix="test-master-") as tmp:
                work = Path(tmp)
                raw = work / "test-master.img"
                build_test_raw(raw, work, args.size_mib, args.data_mib)
                paths = entry_from_raw(
                    raw,
                    out_dir=out,
                    name=args.name,
                    version=args.version,
                    architecture=args.arch,
                    min_ram_mib=args.min_ram_mib or 256,
                    min_disk_mib=args.min_disk_mib,
                    extra_architectures=also,
                    description={
                        "en": "Test master: GPT, EFI partition, ext4 root with lesson files.",
                        "fr": "Master de test : GPT, partition EFI, racine ext4 avec des leçons.",
                    },
                )
    except BenchError as exc:
        print(_("error: {message}", message=exc.message), file=sys.stderr)
        if exc.hint:
            print(_("hint: {hint}", hint=exc.hint), file=sys.stderr)
        return exc.exit_code
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
