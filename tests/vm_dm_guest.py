"""Run INSIDE a QEMU guest of the live bench by tests/test_vm_dm.py (not a test module).

The host's kernel has no device-mapper; the guest's Debian kernel has. Two scenarios over a
loop device on a tmpfs file, results as JSON in the directory given as the only argument (the
virtual bench's 9p io share):

(a) a loop device under a ``dmsetup linear`` target: what ``bench-agent disks``/``wipe`` say
    about the dm device and the loop under it, and that the loop's data are intact;
(b) a ``linear + error + linear`` table (bad sectors in the middle): the real wipe engine over
    it, through ``bench-agent wipe`` (on the dm device, and on a loop device whose backing is
    the dm device: a whole disk for the guard) and through ``DeviceIO`` directly.

Standard library plus the guest's bench_agent only; every step is recorded, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

AGENT = str(Path(sys.executable).parent / "bench-agent")
MiB = 1 << 20
SIZE = 16 * MiB
SECTORS = SIZE // 512
BAD_SECTOR, BAD_SECTORS = 10240, 8  # the error target: 4 KiB at 5 MiB
LINEAR = "benchlin"
BAD = "benchbad"


def sh(*cmd: str, stdin: str | None = None, timeout: float = 300) -> dict[str, Any]:
    start = time.monotonic()
    done = subprocess.run(
        cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    return {
        "cmd": list(cmd),
        "rc": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "seconds": round(time.monotonic() - start, 1),
    }


def parsed(step: dict[str, Any]) -> Any:
    try:
        return json.loads(step["stdout"])
    except ValueError:
        return None


def digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def new_loop(backing: str, *extra: str) -> str:
    step = sh("losetup", "--find", "--show", *extra, backing)
    if step["rc"] != 0:
        raise RuntimeError(f"losetup failed: {step['stderr']}")
    return str(step["stdout"]).strip()


def dm_create(name: str, table: str) -> dict[str, Any]:
    # udev does not always answer libdevmapper's cookie in this minimal root: no sync, then
    # wait for udev and make the /dev/mapper node ourselves.
    step = sh("dmsetup", "create", name, "--noudevsync", stdin=table)
    sh("udevadm", "settle", "--timeout=30")
    sh("dmsetup", "mknodes", name)
    step["node"] = os.path.exists(f"/dev/mapper/{name}")
    return step


def guard_rule(device: str) -> str | None:
    from bench_agent.devices.guard import check_target
    from bench_agent.errors import DeviceRefused

    try:
        check_target(device)
    except DeviceRefused as exc:
        return exc.rule
    return None


def scenario_linear(res: dict[str, Any]) -> None:
    backing = "/tmp/dm-linear.img"
    with open(backing, "wb") as handle:
        handle.write(os.urandom(SIZE))
    lower = new_loop(backing)
    res["lower"] = lower
    res["before"] = digest(lower)
    res["create"] = dm_create(LINEAR, f"0 {SECTORS} linear {lower} 0\n")
    try:
        disks = sh(AGENT, "--lang", "en", "disks", "--json")
        res["disks"] = {**disks, "json": parsed(disks)}
        wipe_dm = sh(AGENT, "--lang", "en", "wipe", f"/dev/mapper/{LINEAR}", "--yes", "--json")
        res["wipe_dm"] = {**wipe_dm, "json": parsed(wipe_dm)}
        res["wipe_loop"] = sh(AGENT, "--lang", "en", "wipe", lower, "--yes")
        res["rule_loop"] = guard_rule(lower)
        res["rule_dm"] = guard_rule(f"/dev/mapper/{LINEAR}")
    finally:
        res["remove"] = sh("dmsetup", "remove", LINEAR)
        res["after"] = digest(lower)
        sh("losetup", "-d", lower)


def scenario_bad(res: dict[str, Any]) -> None:
    backing = "/tmp/dm-bad.img"
    with open(backing, "wb") as handle:
        handle.write(os.urandom(SIZE))
    lower = new_loop(backing)
    rest = BAD_SECTOR + BAD_SECTORS
    table = (
        f"0 {BAD_SECTOR} linear {lower} 0\n{BAD_SECTOR} {BAD_SECTORS} error\n"
        f"{rest} {SECTORS - rest} linear {lower} {rest}\n"
    )
    res["table"] = table
    res["bad_byte"], res["bad_len"] = BAD_SECTOR * 512, BAD_SECTORS * 512
    res["create"] = dm_create(BAD, table)
    try:
        on_dm = sh(
            AGENT,
            "--lang",
            "en",
            "wipe",
            f"/dev/mapper/{BAD}",
            "--yes",
            "--verify",
            "full",
            "--json",
        )
        res["wipe_dm"] = {**on_dm, "json": parsed(on_dm)}
        # A loop device over the dm device is a whole disk for the guard: the CLI's full path
        # (guard, plan, engine, report) meets the error target's real EIO through it.
        top = new_loop(f"/dev/mapper/{BAD}", "--direct-io=on")
        res["top"] = top
        try:
            on_loop = sh(
                AGENT,
                "--lang",
                "en",
                "wipe",
                top,
                "--yes",
                "--method",
                "zero",
                "--verify",
                "full",
                "--json",
            )
            res["wipe_loop_over_dm"] = {**on_loop, "json": parsed(on_loop)}
        finally:
            sh("losetup", "-d", top)
        res["engine_direct"] = engine_direct(f"/dev/mapper/{BAD}")
    finally:
        res["remove"] = sh("dmsetup", "remove", BAD)
        sh("losetup", "-d", lower)


def engine_direct(device: str) -> dict[str, Any]:
    """The overwrite and its full read-back straight on the dm device (the guard refuses it as
    not a whole disk), as tests/test_wipe_badsectors.py drove it where dm existed."""
    from bench_agent.devices.guard import open_exclusive
    from bench_agent.sanitize.blockio import DeviceIO
    from bench_agent.sanitize.pattern import Pattern

    fd, direct = open_exclusive(device, write=True)
    try:
        io = DeviceIO(fd, SIZE, 512, direct=direct)
        try:
            write = io.write_pass(
                Pattern("zero"), job=BAD, progress=lambda e: None, cancel=threading.Event()
            )
        finally:
            io.close()
    finally:
        os.close(fd)
    return {
        "direct": direct,
        "bad_ranges": [
            {"start_byte": r.start_byte, "length": r.length, "phase": r.phase, "error": r.error}
            for r in write.bad_ranges
        ],
    }


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"uname": os.uname().release}
    results["modprobe"] = sh("modprobe", "-a", "dm_mod", "loop")
    results["dm_control"] = os.path.exists("/dev/mapper/control")
    results["dmsetup_version"] = sh("dmsetup", "version")
    for name, scenario in (("linear", scenario_linear), ("bad", scenario_bad)):
        res: dict[str, Any] = {}
        start = time.monotonic()
        try:
            scenario(res)
        except Exception:
            res["error"] = traceback.format_exc()
        res["seconds"] = round(time.monotonic() - start, 1)
        results[name] = res
        print(f"bench-dm: scenario {name} done in {res['seconds']}s", flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
