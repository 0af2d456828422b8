#!/usr/bin/env python3
"""Full live inventory: wall time and peak RSS of ``bench-agent inventory --json`` here.

Each run is a fresh Python process (start-up and imports count: that is what an operator waits
for on a Pentium 4). Baseline: the plain-library way of getting the same facts — py-cpuinfo for
the CPU, psutil for the memory and disks, pySMART for SMART — in a fresh process too. Medians of
several runs; peak RSS comes from the kernel's rusage of each child (``wait4``).

Last line: speed_ratio=… wall_s=… rss_MB=… baseline_wall_s=… baseline_rss_MB=… baseline=… runs=…
(speed_ratio = baseline wall time ÷ ours: above 1 means ours is faster; it leads the line as
CONVENTIONS.md asks of every benchmark.)

``--against DIR`` compares with another checkout instead (e.g. ``git archive <commit> | tar -x
-C DIR``): both run in the same session, interleaved run by run so a busy machine weighs on
both alike; the last line then has ``speed_ratio`` = before ÷ ours and ``before_wall_s=… before_rss_MB=…``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
OURS = [sys.executable, "-m", "bench_agent.cli.main", "inventory", "--json"]
BASELINE_CODE = """
import cpuinfo, psutil, pySMART
info = cpuinfo.get_cpu_info()
mem = psutil.virtual_memory().total
parts = psutil.disk_partitions(all=False)
disks = [(d.name, d.model, d.serial, d.capacity, d.assessment) for d in pySMART.DeviceList()]
print(info.get("brand_raw"), mem, len(parts), disks)
"""
BASELINE = [sys.executable, "-c", BASELINE_CODE]


def measure(argv: list[str], cwd: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one run of ``argv`` (``python -m`` finds ``cwd``'s code)."""
    start = time.monotonic()
    child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}… failed ({child.returncode}): {stderr[-400:]}")
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is in kB on Linux


def series(argv: list[str], runs: int) -> tuple[float, float, list[float]]:
    measure(argv)  # warm the page cache: we measure the bench, not the first disk read
    walls, rss = [], []
    for _ in range(runs):
        wall, peak = measure(argv)
        walls.append(wall)
        rss.append(peak)
    return statistics.median(walls), statistics.median(rss), walls


def against(other: Path, runs: int) -> int:
    measure(OURS)
    measure(OURS, other)
    ours: list[tuple[float, float]] = []
    before: list[tuple[float, float]] = []
    for _ in range(runs):
        before.append(measure(OURS, other))
        ours.append(measure(OURS))
    for label, rows in (("before", before), ("ours", ours)):
        print(f"{label}: runs {', '.join(f'{w:.3f}' for w, _ in rows)} s")
    wall = statistics.median(w for w, _ in ours)
    rss = statistics.median(r for _, r in ours)
    b_wall = statistics.median(w for w, _ in before)
    b_rss = statistics.median(r for _, r in before)
    print("targets: wall_s <= 1.5, rss_MB <= 80")
    ratio = f"{b_wall / wall:.2f}" if wall > 0 else "nan"
    print(
        f"speed_ratio={ratio} wall_s={wall:.3f} rss_MB={rss:.1f} before_wall_s={b_wall:.3f} "
        f"before_rss_MB={b_rss:.1f} before={other} runs={runs}"
    )
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--against"] and len(sys.argv) == 3:
        return against(Path(sys.argv[2]).resolve(), RUNS)
    wall, rss, walls = series(OURS, RUNS)
    print(f"ours: bench-agent inventory --json, runs {', '.join(f'{w:.3f}' for w in walls)} s")
    try:
        base_wall, base_rss, base_walls = series(BASELINE, RUNS)
        print(
            "baseline: py-cpuinfo + psutil + pySMART, runs "
            + ", ".join(f"{w:.3f}" for w in base_walls)
            + " s"
        )
        ratio = f"{base_wall / wall:.2f}" if wall > 0 else "nan"
        tail = (
            f" baseline_wall_s={base_wall:.3f}"
            f" baseline_rss_MB={base_rss:.1f} baseline=py-cpuinfo+psutil+pySMART"
        )
    except SystemExit as exc:
        print(f"baseline could not run: {exc}")
        ratio, tail = "nan", " baseline=none"
    print("targets: wall_s <= 1.5, rss_MB <= 80")
    print(f"speed_ratio={ratio} wall_s={wall:.3f} rss_MB={rss:.1f}{tail} runs={RUNS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
