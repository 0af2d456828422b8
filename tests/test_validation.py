"""Validation (issue 15 item 2): an independent full read of a wiped loop disk passes, one
planted non-zero block fails naming its offset; after a purge, re-sampled ranges must differ
from before; the draw, the signed result linked to the certificate, a failure revoking it."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.models.wipe import WipeReport
from bench_agent.sanitize import CertificateContext, plan_wipes, run_wipes
from bench_agent.sanitize.sampling import nist_sample_plan
from bench_agent.sanitize.validation import (
    ValidationPolicy,
    certificate_digest,
    draw,
    expected_source,
    full_read_check,
    purge_resample_check,
    validate_after_wipe,
)
from bench_agent.signing import verify_document
from tests.conftest import LoopFactory
from tests.test_wipe_cli import cli
from tests.test_wipe_faultyfs import FaultyFactory, faulty_loop  # noqa: F401 (fixture)

MiB = 1 << 20


def _wipe(dev: Path, tmp_path: Path, method: str) -> tuple[WipeReport, dict]:  # type: ignore[type-arg]
    plans = plan_wipes([str(dev)], method=method, verify="sample")  # type: ignore[arg-type]
    ((report, cert),) = run_wipes(
        plans,
        settings=load_settings(),
        context=CertificateContext(operator="alice", station="bench-1"),
        progress=lambda _e: None,
        report_dir=tmp_path / "reports",
    )
    assert report.status == "erased" and cert is not None, report.status_detail
    return report, cert


def _plant(dev: Path, offset: int, data: bytes) -> None:
    fd = os.open(dev, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)
    with open("/proc/sys/vm/drop_caches", "w") as handle:
        handle.write("1")


@pytest.mark.device
@pytest.mark.parametrize("method", ["zero", "random"])
def test_full_read_passes_on_a_wiped_disk_and_names_a_planted_block(
    make_loop: LoopFactory, tmp_path: Path, method: str
) -> None:
    dev = make_loop(24 * MiB, fill="random")
    report, _cert = _wipe(dev, tmp_path, method)
    ok = full_read_check(str(dev), expected_source(report))
    assert ok.passed, ok.detail
    assert ok.bytes_read == 24 * MiB and ok.first_offsets == []
    assert "every byte is the written pattern" in ok.detail

    planted = 13 * MiB + 5 * 4096 + 77  # one byte inside one block
    # Not a fixed byte: the keystream holds any given value at that offset one run in 256.
    _plant(dev, planted, bytes([expected_source(report)(planted, 1)[0] ^ 0xFF]))
    bad = full_read_check(str(dev), expected_source(report))
    assert not bad.passed
    assert bad.offending_blocks == 1
    assert bad.first_offsets == [planted]
    assert str(planted) in bad.detail


@pytest.mark.device
def test_validation_result_is_signed_linked_and_a_failure_revokes(
    make_loop: LoopFactory, tmp_path: Path, agent_home: Path
) -> None:
    dev = make_loop(16 * MiB, fill="random")
    report, cert = _wipe(dev, tmp_path, "zero")
    key = agent_home / "station.key"
    the_draw, result = validate_after_wipe(
        report,
        cert,
        policy=ValidationPolicy(rate=0.05, source="cached", published_at="2026-12-01"),
        validator="bob",
        station="bench-1",
        key_path=key,
        report_dir=tmp_path / "reports",
        forced=True,
    )
    assert the_draw.selected and result is not None
    verify_document(result)
    assert result["certificate_id"] == cert["certificate_id"]
    assert result["certificate_sha256"] == certificate_digest(cert)
    assert result["check"]["result"] == "passed" and result["certificate_status"] == "valid"
    assert result["independent_operator"] is True and result["wiped_by"] == "alice"
    assert report.status == "erased"
    assert Path(report.extra["validation"]["file"]).exists()
    assert "selected" in report.extra["validation_draw"]["note"]

    _plant(dev, 4096 * 100, b"\xff" * 512)
    _the_draw, failed = validate_after_wipe(
        report,
        cert,
        policy=ValidationPolicy(),
        validator="alice",
        station="bench-1",
        key_path=key,
        report_dir=tmp_path / "reports",
        forced=True,
    )
    assert failed is not None and failed["certificate_status"] == "failed"
    assert failed["check"]["first_offending_offsets"] == [409600]
    assert failed["independent_operator"] is False
    assert report.status == "failed" and "certificate is revoked" in report.status_detail
    assert list((tmp_path / "reports").glob("*.cert.REVOKED"))


@pytest.mark.device
def test_purge_validation_compares_with_the_pre_purge_samples(
    make_loop: LoopFactory, tmp_path: Path
) -> None:
    dev = make_loop(16 * MiB, fill="random")
    plan = nist_sample_plan(16 * MiB, 512)
    with open(dev, "rb") as handle:
        data = handle.read()

    def samples_of(content: bytes) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for offset, length in plan.ranges:
            piece = content[offset : offset + length]
            uniform = piece.count(piece[:1]) == len(piece)
            out.append(
                {
                    "offset": offset,
                    "length": length,
                    "sha256": hashlib.sha256(piece).hexdigest(),
                    "fill_byte": piece[0] if uniform else None,
                }
            )
        return out

    before = samples_of(data)
    # Nothing happened: the purge "succeeded" but the data is still there.
    unchanged = purge_resample_check(str(dev), before, method="nvme-sanitize-crypto")
    assert not unchanged.passed and unchanged.first_offsets[0] == plan.ranges[0][0]
    # A crypto erase leaves other (random-looking) content: passes.
    _plant(dev, 0, os.urandom(16 * MiB))
    crypto = purge_resample_check(str(dev), before, method="nvme-sanitize-crypto")
    assert crypto.passed, crypto.detail
    # ...but a block erase must read as one uniform byte.
    block = purge_resample_check(str(dev), before, method="nvme-sanitize-block")
    assert not block.passed and "uniform" in block.detail
    _plant(dev, 0, b"\xff" * (16 * MiB))
    block = purge_resample_check(str(dev), before, method="ata-sanitize-block")
    assert block.passed and "0xff" in block.detail


def test_the_draw_uses_the_published_rate_and_says_where_it_came_from(
    agent_home: Path,
) -> None:
    assert ValidationPolicy.load(agent_home).source == "default"
    assert ValidationPolicy.load(agent_home).rate == 0.05
    ValidationPolicy(rate=0.25, published_at="2026-12-01T10:00:00+00:00").save(agent_home)
    cached = ValidationPolicy.load(agent_home)
    assert (cached.rate, cached.source) == (0.25, "cached")
    picks = [draw(cached) for _ in range(4000)]
    share = sum(p.selected for p in picks) / len(picks)
    assert 0.21 < share < 0.29
    assert len({p.draw_id for p in picks}) == len(picks)
    assert "offline: the rate the ledger last published" in picks[0].note()
    assert not any(draw(ValidationPolicy(rate=0.0)).selected for _ in range(200))
    assert all(draw(ValidationPolicy(rate=1.0)).selected for _ in range(200))
    (agent_home / "validation-policy.json").write_text(json.dumps({"rate": 7}))
    assert ValidationPolicy.load(agent_home).source == "default"


@pytest.mark.device
def test_cli_wipe_validates_at_once_and_the_record_says_how_it_was_drawn(
    make_loop: LoopFactory, tmp_path: Path
) -> None:

    dev = make_loop(8 * MiB, fill="random")
    base = ["wipe", str(dev), "--profile", "test-bench", "--yes", "--report-dir", str(tmp_path)]

    always = cli(*base, "--validation", "always", "--validator", "bob")
    assert always.returncode == 0, always.stdout + always.stderr
    assert "validation passed (full read of 8388608 bytes" in always.stdout
    (validation_file,) = tmp_path.glob("*.validation.json")
    document = json.loads(validation_file.read_text())
    assert document["validator"] == "bob" and document["check"]["result"] == "passed"
    assert document["draw"]["source"] == "forced"
    (report_file,) = tmp_path.glob("*.wipe.json")
    report = json.loads(report_file.read_text())
    assert report["extra"]["validation"]["document"]["validation_id"] == (document["validation_id"])
    # Anyone can check the signed result, and that it is tied to the certificate beside it.
    checked = cli("verify-cert", str(validation_file))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "genuine: validation" in checked.stdout and "passed by bob" in checked.stdout
    assert "SHA-256 matches" in checked.stdout
    altered = validation_file.read_text().replace('"validator": "bob"', '"validator": "eve"')
    validation_file.write_text(altered)
    refused = cli("verify-cert", str(validation_file))
    assert refused.returncode != 0 and refused.stderr.startswith("error: ")
    # Offline, never told a rate by the ledger: drawn at the default 5 %, and it says so.
    drawn = cli(*base)
    assert drawn.returncode == 0, drawn.stdout + drawn.stderr
    assert ("not drawn for validation (5.0% rate, from default)" in drawn.stdout) or (
        "validation passed" in drawn.stdout
    )


# -- the ledger side ------------------------------------------------------------------------


@pytest.fixture
def policy_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real HTTP server publishing the validation policy (the ledger's router)."""
    import socket
    import threading
    import time

    import uvicorn
    from fastapi import FastAPI

    from bench_agent.ledger.validation import router

    monkeypatch.setenv("BENCH_LEDGER_VALIDATION_RATE", "0.2")
    app = FastAPI()
    app.include_router(router)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the policy server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_the_bench_keeps_the_published_rate_and_draws_at_it_offline(
    policy_server: str, agent_home: Path
) -> None:
    from bench_agent.sanitize.validation import refresh_policy

    online = refresh_policy(policy_server, agent_home)
    assert (online.rate, online.source) == (0.2, "ledger") and online.published_at
    # The ledger unreachable: the rate it published last, and the draw says so.
    offline = refresh_policy("http://127.0.0.1:9", agent_home, timeout_s=0.5)
    assert (offline.rate, offline.source) == (0.2, "cached")
    assert "offline: the rate the ledger last published" in draw(offline).note()
    assert refresh_policy("", agent_home).source == "cached"


@pytest.mark.device
def test_coverage_counts_validations_and_lists_failures_loudly(
    make_loop: LoopFactory, tmp_path: Path, agent_home: Path
) -> None:
    from datetime import UTC, datetime

    from bench_agent.ledger.validation import validation_coverage
    from bench_agent.models.inventory import Inventory
    from bench_agent.models.record import BenchRecord

    key = agent_home / "station.key"
    dev = make_loop(8 * MiB, fill="random")
    wipes = []
    for outcome in ("passed", "failed", "not drawn"):
        report, cert = _wipe(dev, tmp_path, "zero")
        if outcome == "failed":
            _plant(dev, 8192, b"\x01")
        validate_after_wipe(
            report,
            cert,
            policy=ValidationPolicy(),
            validator="bob",
            station="bench-1",
            key_path=key,
            report_dir=tmp_path / "reports",
            forced=outcome != "not drawn",
        )
        if outcome == "failed":
            report.certificate_id = ""  # revoked: not in the record's certificates
        else:
            assert report.status == "erased"
        wipes.append(report)
    now = datetime.now(UTC)
    record = BenchRecord(station="bench-1", inventory=Inventory(), finished_at=now, wipes=wipes)
    coverage = validation_coverage([record, record], start=now.date(), end=now.date(), rate=0.05)
    assert coverage.disks_certified == 3  # the revoked one was certified first; a retry counts once
    assert (coverage.drawn, coverage.validated, coverage.passed, coverage.failed) == (2, 2, 1, 1)
    assert coverage.independent == 2 and coverage.coverage_percent == 66.67
    (failure,) = coverage.failures
    assert "8192" in failure.detail and failure.validator == "bob"
    # A tampered validation result is not counted as a validation.
    wipes[0].extra["validation"]["document"]["check"]["result"] = "passed!"
    tampered = validation_coverage([record], start=now.date(), end=now.date())
    assert tampered.unverifiable == 1 and tampered.validated == 1


# -- after a firmware purge -----------------------------------------------------------------

FAKE_NVME = """#!{python}
# nvme-cli stand-in: no NVMe drive exists here. It does to the loop device what the drive's
# firmware would (or would not: FILL=none is FOG's NVMe wipe that erased nothing).
import json, os, sys
args = sys.argv[1:]
fill = os.environ.get("FAKE_NVME_FILL", "00")

def erase(dev):
    if fill == "none":
        return
    size = os.open(dev, os.O_RDONLY)
    total = os.lseek(size, 0, os.SEEK_END)
    os.close(size)
    fd = os.open(dev, os.O_WRONLY)
    for offset in range(0, total, 1 << 20):
        n = min(1 << 20, total - offset)
        data = os.urandom(n) if fill == "random" else bytes([int(fill, 16)]) * n
        os.pwrite(fd, data, offset)
    os.fsync(fd)
    os.close(fd)

if args[:1] == ["version"]:
    print("nvme version 2.4 (test stand-in)")
elif args[:1] == ["format"]:
    erase(args[1])
    print("Success formatting namespace:1")
elif args[:1] == ["sanitize"]:
    erase(args[1])
elif args[:1] == ["sanitize-log"]:
    print(json.dumps({{"nvme0": {{"sstat": 1, "sprog": 65535}}}}))
else:
    sys.exit(1)
"""


@pytest.fixture
def fake_nvme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "nvme"
    script.write_text(FAKE_NVME.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def _firmware_wipe(dev: Path, tmp_path: Path, method: str) -> tuple[WipeReport, dict | None]:  # type: ignore[type-arg]
    from bench_agent.sanitize import WipePlan
    from bench_agent.sanitize.validation import ValidationOptions

    plan = WipePlan(
        device=str(dev),
        kname=dev.name,
        size_bytes=16 * MiB,
        media_type="NVMe flash (SSD)",
        method=method,
        level="purge",
        verify="sample",
        fallback=None,
    )
    ((report, cert),) = run_wipes(
        [plan],
        settings=load_settings(),
        context=CertificateContext(operator="alice", station="bench-1"),
        progress=lambda _e: None,
        report_dir=tmp_path / "reports",
        validation=ValidationOptions(ValidationPolicy(), validator="bob", forced=True),
    )
    return report, cert


@pytest.mark.device
def test_a_purge_is_validated_against_the_samples_read_before_it(
    fake_nvme: None, make_loop: LoopFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = make_loop(16 * MiB, fill="random")
    monkeypatch.setenv("FAKE_NVME_FILL", "00")
    report, cert = _firmware_wipe(dev, tmp_path, "nvme-format-user-data")
    assert report.status == "erased" and cert is not None, report.status_detail
    technique = cert["technique"]
    assert technique["name"] == "Format NVM with secure erase (User Data Erase)"
    assert technique["interface_command"] == "NVMe Format NVM, SES 001b (User Data Erase)"
    assert technique["completion_status"] == "Format NVM completed (nvme-cli exit status 0)"
    assert technique["commands"][0]["argv"].startswith(f"nvme format {dev} --ses=1")
    assert cert["verification"]["scope"] == "sampled"
    document = report.extra["validation"]["document"]
    assert document["check"]["kind"] == "purge-resample"
    assert document["check"]["result"] == "passed", document["check"]["detail"]
    assert Path(report.extra["pre_purge_samples_file"]).exists()

    # A block erase must leave the drive's uniform pattern: random-looking content (a drive
    # that wrote something else) passes the wipe's own check but fails validation.
    monkeypatch.setenv("FAKE_NVME_FILL", "random")
    report, cert = _firmware_wipe(dev, tmp_path, "nvme-sanitize-block")
    assert cert is None and report.status == "failed"
    document = report.extra["validation"]["document"]
    assert document["certificate_status"] == "failed"
    revoked = report.extra["revoked_certificate"]
    assert document["certificate_sha256"] == certificate_digest(revoked)
    assert "uniform" in document["check"]["detail"]

    monkeypatch.setenv("FAKE_NVME_FILL", "ff")
    report, cert = _firmware_wipe(dev, tmp_path, "nvme-sanitize-block")
    assert report.status == "erased" and cert is not None
    assert cert["technique"]["name"] == "Sanitize Block Erase"
    assert "0xff" in report.extra["validation"]["document"]["check"]["detail"]

    # "Success" printed, nothing erased: never a certificate.
    monkeypatch.setenv("FAKE_NVME_FILL", "none")
    dev2 = make_loop(16 * MiB, fill="random")
    report, cert = _firmware_wipe(dev2, tmp_path, "nvme-format-user-data")
    assert cert is None and report.status == "failed"


@pytest.mark.device
def test_validation_excuses_the_bad_ranges_the_certificate_declares(
    faulty_loop: FaultyFactory,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """A disk with real unreadable sectors ends erased_with_exceptions; its validation reads
    around the declared bad ranges and passes (it must not send a good wipe back)."""
    from bench_agent.sanitize.validation import ValidationOptions

    bad_start, bad_len = 5 * MiB + 4096, 8192
    dev = faulty_loop(12 * MiB, bad=[(bad_start, bad_len)])
    plans = plan_wipes([str(dev)], method="zero", verify="full")
    ((report, cert),) = run_wipes(
        plans,
        settings=load_settings(),
        context=CertificateContext(operator="alice"),
        progress=lambda _e: None,
        report_dir=tmp_path / "reports",
        validation=ValidationOptions(ValidationPolicy(), validator="bob", forced=True),
    )
    assert report.status == "erased_with_exceptions", report.status_detail
    assert cert is not None
    document = report.extra["validation"]["document"]
    assert document["check"]["result"] == "passed", document["check"]["detail"]
    assert document["check"]["bytes_read"] < 12 * MiB  # the bad sectors could not be read


@pytest.mark.device
def test_a_stop_before_the_drawn_validation_does_not_revoke_the_certificate(
    make_loop: LoopFactory, tmp_path: Path
) -> None:
    """The operator stops the run (another disk still wiping) after this disk ended erased but
    before its drawn validation began: the disk is not checked, and a check never made is not a
    failed one, so its certificate stands and the record says why it was not checked."""
    import threading

    from bench_agent.progress import ProgressEvent
    from bench_agent.sanitize.validation import ValidationOptions

    dev = make_loop(8 * MiB, fill="random")
    cancel = threading.Event()

    def progress(event: ProgressEvent) -> None:
        if event.phase == "done":
            cancel.set()  # this disk's wipe has ended; the validation has not begun

    ((report, cert),) = run_wipes(
        plan_wipes([str(dev)], method="zero", verify="sample"),
        settings=load_settings(),
        context=CertificateContext(operator="alice", station="bench-1"),
        progress=progress,
        cancel=cancel,
        report_dir=tmp_path / "reports",
        validation=ValidationOptions(policy=ValidationPolicy(), forced=True),
    )
    assert report.status == "erased" and cert is not None, report.status_detail
    assert report.extra["validation_draw"]["selected"] is True
    assert report.extra["validation"]["result"] == "not_done"
    assert "stopped" in report.extra["validation"]["detail"]
    assert not list((tmp_path / "reports").glob("*.REVOKED"))
