#!/usr/bin/env python3
"""Bench app start-up: time from launch to the first full frame, and peak RSS at the inventory.

Each run starts a fresh Python process in a pseudo-terminal (80x25 would do; 120x40 here), as
the live image does on tty1: it paints the operator screen (first frame), logs in, takes a new
asset tag, replays the recorded Pentium 4's inventory and paints its tiles; the child reports
the moment of its first frame and its peak RSS (VmHWM) at the inventory screen. Baseline: a
bare Textual app with one label, started the same way, in the same run (each of its runs right
after one of the bench's). Medians of several runs.

Then presses for one whole machine with only an operator's keys (``presses_4key``: → and Enter
of the four-keys profile; ``presses_2switch``: Space and Enter of two-switch): the recorded
Pentium 4 in training mode on throwaway loop devices (root) with the test master built by
scripts/build-test-master, driven at 80x25 by the scripted operator of tests/tui_driver.py from
the operator screen to the label (each guided check answered "yes, it works", the wipe confirmed
with its two inputs). Without root the presses are not measured (printed as -1).

Last line: first_frame_s=… rss_MB=… baseline_first_frame_s=… baseline_rss_MB=… runs=…
presses_4key=… presses_2switch=…
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
    from bench_agent.config import load_settings
    from bench_agent.tui.app import BenchApp
    from bench_agent.tui.operators import load_operator
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

        def route(self, *, start: bool = True) -> None:
            super().route(start=start)
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


def count_presses(profile: str) -> int:
    """Presses of the scripted operator for one whole machine (see the module docstring)."""
    import asyncio

    sys.path.insert(0, str(ROOT))
    from bench_agent.config import AgentSettings, load_settings
    from bench_agent.tui.app import BenchApp
    from bench_agent.tui.operators import load_operator
    from bench_agent.tui.training import TrainingSession, training_session
    from tests.tui_driver import drive_machine

    async def run(settings: AgentSettings, session: TrainingSession) -> int:
        app = BenchApp(
            settings,
            engines=session.engines,
            profile="pentium4",
            operator=load_operator(profile),
            training=True,
            evidence=session.evidence,
            disks=session.disks,
            poll_ledger=False,
        )
        async with app.run_test(size=(80, 25)) as pilot:
            presses = await drive_machine(pilot)
        return len(presses)

    settings = load_settings(station="bench")
    with training_session(settings, EVIDENCE) as session:
        return asyncio.run(run(settings, session))


def presses_run(profile: str) -> int:
    if os.geteuid() != 0:
        return -1
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        subprocess.run(
            [str(ROOT / "scripts" / "build-test-master"), "--out", str(images)],
            check=True,
            capture_output=True,
        )
        env = dict(
            os.environ,
            BENCH_AGENT_HOME=str(Path(tmp) / "home"),
            BENCH_AGENT_IMAGES=str(images),
            BENCH_LANG="fr",
        )
        done = subprocess.run(
            [sys.executable, __file__, "--child-presses", profile],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"presses {profile}: exit {done.returncode}\n{done.stderr[-3000:]}")
        return int(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child-presses":
        print(count_presses(sys.argv[2]))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--child-bench":
        child_bench(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--child-baseline":
        child_baseline(sys.argv[2])
        return
    # Interleaved, so that both see the same machine (caches, other load) over the runs.
    pairs = [(run_child("bench"), run_child("baseline")) for _ in range(RUNS)]
    ours, base = [p[0] for p in pairs], [p[1] for p in pairs]
    for name, runs in (("bench", ours), ("baseline (bare Textual app)", base)):
        print(
            f"{name}: " + ", ".join(f"{r['first_frame_s']:.3f}s/{r['rss_MB']:.0f}MB" for r in runs)
        )
    ff = statistics.median(r["first_frame_s"] for r in ours)
    rss = statistics.median(r["rss_MB"] for r in ours)
    bff = statistics.median(r["first_frame_s"] for r in base)
    brss = statistics.median(r["rss_MB"] for r in base)
    four = presses_run("four-keys")
    two = presses_run("two-switch")
    print(f"presses: four keys {four}, two switches {two} (one whole machine, 80x25)")
    print(
        f"first_frame_s={ff:.3f} rss_MB={rss:.0f} baseline_first_frame_s={bff:.3f} "
        f"baseline_rss_MB={brss:.0f} runs={RUNS} presses_4key={four} presses_2switch={two}"
    )


if __name__ == "__main__":
    main()
