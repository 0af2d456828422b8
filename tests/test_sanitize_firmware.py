"""Firmware purges are judged from the drive's state, not from hdparm's exit status.

No ATA drive with a Security feature set exists here, so ``hdparm`` is replaced on PATH by a
replayer of recorded output: the drive's identify data (hand-written, see
fixtures/hdparm/SOURCES.md) and the REAL answer QEMU's disk gave to SECURITY SET PASSWORD
(aborted, exit status 0). The wipe itself then runs for real on a loop device.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.models.wipe import HiddenAreas
from bench_agent.sanitize import CertificateContext, WipePlan, run_wipes
from bench_agent.sanitize.ata import run_security_erase
from tests.conftest import FIXTURES, LoopFactory

MiB = 1 << 20
HDPARM = FIXTURES / "hdparm"

FAKE = """#!{python}
import sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
if args[:1] == ["-V"]:
    print("hdparm v9.65")
elif args[:1] == ["-I"]:
    sys.stdout.write(open({identify!r}).read())
elif "--security-set-pass" in args:
    sys.stdout.write(open({set_pass!r}).read())
else:
    print("unexpected command", args, file=sys.stderr)
    sys.exit(1)
sys.exit(0)
"""


@pytest.fixture
def fake_hdparm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def install(identify: str) -> Path:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        log = tmp_path / "hdparm.log"
        script = bin_dir / "hdparm"
        script.write_text(
            FAKE.format(
                python=sys.executable,
                log=str(log),
                identify=str(HDPARM / identify),
                set_pass=str(HDPARM / "qemu72-ide-security-set-pass.txt"),
            )
        )
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        return log

    return install


def test_frozen_drive_is_never_given_a_password(fake_hdparm) -> None:  # type: ignore[no-untyped-def]
    log = fake_hdparm("handwritten-sata-ssd-sanitize-frozen.txt")
    passwords: list[str] = []
    outcome = run_security_erase(
        "/dev/sdz",
        enhanced=True,
        estimate_min=2,
        on_progress=lambda f, m: None,
        record_password=passwords.append,
    )
    assert not outcome.success and "frozen" in outcome.detail
    assert passwords == []
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["-I"]


def test_aborted_set_password_is_detected_despite_exit_0(fake_hdparm) -> None:  # type: ignore[no-untyped-def]
    log = fake_hdparm("handwritten-pata-hdd-security-hpa.txt")
    passwords: list[str] = []
    outcome = run_security_erase(
        "/dev/sdz",
        enhanced=False,
        estimate_min=98,
        on_progress=lambda f, m: None,
        record_password=passwords.append,
    )
    assert not outcome.success
    assert "refused SECURITY SET PASSWORD" in outcome.detail
    assert len(passwords) == 1  # journaled before it was sent
    set_pass = next(r for r in outcome.log if "--security-set-pass" in r.argv)
    assert set_pass.returncode == 0  # hdparm said nothing was wrong
    assert passwords[0] not in shlex.join(set_pass.argv)  # masked in the evidence
    commands = [line.split() for line in log.read_text().splitlines()]
    assert not any("--security-erase" in c for c in commands)  # never erased blindly


@pytest.mark.device
def test_failed_firmware_purge_falls_back_to_overwrite_and_says_why(
    fake_hdparm,
    make_loop: LoopFactory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    fake_hdparm("handwritten-pata-hdd-security-hpa.txt")
    dev = make_loop(8 * MiB, fill="random")
    plan = WipePlan(
        device=str(dev),
        kname=dev.name,
        size_bytes=8 * MiB,
        media_type="magnetic (HDD)",
        method="ata-secure-erase",
        level="purge",
        verify="full",
        fallback="zero",
        detection={"ata": {"security": {"erase_minutes": 98}}},
        hidden_areas=HiddenAreas(
            checked=True,
            hpa_present=True,
            dco_present=False,
            native_max_sectors=16400,
            visible_sectors=16384,
            note="HPA hides 16 sectors; no DCO restriction",
        ),
    )
    ((report, cert),) = run_wipes(
        [plan],
        settings=load_settings(),
        context=CertificateContext(),
        progress=lambda e: None,
        report_dir=tmp_path / "reports",
    )
    assert report.method == "zero" and report.level == "clear"
    assert report.extra["fallback_from"] == "ata-secure-erase"
    assert "refused SECURITY SET PASSWORD" in report.extra["fallback_reason"]
    assert report.verification_result == "passed"
    # The overwrite cannot reach the HPA: never plain "erased", and never claimed erased.
    assert report.status == "erased_with_exceptions"
    assert "HPA" in report.status_detail and not report.hidden_areas.erased
    assert cert is not None
    assert cert["sanitization"]["fallback_from"] == "ata-secure-erase"
    assert cert["hidden_areas"]["hpa_present"] is True
    assert cert["hidden_areas"]["erased"] is False
    with open(dev, "rb") as handle:
        assert handle.read() == bytes(8 * MiB)
