#!/usr/bin/env python3
"""Wipe benchmark: our single-pass overwrite against dd and nwipe, on the same loop device.

One loop device (default 1 GiB) backed by a file on the root disk (virtio, ``/var/tmp``; the
loop uses ``--direct-io=on`` so writes reach that disk) or on tmpfs (``--backing tmpfs``: the
engines' own overhead, no disk). Each round runs, in turn:

- ours: ``plan_wipes`` + ``run_wipes`` with ``zero`` and NIST ``sample`` verification (guard,
  journal, exclusive O_DIRECT open, 4 MiB writes three in flight, fdatasync, then the sampled
  read-back, 16 reads in flight);
  the write pass time gives our throughput, the verify pass time the verification overhead;
- ``dd if=/dev/zero of=DEV bs=4M count=N oflag=direct`` (the baseline);
- ``nwipe --autonuke --nogui --method=zero --verify=off --noblank DEV``.

- 4 loop devices (``--parallel-size-mib`` each, default 256) wiped at once by one
  ``run_wipes`` against 4 ``dd oflag=direct`` running at once on the same devices
  (``parallel_ratio``, aggregate MB/s of the write passes; target >= 0.95);
- ``verify_floor``: dd reading, one after the other, the very offsets our sampled verification
  read (its seed replays them), minus the start-up time of as many dd runs reading nothing;
  ``verify_overhead`` is judged against it (target <= 1.5 x verify_floor). dd opens the
  device once per range, and each open costs ~3 ms here, so ``verify_floor_qd1`` also reads
  the same offsets one request at a time in one process (dd's pattern without the opens).

Medians over ``--rounds`` (default 3). Run as root: python scripts/bench/wipe.py
Last line: speed_ratio=<ours/dd, median of the per-round ratios> nwipe_ratio=<ours/nwipe>
parallel_ratio=<4 at once, ours/dd> verify_overhead=<sample verify time / write time>
verify_floor=<dd on the same offsets / our write time>, then the MB/s figures and
``verify_floor_sequential`` (10 % of the disk read at dd's sequential O_DIRECT read speed ÷ our
write time, kept to compare with earlier runs) and ``verify_floor_qd1``.
(targets: speed_ratio ≥ 0.95, parallel_ratio ≥ 0.95, verify_overhead ≤ 1.5 × verify_floor).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MiB = 1 << 20


def run_ours(devs: list[str], method: str) -> list[Any]:
    """The reports of one ``run_wipes`` over ``devs`` (all at once, ``sample`` verification);
    each must end erased."""
    from bench_agent.config import load_settings
    from bench_agent.devices.guard import GuardPolicy
    from bench_agent.sanitize import CertificateContext, plan_wipes, run_wipes

    plans = plan_wipes(
        devs,
        method=method,  # type: ignore[arg-type]
        verify="sample",
        policy=GuardPolicy(allow_loop=True),
    )
    results = run_wipes(
        plans,
        settings=load_settings(),
        context=CertificateContext(operator="bench"),
        progress=lambda event: None,
    )
    for report, _cert in results:
        if report.status != "erased":
            raise SystemExit(
                f"our wipe of {report.device} did not end erased: {report.status} "
                f"{report.status_detail}"
            )
    return [report for report, _cert in results]


def dd_zero(dev: str, size: int) -> list[str]:
    """The baseline: zeros over the whole device, 4 MiB O_DIRECT writes."""
    return ["dd", "if=/dev/zero", f"of={dev}", "bs=4M", f"count={size // (4 * MiB)}",
            "oflag=direct", "status=none"]  # fmt: skip


def run_dd_parallel(devs: list[str], size: int) -> float:
    """Wall time of one ``dd oflag=direct`` per device, all running at once."""
    t0 = time.monotonic()
    procs = [subprocess.Popen(dd_zero(dev, size)) for dev in devs]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit("dd failed")
    return time.monotonic() - t0


def read_offsets_qd1(dev: str, ranges: list[tuple[int, int]]) -> float:
    """The same offsets read one after the other (O_DIRECT, one request at a time) in this
    process: dd's access pattern without a process start and a device open per range."""
    import mmap

    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, max(length for _offset, length in ranges))
    try:
        t0 = time.monotonic()
        for offset, length in ranges:
            view = memoryview(buf)[:length]
            os.preadv(fd, [view], offset)
            view.release()
        return time.monotonic() - t0
    finally:
        buf.close()
        os.close(fd)


def run_dd_offsets(dev: str, ranges: list[tuple[int, int]], *, read: bool) -> float:
    """dd reading each sampled range of the verification, one after the other (O_DIRECT);
    with ``read=False`` the same dd runs read nothing (their start-up cost, to subtract)."""
    script = "\n".join(
        f"dd if={dev} of=/dev/null bs={length} skip={offset} count={1 if read else 0} "
        "iflag=direct,skip_bytes status=none"
        for offset, length in ranges
    )
    t0 = time.monotonic()
    subprocess.run(["sh", "-s"], input=script.encode(), check=True)
    return time.monotonic() - t0


def run_dd(dev: str, size: int) -> float:
    t0 = time.monotonic()
    subprocess.run(dd_zero(dev, size), check=True)
    return time.monotonic() - t0


def run_dd_read(dev: str, size: int) -> float:
    """Sequential read of the whole device (O_DIRECT): the fastest any read-back can go."""
    t0 = time.monotonic()
    subprocess.run(
        [
            "dd",
            f"if={dev}",
            "of=/dev/null",
            "bs=4M",
            f"count={size // (4 * MiB)}",
            "iflag=direct",
            "status=none",
        ],
        check=True,
    )
    return time.monotonic() - t0


def run_nwipe(dev: str, logdir: Path) -> float:
    t0 = time.monotonic()
    result = subprocess.run(
        [
            "nwipe",
            "--autonuke",
            "--nogui",
            "--method=zero",
            "--verify=off",
            "--noblank",
            f"--logfile={logdir / 'nwipe.log'}",
            dev,
        ],
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - t0
    if result.returncode != 0:
        raise SystemExit(f"nwipe failed ({result.returncode}): {result.stderr[-400:]}")
    return elapsed


def make_loop(work: Path, name: str, size: int, direct: bool) -> str:
    backing = work / name
    with open(backing, "wb") as handle:
        handle.truncate(size)
    # Allocate the blocks once so no engine pays for the filesystem's first allocation.
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={backing}", "bs=4M", f"count={size // (4 * MiB)}",
         "conv=notrunc", "status=none"],
        check=True,
    )  # fmt: skip
    losetup = ["losetup", "--find", "--show"] + (["--direct-io=on"] if direct else [])
    return subprocess.run(
        [*losetup, str(backing)], check=True, capture_output=True, text=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backing", choices=["disk", "tmpfs"], default="disk")
    parser.add_argument("--no-nwipe", action="store_true", help="skip the nwipe baseline")
    parser.add_argument(
        "--parallel-size-mib", type=int, default=256, help="size of each of the 4 parallel disks"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (it creates a loop device)")
    for tool in ("losetup", "dd", "sh") + (() if args.no_nwipe else ("nwipe",)):
        if shutil.which(tool) is None:
            raise SystemExit(f"missing tool: {tool} (run scripts/setup --test)")
    from bench_agent.sanitize.sampling import nist_sample_plan

    size = args.size_mib * MiB
    psize = args.parallel_size_mib * MiB
    base = "/dev/shm" if args.backing == "tmpfs" else "/var/tmp"
    work = Path(tempfile.mkdtemp(prefix="bench-wipe-", dir=base))
    os.environ["BENCH_AGENT_HOME"] = str(work / "home")
    direct = args.backing == "disk"
    devs: list[str] = []
    ours_w: list[float] = []
    ours_v: list[float] = []
    ours_random_w: list[float] = []
    dd_t: list[float] = []
    read_t: list[float] = []
    same_t: list[float] = []
    qd1_t: list[float] = []
    nwipe_t: list[float] = []
    par_ours: list[float] = []
    par_dd: list[float] = []
    try:
        dev = make_loop(work, "disk.img", size, direct)
        devs.append(dev)
        parallel = [make_loop(work, f"par{i}.img", psize, direct) for i in range(4)]
        devs.extend(parallel)
        run_ours([dev], "zero")  # warm-up: imports, key creation
        for round_no in range(1, args.rounds + 1):
            dd_t.append(run_dd(dev, size))
            (report,) = run_ours([dev], "zero")
            write_s = float(report.extra["write_seconds"])
            verify_s = float(report.extra["verify_seconds"])
            seed = int(report.extra["verification_plan"]["sample_seed"])
            ours_w.append(write_s)
            ours_v.append(verify_s)
            # dd reading the very offsets our verification read (minus dd's own start-up).
            ranges = nist_sample_plan(size, 512, seed=seed).ranges
            same = run_dd_offsets(dev, ranges, read=True) - run_dd_offsets(dev, ranges, read=False)
            same_t.append(max(same, 0.0) / write_s)
            qd1_t.append(read_offsets_qd1(dev, ranges) / write_s)
            (random_report,) = run_ours([dev], "random")
            ours_random_w.append(float(random_report.extra["write_seconds"]))
            read_t.append(run_dd_read(dev, size))
            if not args.no_nwipe:
                nwipe_t.append(run_nwipe(dev, work))
            par_dd.append(run_dd_parallel(parallel, psize))
            # The write passes start together; the slowest one ends the parallel write.
            par_ours.append(
                max(float(r.extra["write_seconds"]) for r in run_ours(parallel, "zero"))
            )
            print(
                f"round {round_no}: dd {size / dd_t[-1] / 1e6:.0f} MB/s, ours {size / write_s / 1e6:.0f}"
                f" MB/s (verify {verify_s:.2f} s, dd on the same offsets "
                f"{same_t[-1] * write_s:.2f} s), ours random "
                f"{size / ours_random_w[-1] / 1e6:.0f} MB/s"
                + (f", nwipe {size / nwipe_t[-1] / 1e6:.0f} MB/s" if nwipe_t else "")
                + f"; 4 at once: dd {4 * psize / par_dd[-1] / 1e6:.0f} MB/s, ours "
                f"{4 * psize / par_ours[-1] / 1e6:.0f} MB/s",
                flush=True,
            )
    finally:
        for loop in devs:
            subprocess.run(["losetup", "-d", loop], check=False)
        shutil.rmtree(work, ignore_errors=True)
    # Each round runs dd and ours back to back: the median of the per-round ratios is robust to
    # the load of other processes drifting between rounds.
    paired = statistics.median(d / w for d, w in zip(dd_t, ours_w, strict=True))
    parallel_ratio = statistics.median(d / w for d, w in zip(par_dd, par_ours, strict=True))
    ours_mbps = size / statistics.median(ours_w) / 1e6
    dd_mbps = size / statistics.median(dd_t) / 1e6
    random_mbps = size / statistics.median(ours_random_w) / 1e6
    overhead = statistics.median(v / w for v, w in zip(ours_v, ours_w, strict=True))
    nwipe_mbps = size / statistics.median(nwipe_t) / 1e6 if nwipe_t else 0.0
    read_mbps = size / statistics.median(read_t) / 1e6
    # The floor: dd reading the very same sampled offsets, one after the other, relative to
    # our write time. The sequential floor (10 % at dd's best sequential read speed) is kept
    # for comparison with earlier runs.
    floor = statistics.median(same_t)
    floor_seq = 0.10 * ours_mbps / read_mbps
    nwipe_ratio = f"{ours_mbps / nwipe_mbps:.2f}" if nwipe_mbps else "nan"
    print(
        f"device: {args.size_mib} MiB loop, backing {args.backing} ({base}), "
        f"{args.rounds} rounds, medians; parallel: 4 x {args.parallel_size_mib} MiB"
    )
    print(
        f"speed_ratio={paired:.2f} nwipe_ratio={nwipe_ratio} parallel_ratio={parallel_ratio:.2f} "
        f"verify_overhead={overhead:.3f} verify_floor={floor:.3f} "
        f"ours_MBps={ours_mbps:.0f} dd_MBps={dd_mbps:.0f} "
        f"nwipe_MBps={nwipe_mbps:.0f} ours_random_MBps={random_mbps:.0f} "
        f"parallel_ours_MBps={4 * psize / statistics.median(par_ours) / 1e6:.0f} "
        f"parallel_dd_MBps={4 * psize / statistics.median(par_dd) / 1e6:.0f} "
        f"dd_read_MBps={read_mbps:.0f} verify_floor_sequential={floor_seq:.3f} "
        f"verify_floor_qd1={statistics.median(qd1_t):.3f} "
        f"baseline=dd backing={args.backing}"
    )


if __name__ == "__main__":
    main()
