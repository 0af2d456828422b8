"""The wipe-only path of CPUs without SSE2 (issue 15 item 5): the bench's own engine, signed
certificate and outbox record, importing nothing that needs SSE2.

QEMU runs SSE2 instructions even for a ``pentium3`` CPU, so the proof that the path needs no
SSE2 is here: the entry point runs in a subprocess where importing pydantic, pydantic_core or
zstandard (the packages whose builds use SSE2) raises ImportError. It is driven by the
operator's keys on its stdin, wipes a loop device, its certificate verifies with
``bench-agent verify-cert`` and its record is accepted by a real ``bench-ledger``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench_agent.adapters.demo import LocalLedger
from bench_agent.models.base import SCHEMA_VERSION
from bench_agent.models.record import BenchRecord
from bench_agent.models.wipe import WipeReport
from bench_agent.sanitize import lite
from tests.conftest import LoopFactory
from tests.test_wipe_faultyfs import FaultyFactory, faulty_loop  # noqa: F401 (fixture)
from tests.test_workflow_support import cli, ledger, ledger_server, sync_and_fetch

__all__ = ["ledger", "ledger_server"]

MiB = 1 << 20
BLOCKER = '''
import sys

BLOCKED = {"pydantic", "pydantic_core", "zstandard"}


class NoSse2Finder:
    """What a Pentium III cannot load: these builds use SSE2 ("Illegal instruction")."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: its build needs SSE2")
        return None


sys.meta_path.insert(0, NoSse2Finder())
'''
RIGHT, ENTER, SPACE = "\x1b[C", "\r", " "


@pytest.fixture
def no_sse2_env(tmp_path: Path, agent_home: Path) -> dict[str, str]:
    blocker = tmp_path / "no-sse2"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": str(blocker), "BENCH_AGENT_HOME": str(agent_home)}
    probe = subprocess.run(
        [sys.executable, "-c", "import pydantic"], env=env, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "blocked" in probe.stderr, "the blocker does not block"
    return env


def run_lite(
    env: dict[str, str], keys: list[tuple[float, str]], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the entry point; ``keys`` are (pause before, bytes) written to its stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench_agent.sanitize.wipe_lite", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None
    for pause, text in keys:
        time.sleep(pause)
        proc.stdin.write(text)
        proc.stdin.flush()
    out, err = proc.communicate(timeout=timeout)  # closes stdin: the end of input
    assert "Traceback" not in err, err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def summary(err: str) -> dict[str, Any]:
    lines = [line for line in err.splitlines() if line.startswith("bench-lite: ")]
    assert len(lines) == 1, err
    result: dict[str, Any] = json.loads(lines[0].removeprefix("bench-lite: "))
    return result


def outbox_bodies(home: Path) -> list[dict[str, Any]]:
    path = home / "outbox.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return [json.loads(row[0]) for row in conn.execute("SELECT body FROM outbox")]


def is_zero(device: str, size: int) -> bool:
    with open(device, "rb") as handle:
        while size:
            block = handle.read(min(size, 4 * MiB))
            if block.count(0) != len(block):
                return False
            size -= len(block)
    return True


def test_wipe_only_path_wipes_certifies_and_records_without_sse2_modules(
    make_loop: LoopFactory,
    ledger: LocalLedger,
    agent_home: Path,
    no_sse2_env: dict[str, str],
) -> None:
    disks = [str(make_loop(64 * MiB, fill="random")), str(make_loop(16 * MiB, fill="random"))]
    # Enter chooses "Wipe these disks"; the confirmation needs → then Enter, each after a pause.
    keys = [(0.5, ENTER), (0.4, RIGHT), (0.4, ENTER), (0.1, "")]
    args = ["--device", disks[0], "--device", disks[1], "--cpu", "Pentium III (Katmai)"]
    done = run_lite(no_sse2_env, keys, *args)
    assert done.returncode == 0, done.stderr
    assert "ERASED" in done.stdout and "Pentium III (Katmai)" in done.stdout
    result = summary(done.stderr)
    assert [r["status"] for r in result["results"]] == ["erased", "erased"]  # wiped at once
    assert is_zero(disks[0], 64 * MiB) and is_zero(disks[1], 16 * MiB)

    # Each certificate verifies with the station key the ledger holds.
    certificates = []
    for disk, entry in zip(disks, result["results"], strict=True):
        key = str(agent_home / "station.pub")
        verified = cli("verify-cert", entry["certificate"], "--public-key", key)
        assert "genuine" in verified.stdout and "NIST SP 800-88 Rev. 2" in verified.stdout
        certificate = json.loads(Path(entry["certificate"]).read_text())
        assert certificate["media"]["device"] == disk
        assert certificate["verification"]["result"] == "passed"
        certificates.append(certificate)

    # The record: exactly what BenchRecord.model_dump(mode="json") writes for those fields.
    [body] = outbox_bodies(agent_home)
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    parsed = BenchRecord.model_validate(body)
    assert parsed.model_dump(mode="json", exclude_unset=True, exclude={"signature"}) == unsigned
    assert set(unsigned["wipes"][0]) == set(WipeReport.model_fields)
    assert unsigned["certificates"] == certificates
    assert unsigned["schema_version"] == SCHEMA_VERSION == lite.SCHEMA_VERSION

    # A real ledger accepts it (signature, station key, schema) once the outbox is synced.
    stored = sync_and_fetch(ledger, result["record_id"])
    assert stored["record_id"] == result["record_id"]
    assert stored["document"] == body and stored["key_id"] == body["signature"]["key_id"]


def test_a_held_key_never_confirms_the_wipe(
    make_loop: LoopFactory, agent_home: Path, no_sse2_env: dict[str, str]
) -> None:
    disk = str(make_loop(8 * MiB, fill="random"))
    before = Path(disk).read_bytes()[: 1 << 20]
    # A held Enter (auto-repeat: no silence between presses), then a held →, then Enter at
    # once: no press on the confirmation comes after a silence.
    held = [(0.5, ENTER * 30), (0.0, RIGHT * 20 + ENTER * 20)]
    done = run_lite(no_sse2_env, held, "--device", disk)
    assert done.returncode == 0, done.stderr
    assert "Wiping" not in done.stdout
    assert outbox_bodies(agent_home) == []
    with open(disk, "rb") as handle:
        assert handle.read(1 << 20) == before


def test_two_switch_operator_in_french_wipes_with_space_then_enter(
    make_loop: LoopFactory, agent_home: Path, no_sse2_env: dict[str, str]
) -> None:
    """The station's operator profile (two-switch sample: Space moves, Enter chooses, French)
    drives the screen; its bounce filter (300 ms) drops a second Space pressed too soon."""
    (agent_home / "agent.toml").write_text('station = "old-bench"\noperator = "two-switch"\n')
    disk = str(make_loop(16 * MiB, fill="random"))
    env = {**no_sse2_env, "BENCH_LANG": "fr"}
    keys = [(0.5, ENTER), (0.5, SPACE), (0.05, SPACE), (0.5, ENTER), (0.1, "")]
    done = run_lite(env, keys, "--device", disk)
    assert done.returncode == 0, done.stderr
    assert "Effacer ces disques" in done.stdout and "EFFACÉ" in done.stdout
    assert "Espace" in done.stdout  # the key names are the operator's
    assert is_zero(disk, 16 * MiB)
    [body] = outbox_bodies(agent_home)
    assert body["station"] == "old-bench" and body["operator"] == "two-switch"


def test_switch_off_and_the_disk_list(
    make_loop: LoopFactory, agent_home: Path, no_sse2_env: dict[str, str]
) -> None:
    """Loop devices are offered only when named; choosing "Switch off" exits 10."""
    disk = str(make_loop(8 * MiB))
    listed = subprocess.run(
        [sys.executable, "-m", "bench_agent.sanitize.wipe_lite", "--list"],
        env=no_sse2_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert disk not in json.loads(listed.stdout)["targets"]
    done = run_lite(no_sse2_env, [(0.5, RIGHT), (0.3, ENTER)], "--device", disk)
    assert done.returncode == 10, done.stdout
    assert outbox_bodies(agent_home) == []


def test_bad_sectors_are_declared_not_hidden_on_the_wipe_only_path(
    faulty_loop: FaultyFactory,  # noqa: F811
    agent_home: Path,
    no_sse2_env: dict[str, str],
) -> None:
    """Real EIO from the loop driver (a FUSE file failing in one range): the wipe-only path
    skips the bad sectors, declares them in the certificate, never calls the disk plain
    "erased" (the engine's rule, without pydantic)."""
    bad_start, bad_len = 5 * MiB + 4096, 3 * 512
    disk = str(faulty_loop(16 * MiB, bad=[(bad_start, bad_len)]))
    keys = [(0.5, ENTER), (0.4, RIGHT), (0.4, ENTER), (0.1, "")]
    done = run_lite(no_sse2_env, keys, "--device", disk, "--verify", "full")
    assert done.returncode == 0, done.stderr
    [result] = summary(done.stderr)["results"]
    assert result["status"] == "erased_with_exceptions"
    certificate = json.loads(Path(result["certificate"]).read_text())
    ranges = certificate["bad_blocks"]["ranges"]
    written = [r for r in ranges if r["phase"] == "write"]
    assert sum(r["length"] for r in written) == bad_len
    assert all(r["error"].startswith("EIO") for r in written)
    assert certificate["sanitization"]["status"] == "erased_with_exceptions"
    [body] = outbox_bodies(agent_home)
    BenchRecord.model_validate(body)


class Driver:
    """The screen as an operator sees it: keys are pressed when the last screen shows what the
    operator waits for (the auto-scan highlight moves by itself)."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench_agent.sanitize.wipe_lite", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.text = b""
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)

    def screen(self) -> str:
        assert self.proc.stdout is not None
        chunk = self.proc.stdout.read()
        if chunk:
            self.text += chunk
        return self.text.decode(errors="replace").rsplit("\x1b[H\x1b[J", 1)[-1]

    def press_when(self, *shown: str, key: str = ENTER, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not all(s in self.screen() for s in shown):
            assert time.monotonic() < deadline, f"never shown {shown}: {self.screen()}"
            time.sleep(0.05)
        assert self.proc.stdin is not None
        self.proc.stdin.write(key.encode())
        self.proc.stdin.flush()


def test_one_switch_auto_scan_confirms_with_two_choices_on_two_screens(
    make_loop: LoopFactory, agent_home: Path, no_sse2_env: dict[str, str]
) -> None:
    """The one-switch sample (auto-scan, Enter only): the highlight moves by itself; the wipe
    starts only after "Wipe now" was chosen on two confirmation screens."""
    (agent_home / "agent.toml").write_text('operator = "one-switch"\n')
    disk = str(make_loop(8 * MiB, fill="random"))
    driver = Driver(no_sse2_env, "--device", disk, "--lang", "en")
    driver.press_when("> [ Wipe these disks ] <", "highlight moves by itself")
    driver.press_when("(1 of 2)", "> [ Wipe now ] <")
    driver.press_when("(2 of 2)", "> [ Back ] <", key="")  # the second screen, not a wipe yet
    assert "Wiping" not in driver.text.decode(errors="replace")
    driver.press_when("(2 of 2)", "> [ Wipe now ] <")
    driver.press_when("Wipe finished.", key="")
    _out, err = driver.proc.communicate(timeout=60)
    assert driver.proc.returncode == 0, err
    [result] = summary(err.decode())["results"]
    assert result["status"] == "erased"
    assert is_zero(disk, 8 * MiB)


def test_on_a_terminal_ctrl_c_is_only_a_key(
    make_loop: LoopFactory, agent_home: Path, no_sse2_env: dict[str, str]
) -> None:
    """On a real terminal (a pty, raw keys): Ctrl+C neither stops the screen nor shows a
    traceback; the operator's keys still work (→ then Enter: "Switch off", exit 10)."""
    import fcntl
    import pty
    import termios

    disk = str(make_loop(8 * MiB))
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench_agent.sanitize.wipe_lite", "--device", disk],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=no_sse2_env,
        start_new_session=True,  # the pty becomes its controlling terminal, as tty1 on the bench
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(terminal)
    try:
        time.sleep(1.0)
        os.write(controller, b"\x03")
        time.sleep(0.5)
        assert proc.poll() is None, "Ctrl+C stopped the wipe-only screen"
        os.write(controller, RIGHT.encode())
        time.sleep(0.3)
        os.write(controller, ENTER.encode())
        assert proc.wait(timeout=30) == 10
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(controller)
    assert proc.stderr is not None
    assert b"Traceback" not in proc.stderr.read()
