#!/usr/bin/env python3
"""Imaging speed: our verified writer vs ``bmaptool copy`` vs ``zstd -dc | dd oflag=direct``.

Same compressed test master (built with scripts/build-test-master unless images/ has one),
same loop device (``--direct-io=on``, so writes reach the VM's disk, not the page cache), in one
run, several repetitions in rotating order; medians. bmaptool gets a .bmap generated from our
block map (the same ranges, so both write the same bytes) and verifies its per-range SHA-256
while writing; the pipeline writes the whole image, holes included.

Timings: ours are the engine's own write and verify phases (no Python start-up, no final
sgdisk/e2fsck checks); bmaptool's is its wall time minus its measured start-up (``bmaptool
--version``); the pipeline's is its wall time. MB/s = uncompressed image size ÷ time (how fast
a disk receives the whole image).

Last line: speed_ratio=<bmaptool_s ÷ (ours write+verify)> pipeline_ratio=<pipeline_s ÷ ours
write> verify_s=… ours_MBps=… bmaptool_MBps=… pipeline_MBps=… (ours_MBps counts write+verify).
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench_agent.devices.guard import GuardPolicy  # noqa: E402
from bench_agent.imaging import find_image, write_image  # noqa: E402
from bench_agent.imaging.catalogue import source_path  # noqa: E402
from bench_agent.models.image import ImageEntry  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
# A larger master than the test one (less noise): BENCH_SIZE_MIB=1024 BENCH_DATA_MIB=256.
SIZE_MIB = os.environ.get("BENCH_SIZE_MIB")
DATA_MIB = os.environ.get("BENCH_DATA_MIB")
BLOCK = 4096


def sh(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {result.stderr.strip()[-400:]}")
    return result


def master(tmp: Path) -> ImageEntry:
    default = ROOT / "images" / "test-master.toml"
    custom = []
    if SIZE_MIB:
        custom += ["--size-mib", SIZE_MIB]
    if DATA_MIB:
        custom += ["--data-mib", DATA_MIB]
    if default.exists() and not custom:
        entry = find_image(str(default))
        src = source_path(entry)
        if src is not None and src.exists():
            return entry
    out = tmp / "catalogue"
    sh([str(ROOT / "scripts" / "build-test-master"), "--out", str(out), *custom])
    return find_image("test-master", out)


def write_bmap(entry: ImageEntry, image: Path, raw: Path, dest: Path) -> None:
    """A bmap 2.0 file with our ranges as whole blocks and their SHA-256 (bmaptool's format)."""
    blocks: list[tuple[int, int]] = []
    for rng in entry.ranges:
        first, last = rng.start // BLOCK, (rng.end - 1) // BLOCK
        if blocks and first <= blocks[-1][1] + 1:
            blocks[-1] = (blocks[-1][0], max(last, blocks[-1][1]))
        else:
            blocks.append((first, last))
    lines = []
    mapped = 0
    with open(raw, "rb") as handle:
        for first, last in blocks:
            handle.seek(first * BLOCK)
            data = handle.read((last - first + 1) * BLOCK)
            mapped += last - first + 1
            digest = hashlib.sha256(data).hexdigest()
            lines.append(f'        <Range chksum="{digest}"> {first}-{last} </Range>')
    total = -(-entry.image_size // BLOCK)
    text = (
        '<?xml version="1.0" ?>\n<bmap version="2.0">\n'
        f"    <ImageSize> {entry.image_size} </ImageSize>\n"
        f"    <BlockSize> {BLOCK} </BlockSize>\n"
        f"    <BlocksCount> {total} </BlocksCount>\n"
        f"    <MappedBlocksCount> {mapped} </MappedBlocksCount>\n"
        "    <ChecksumType> sha256 </ChecksumType>\n"
        f"    <BmapFileChecksum> {'0' * 64} </BmapFileChecksum>\n"
        "    <BlockMap>\n" + "\n".join(lines) + "\n    </BlockMap>\n</bmap>\n"
    )
    text = text.replace("0" * 64, hashlib.sha256(text.encode()).hexdigest(), 1)
    dest.write_text(text)
    del image


def timed(cmd: list[str]) -> float:
    start = time.monotonic()
    sh(cmd)
    return time.monotonic() - start


def main() -> int:
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark writes to a loop device it creates")
    with tempfile.TemporaryDirectory(prefix="bench-image-", dir="/var/tmp") as tmpdir:
        tmp = Path(tmpdir)
        entry = master(tmp)
        image = source_path(entry)
        assert image is not None
        raw = tmp / "raw.img"
        sh(["zstd", "-q", "-d", "--sparse", "-f", str(image), "-o", str(raw)])
        bmap = tmp / "image.bmap"
        write_bmap(entry, image, raw, bmap)
        raw.unlink()
        backing = tmp / "disk.img"
        with open(backing, "wb") as handle:
            handle.truncate(entry.image_size + (64 << 20))
        dev = sh(["losetup", "--find", "--show", "--direct-io=on", str(backing)]).stdout.strip()
        try:
            startup = statistics.median(timed(["bmaptool", "--version"]) for _ in range(3))
            ours_w: list[float] = []
            ours_v: list[float] = []
            bmap_s: list[float] = []
            pipe_s: list[float] = []
            policy = GuardPolicy(allow_loop=True)

            def run_ours() -> None:
                report = write_image(
                    entry, dev, grow=False, policy=policy, journal_dir=tmp / "journal"
                )
                if report.status != "success":
                    raise SystemExit(f"our writer failed: {report.status_detail}")
                assert report.write_s is not None and report.verify_s is not None
                ours_w.append(report.write_s)
                ours_v.append(report.verify_s)

            def run_bmaptool() -> None:
                bmap_s.append(
                    max(
                        0.001,
                        timed(["bmaptool", "-q", "copy", "--bmap", str(bmap), str(image), dev])
                        - startup,
                    )
                )

            def run_pipeline() -> None:
                pipe_s.append(
                    timed(
                        [
                            "bash",
                            "-o",
                            "pipefail",
                            "-c",
                            f"zstd -q -dc '{image}' | dd of={dev} bs=4M oflag=direct status=none",
                        ]
                    )
                )

            methods = [run_ours, run_bmaptool, run_pipeline]
            methods[0]()  # warm-up: page cache holds the compressed file for everyone
            ours_w.clear()
            ours_v.clear()
            for n in range(RUNS):
                for method in methods[n % 3 :] + methods[: n % 3]:
                    method()
        finally:
            subprocess.run(["losetup", "-d", dev], check=False)
    write = statistics.median(ours_w)
    verify = statistics.median(ours_v)
    ours_total = statistics.median(w + v for w, v in zip(ours_w, ours_v, strict=True))
    bmaptool = statistics.median(bmap_s)
    pipeline = statistics.median(pipe_s)
    mb = entry.image_size / 1e6
    print(
        f"image: {entry.name} {mb:.0f} MB raw, {entry.mapped_bytes / 1e6:.0f} MB mapped, "
        f"{entry.compressed_size / 1e6:.0f} MB zstd; runs={RUNS}"
    )
    print(f"ours: write {write:.3f} s, verify {verify:.3f} s (samples {ours_w} / {ours_v})")
    print(f"bmaptool copy: {bmaptool:.3f} s (start-up {startup:.3f} s excluded; {bmap_s})")
    print(f"zstd -dc | dd oflag=direct: {pipeline:.3f} s ({pipe_s})")
    print(
        f"speed_ratio={bmaptool / ours_total:.2f} pipeline_ratio={pipeline / write:.2f} "
        f"verify_s={verify:.3f} ours_MBps={mb / ours_total:.0f} bmaptool_MBps={mb / bmaptool:.0f} "
        f"pipeline_MBps={mb / pipeline:.0f} ours_write_s={write:.3f} bmaptool_s={bmaptool:.3f} "
        f"pipeline_s={pipeline:.3f} mapped_MB={entry.mapped_bytes / 1e6:.0f} runs={RUNS}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
