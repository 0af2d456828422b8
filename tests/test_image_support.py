"""Helpers for the imaging tests: the test master built once per session, loop-device checks."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parent.parent
BUILD = ROOT / "scripts" / "build-test-master"


def build_master(out: Path) -> Path:
    """Run the real build script into ``out`` (a catalogue directory)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [str(BUILD), "--out", str(out)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return out


def file_sha256(path: Path | str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def detach_loops_on(target: Path | str) -> None:
    """Detach loop devices a killed writer may have left attached to ``target``."""
    out = run(["losetup", "-j", str(target), "-O", "NAME", "-n"]).stdout
    for name in out.split():
        run(["umount", "-q", name])
        run(["losetup", "-d", name])


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench_agent.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=timeout,
        check=False,
    )


def shared_master(basetemp: Path) -> Path:
    """The test master, built once per pytest session (shared by the imaging test modules)."""
    out = basetemp / "imaging-test-master"
    if not (out / "test-master.toml").exists():
        build_master(out)
    return out


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A test server's request handler that keeps the test output clean."""

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served from a thread on a free loopback port: its base URL, for the block."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll: shutdown() waits for it (the default 0.5 s, paid by every test).
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
