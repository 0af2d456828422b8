"""``bench-agent demo``: one whole machine cycle on this computer, for a newcomer.

A recorded real Pentium 4 (its evidence bundle) is inventoried and graded; two loop devices
stand in for its two disks and are wiped and imaged with the test master; the signed record
goes through the outbox to a local SQLite ledger started for the demo, and is read back from
it. Everything lives in a temporary directory removed at the end; the station's own settings,
journal and keys are never touched. Without root, the steps that need a device are explained
and skipped; the rest runs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_agent.errors import BenchError, ToolMissing
from bench_agent.i18n import _
from bench_agent.resources import training_evidence

EVIDENCE = training_evidence()
DEMO_ASSET = "DEMO-P4-0001"
DEMO_LOT = "DEMO-LOT-2026"
DEMO_STATION = "demo-bench"
SUPERVISOR = "demo-supervisor"


def _script(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(
            _("The command {name} is not installed.", name=name),
            _("Run ./scripts/setup first."),
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LocalLedger:
    url: str
    db_url: str
    token: str
    supervisor: str
    password: str
    process: subprocess.Popen[bytes]

    def add_station(self, name: str) -> str:
        """Create another station on the running ledger; returns its token."""
        return _station_token(_ledger_cli(self.db_url, "station", "add", name))

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        with httpx.Client(base_url=self.url, timeout=10) as client:
            login = client.post(
                "/api/v1/login", json={"name": self.supervisor, "password": self.password}
            )
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            response = client.request(method, path, headers=headers, **kwargs)
            response.raise_for_status()
            return response.json()


def _ledger_cli(db_url: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [_script("bench-ledger"), "--lang", "en", "--db", db_url, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(
            _(
                "bench-ledger {command} failed: {error}",
                command=args[0],
                error=(done.stderr or done.stdout).strip()[-300:],
            )
        )
    return done.stdout


def _station_token(output: str) -> str:
    """``bench-ledger station add`` prints a sentence, then the token alone on its line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else ""


@contextmanager
def local_ledger(
    directory: Path, station: str = DEMO_STATION, images: Path | None = None
) -> Iterator[LocalLedger]:
    """A real ledger on 127.0.0.1 with a temporary SQLite database, a station and a supervisor;
    with ``images``, it serves that folder's files to benches (``/api/v1/images/<file>``)."""
    db_url = f"sqlite:///{directory / 'ledger.sqlite'}"
    _ledger_cli(db_url, "db", "upgrade")
    token = _station_token(_ledger_cli(db_url, "station", "add", station))
    password = "demo-" + os.urandom(6).hex()
    _ledger_cli(db_url, "user", "add", SUPERVISOR, "--role", "supervisor", stdin=password + "\n")
    port = free_port()
    log = open(directory / "ledger.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [
            _script("bench-ledger"),
            "--db",
            db_url,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *(["--images", str(images)] if images is not None else []),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchError(
                    _(
                        "The local ledger stopped at start-up; see {log}.",
                        log=directory / "ledger.log",
                    )
                )
            try:
                if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(_("The local ledger did not answer in 60 s."))
            time.sleep(0.2)
        yield LocalLedger(url, db_url, token, SUPERVISOR, password, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def ensure_test_master(folder: Path) -> Path:
    """The catalogue ``folder``, building the test master there if it is missing.

    The builder is ``bench_agent.imaging.build`` (``scripts/build-test-master`` is a thin wrapper
    around it), so an installed wheel builds it too, into the station's images folder.
    """
    if not (folder / "test-master.toml").exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(_("Building the test master image into {folder}…", folder=folder), flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "bench_agent.imaging.build", "--out", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(
                _("Building the test master failed: {error}", error=done.stderr.strip()[-300:])
            )
    return folder


def image_size_needed(folder: Path | None = None) -> int:
    """The disk size the largest image of the catalogue ``folder`` needs (the bench chooses
    which one fits); without one, the catalogue of this computer's station settings."""
    from bench_agent.imaging import load_catalogue, station_images_dir

    if folder is None:
        from bench_agent.config import load_settings

        folder = station_images_dir(load_settings())
    return max((int(e.last_used_byte or e.image_size) for e in load_catalogue(folder)), default=0)


def _round_mib(size: int) -> int:
    mib = 1 << 20
    return (size + mib - 1) // mib * mib


@contextmanager
def loop_devices(directory: Path, sizes: list[int]) -> Iterator[list[str]]:
    created: list[str] = []
    try:
        for index, size in enumerate(sizes):
            backing = directory / f"demo-disk-{index}.img"
            with open(backing, "wb") as handle:
                handle.truncate(size)
            created.append(
                subprocess.run(
                    ["losetup", "--find", "--show", str(backing)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.strip()
            )
        yield created
    finally:
        for device in reversed(created):
            subprocess.run(["losetup", "-d", device], capture_output=True, check=False)


def _say(text: str) -> None:
    print(text, flush=True)


def run_demo(*, json_output: bool = False, keep: bool = False) -> int:
    from bench_agent.config import load_settings
    from bench_agent.workflow.headless import RunOptions, run_headless, summary

    if not EVIDENCE.is_dir():
        raise BenchError(_("The recorded Pentium 4 bundle is missing: {path}", path=EVIDENCE))
    root = os.geteuid() == 0
    workdir = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    home = workdir / "station"
    # The demo's own commands run as its temporary station; this process keeps its environment
    # and passes the home to what it calls.
    station_env = {**os.environ, "BENCH_AGENT_HOME": str(home)}
    result: dict[str, Any] = {"root": root, "workdir": str(workdir)}
    try:
        _say(_("Bench Agent demo: a recorded Pentium 4 goes through the whole bench."))
        _say(_("Working directory (removed at the end): {path}", path=workdir))
        with local_ledger(workdir) as ledger:
            _say(_("Local ledger started at {url} (SQLite).", url=ledger.url))
            enrol = subprocess.run(
                [_script("bench-agent"), "--lang", "en", "enroll", "--ledger", ledger.url,
                 "--token", ledger.token, "--station", DEMO_STATION],
                capture_output=True, text=True, check=False, env=station_env,
            )  # fmt: skip
            if enrol.returncode != 0:
                raise BenchError(
                    _("Enrolment failed: {error}", error=(enrol.stderr or enrol.stdout).strip())
                )
            _say(_("Station '{name}' enrolled with the ledger.", name=DEMO_STATION))
            settings = load_settings(home=home, station=DEMO_STATION, location="demo")
            options = RunOptions(
                profile="pentium4",
                unattended=True,
                asset=DEMO_ASSET,
                lot=DEMO_LOT,
                evidence=EVIDENCE,
            )
            if root:
                from bench_agent.imaging import station_images_dir

                need = image_size_needed(ensure_test_master(station_images_dir(settings)))
                sizes = [_round_mib(max(need + (16 << 20), 64 << 20)), 64 << 20]
                with loop_devices(workdir, sizes) as disks:
                    _say(
                        _(
                            "Two loop devices stand in for the Pentium 4's disks: {disks}",
                            disks=", ".join(disks),
                        )
                    )
                    options.disks = disks  # the image is chosen for the CPU: i686 here
                    state, _code = run_headless(settings, options, say=_say)
            else:
                _say(
                    _(
                        "Not root: the wipe and the image need loop devices, which only root can "
                        "create. They are skipped; run the demo as root to see them."
                    )
                )
                state, _code = run_headless(settings, options, say=_say)
            sync = subprocess.run(
                [_script("bench-agent"), "--lang", "en", "sync", "--once"],
                capture_output=True, text=True, check=False, env=station_env,
            )  # fmt: skip
            stored = ledger.api("GET", f"/api/v1/records/{state.machine_id}")
            result.update(summary(state))
            result["ledger_url"] = ledger.url
            result["sync_exit"] = sync.returncode
            result["ledger_has_record"] = bool(stored)
            result["certificates_verified"] = _verify_certificates(state.certificates)
        ok = _report(result, json_output)
        return 0 if ok else 1
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _verify_certificates(certificates: list[dict[str, Any]]) -> int:
    from bench_agent.sanitize import verify_certificate

    verified = 0
    for certificate in certificates:
        verify_certificate(certificate)
        verified += 1
    return verified


def _report(result: dict[str, Any], json_output: bool) -> bool:
    wipes_ok = all(w["status"] == "erased" for w in result.get("wipes", []))
    image = result.get("image")
    image_ok = image is None or image["status"] == "success"
    if result["root"]:
        complete = bool(result.get("wipes")) and image is not None and image_ok
    else:
        complete = True
    ok = complete and wipes_ok and bool(result.get("ledger_has_record"))
    result["ok"] = ok
    if json_output:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        return ok
    _say("")
    _say(_("Asset {tag}", tag=result.get("asset_tag")))
    _say(_("Verdict: {outcome}", outcome=result.get("outcome")))
    for wipe in result.get("wipes", []):
        _say(_("Wipe {device}: {status}", device=wipe["device"], status=wipe["status"]))
    if image:
        _say(_("Image {name}: {status}", name=image["image"], status=image["status"]))
    _say(_("Certificates verified: {n}", n=result.get("certificates_verified", 0)))
    _say(
        _(
            "Record in the ledger: {yes}",
            yes=_("yes") if result.get("ledger_has_record") else _("no"),
        )
    )
    _say(_("Demo complete.") if ok else _("Demo finished with problems (see above)."))
    return ok
