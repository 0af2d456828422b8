#!/usr/bin/env python3
"""One whole machine cycle in the virtual bench's old PC: the time the agent adds around the work.

Boots the "old" QEMU machine (Pentium 4 class, 512 MB, 512 MiB IDE disk, TCG, no network)
from build/live-i686 (built by scripts/build-live if missing) and runs ``bench-agent run
--unattended`` in it: inventory, automatic checks, verdict, wipe (overwrite + sampled
verification), test master written and read back, signed record into the outbox, label. The
wipe and imaging phases are timed by the agent itself (their reports' start/finish times); the
total is the guest's own measure of the whole ``bench-agent run`` (Python start-up included).
Each cycle is checked like the vm tests (inventory, wipe, image, signatures) so a broken cycle
never yields a figure. Medians over --runs cycles.

Usage (as root): python scripts/bench/machine_cycle.py [--runs 3] [--keep]
Last line: overhead_ratio=<total ÷ (wipe + image)> total_s=… wipe_s=… image_s=… boot_s=…
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts" / "live"))

import vbench  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--live", type=Path, default=vbench.live_dir("i686"))
    parser.add_argument("--keep", action="store_true", help="keep the machines' files")
    args = parser.parse_args()

    from bench_agent.adapters.demo import _ledger_cli, local_ledger

    if not (args.live / "pxe" / "filesystem.squashfs").exists():
        print(f"building the live bench into {args.live} (scripts/build-live)", flush=True)
        vbench.build_live("i686", args.live)
    work = Path(tempfile.mkdtemp(prefix="machine-cycle-"))
    totals: list[float] = []
    wipes: list[float] = []
    images: list[float] = []
    boots: list[float] = []
    walls: list[float] = []
    try:
        with local_ledger(work / "ledger", station="machine-cycle") as ledger:
            for run in range(args.runs):
                station = f"cycle-{run}"
                out = _ledger_cli(ledger.db_url, "station", "add", station)
                token = [line.strip() for line in out.splitlines() if line.strip()][1]
                result = vbench.run_machine(
                    vbench.MACHINES["old"],
                    work / f"run{run}",
                    args.live,
                    ledger_url=ledger.url,
                    token=token,
                    timeout_s=900,
                )
                problems = vbench.check_cycle(
                    result, ledger, work / f"run{run}" / "io" / "station" / "station.key"
                )
                if problems:
                    print(f"run {run}: the cycle failed:", *problems, sep="\n  - ")
                    return 1
                phases = vbench.phase_times(result.record)
                totals.append(result.timing["run_s"])
                boots.append(result.timing["boot_s"])
                wipes.append(phases["wipe_s"])
                images.append(phases["image_s"])
                walls.append(result.wall_s)
                print(
                    f"run {run}: total {totals[-1]:.1f} s (wipe {wipes[-1]:.1f} s, "
                    f"image {images[-1]:.1f} s), boot {boots[-1]:.1f} s, "
                    f"VM wall {walls[-1]:.1f} s",
                    flush=True,
                )
    finally:
        if args.keep:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    total = statistics.median(totals)
    wipe = statistics.median(wipes)
    image = statistics.median(images)
    ratio = total / (wipe + image) if wipe + image else float("inf")
    print(
        f"overhead_ratio={ratio:.2f} total_s={total:.1f} wipe_s={wipe:.1f} image_s={image:.1f} "
        f"boot_s={statistics.median(boots):.1f} vm_wall_s={statistics.median(walls):.1f} "
        f"runs={args.runs} machine=old-pc-tcg"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
