"""The virtual bench's Pentium III (QEMU ``-cpu pentium3``, no SSE2) takes the wipe-only path of
the live image: tty1 explains, the bench app is never started, two of the operator's keys
(Enter on "Wipe these disks", then → and Enter on the confirmation, sent with QMP send-key) wipe
its disk with the bench's engine (``bench_agent.sanitize.wipe_lite``), and its signed
certificate verifies and reaches a real ledger on 127.0.0.1 (the station home leaves through
the 9p io share; the host syncs its outbox).

QEMU runs SSE2 instructions even for ``-cpu pentium3``: the proof that the path imports nothing
needing SSE2 is tests/test_wipe_lite.py (pydantic, pydantic_core and zstandard blocked).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.vm_support import vbench

pytestmark = [pytest.mark.vm, pytest.mark.slow]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def p3_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from bench_agent.adapters.demo import local_ledger

    with local_ledger(tmp_path_factory.mktemp("p3-ledger"), station="p3-tests") as running:
        yield running


def wipe_pentium3(live: Path, workdir: Path, ledger: Any) -> dict[str, Any]:
    """Boot the Pentium III in the operator's mode, wipe with two keys; what the host found."""
    machine = vbench.MACHINES["pentium3"]
    token = ledger.add_station("vbench-pentium3")
    session = vbench.start_app_mode(machine, workdir, live)
    # The station home the guest copies in (its key enrolled with the ledger).
    vbench.seed_station(workdir / "io", ledger.url, token)
    with session:
        shown = session.wait_screen(("cannot run the bench",), timeout_s=240)
        assert shown.seconds_to_screen is not None, session.text()[-3000:]
        screen = shown.last_screen
        assert "Processor: Pentium III (Katmai) (no sse2)." in screen, screen
        assert "IC35L040AVER07-0" in screen, screen  # the disk on offer
        assert "fd0" not in screen
        assert shown.screenshot is not None and shown.screenshot.stat().st_size > 0
        session.keys("ret")  # "Wipe these disks"
        asked = session.wait_screen(("To confirm:",), timeout_s=60)
        assert asked.seconds_to_screen is not None, asked.last_screen
        session.keys("right", "ret")  # "Wipe now"
        done = session.wait_screen(("Wipe finished.",), timeout_s=300)
        assert done.seconds_to_screen is not None, done.last_screen
        text = session.text()
    return {
        "screen": done.last_screen,
        "serial": text,
        "disk": next(workdir.glob("disk0-*.img")),
        "home": workdir / "io" / "station-out",
        "seconds": done.seconds_to_screen,
    }


def test_pentium3_wipes_on_the_wipe_only_path_with_a_signed_certificate(
    live_i686: Path, p3_ledger: Any, tmp_path: Path
) -> None:
    found = wipe_pentium3(live_i686, tmp_path / "p3", p3_ledger)
    text = found["serial"]
    assert "Illegal instruction" not in text
    assert "the bench app starts (" not in text  # the session never launched it
    assert "/dev/sda: ERASED, certificate" in found["screen"], found["screen"]
    assert vbench.marker_offsets(found["disk"]) == []  # the donor's data is gone

    home: Path = found["home"]
    [cert_file] = sorted((home / "reports").glob("*.cert.json"))
    key = str(home / "station.pub")
    verified = subprocess.run(
        [
            str(BIN / "bench-agent"),
            "--lang",
            "en",
            "verify-cert",
            str(cert_file),
            "--public-key",
            key,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0 and "genuine" in verified.stdout, verified.stderr
    certificate = json.loads(cert_file.read_text())
    assert certificate["media"]["serial"] == "P3OLDDISK01"
    assert certificate["sanitization"]["status"] == "erased"

    result = vbench.RunResult(vbench.MACHINES["pentium3"], tmp_path / "p3", None, 0.0, home)
    synced = vbench.sync_to_ledger(result, p3_ledger.url)
    assert synced.returncode == 0, synced.stderr
    [summary] = p3_ledger.api("GET", "/api/v1/records", params={"station": "vbench-pentium3"})
    stored = p3_ledger.api("GET", f"/api/v1/records/{summary['record_id']}")
    assert stored["document"]["certificates"] == [certificate]
    assert stored["document"]["inventory"]["cpu"]["has_sse2"] is False
    indexed = p3_ledger.api("GET", f"/api/v1/certificates/{certificate['certificate_id']}")
    assert indexed == certificate  # the ledger's copy, as the station issued it
