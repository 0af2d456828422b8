#!/usr/bin/env python3
"""Bench app start-up: time from launch to the first full frame, and peak RSS at the inventory.

Each run starts a fresh Python process in a pseudo-terminal (80x25 would do; 120x40 here), as
the live image does on tty1: it paints the operator screen (first frame), logs in, takes a new
asset tag, replays the recorded Pentium 4's inventory and paints its tiles; the child reports
the moment of its first frame and its peak RSS (VmHWM) at the inventory screen. Baseline: a
bare Textual app with one label, started the same way. Medians of several runs.

Last line: first_frame_s=… rss_MB=… baseline_first_frame_s=… baseline_rss_MB=… runs=…
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = ROOT / "tests" / "fixtures" / "evidence" / "pentium4-desktop"
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TIMEOUT_S = int(os.environ.get("BENCH_TIMEOUT", "60"))


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_bench(report: str) -> None:
    import asyncio

    from bench_agent.config import load_settings
    from bench_agent.tui.app import BenchApp
    from bench_agent.workflow.operators import load_operator
    from bench_agent.workflow.state import Step

    evidence = EVIDENCE if EVIDENCE.is_dir() else None
    result: dict[str, float] = {}

    class Probe(BenchApp):
        def on_mount(self) -> None:
            # (BenchApp.on_mount runs too: Textual calls every class's handler.)
            self.call_after_refresh(self.first_frame)

        def first_frame(self) -> None:
            result["first_frame"] = time.time()
            self.apply_operator(load_operator("default"))
            self.run_step("login", self.wf.login, "bench")

        def route(self) -> None:
            super().route()
            if self.wf.step is Step.INTAKE:
                self.run_step("intake", self.wf.intake, "", "")
            elif self.wf.step is Step.AUTO_CHECKS:
                self.set_interval(0.02, self.at_inventory)

        def at_inventory(self) -> None:
            from bench_agent.tui.widgets import Tile

            if "rss_mb" in result or not self.screen.query(Tile):
                return
            result["rss_mb"] = vm_hwm_mb()
            Path(report).write_text(json.dumps(result))
            self.exit()

    app = Probe(
        load_settings(station="bench"), profile="pentium4", evidence=evidence, poll_ledger=False
    )
    del asyncio
    app.run()


def child_baseline(report: str) -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Label

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Label("bench")

        def on_mount(self) -> None:
            self.call_after_refresh(self.done)

        def done(self) -> None:
            Path(report).write_text(json.dumps({"first_frame": time.time(), "rss_mb": vm_hwm_mb()}))
            self.exit()

    Bare().run()


def run_child(kind: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = dict(os.environ, BENCH_AGENT_HOME=str(Path(tmp) / "home"), TERM="xterm-256color")
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        started = time.time()
        proc = subprocess.Popen(
            [sys.executable, __file__, f"--child-{kind}", str(report)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            close_fds=True,
        )
        os.close(slave)
        deadline = time.monotonic() + TIMEOUT_S
        output = bytearray()
        while proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    output += os.read(master, 65536)
                except OSError:
                    break
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        if proc.poll() is None:
            proc.kill()
            tail = output[-2000:].decode(errors="replace")
            raise SystemExit(
                f"{kind}: the app did not reach the inventory in {TIMEOUT_S} s\n{tail}"
            )
        proc.wait()
        os.close(master)
        if not report.exists():
            tail = output[-3000:].decode(errors="replace")
            raise SystemExit(f"{kind}: the child did not report (exit {proc.returncode}):\n{tail}")
        data = json.loads(report.read_text())
        return {"first_frame_s": data["first_frame"] - started, "rss_MB": data["rss_mb"]}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child-bench":
        child_bench(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--child-baseline":
        child_baseline(sys.argv[2])
        return
    ours = [run_child("bench") for _ in range(RUNS)]
    base = [run_child("baseline") for _ in range(RUNS)]
    for name, runs in (("bench", ours), ("baseline (bare Textual app)", base)):
        print(
            f"{name}: " + ", ".join(f"{r['first_frame_s']:.3f}s/{r['rss_MB']:.0f}MB" for r in runs)
        )
    ff = statistics.median(r["first_frame_s"] for r in ours)
    rss = statistics.median(r["rss_MB"] for r in ours)
    bff = statistics.median(r["first_frame_s"] for r in base)
    brss = statistics.median(r["rss_MB"] for r in base)
    print(
        f"first_frame_s={ff:.3f} rss_MB={rss:.0f} baseline_first_frame_s={bff:.3f} "
        f"baseline_rss_MB={brss:.0f} runs={RUNS}"
    )


if __name__ == "__main__":
    main()
