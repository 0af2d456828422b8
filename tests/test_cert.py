"""Certificates: signed JSON and PDF verify offline; any altered byte fails with a reason."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench_agent.errors import BenchError
from bench_agent.models.wipe import BadRange, HiddenAreas, WipeReport
from bench_agent.sanitize.certificate import (
    ATTACHMENT_NAME,
    CertificateContext,
    extract_attachments,
    issue_certificate,
    qr_payload,
    serialize,
    verify_certificate,
    write_certificate,
)
from bench_agent.signing import generate_key, public_key_text

ROOT = Path(__file__).parent.parent


def make_report() -> WipeReport:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return WipeReport(
        device="/dev/sdb",
        vendor="Seagate",
        model="ST3250820AS",
        serial="5QE1ABCD",
        size_bytes=250_059_350_016,
        media_type="magnetic (HDD)",
        method="zero",
        level="clear",
        tool="bench-agent",
        tool_version="0.1.0",
        verification="sample",
        verification_result="passed",
        verification_detail="NIST SP 800-88 sampling",
        status="erased_with_exceptions",
        status_detail="1024 bytes in 1 bad range",
        bytes_written=250_059_350_016,
        bytes_verified=25_100_000_000,
        bad_ranges=[BadRange(start_byte=4096, length=1024, phase="write", error="EIO")],
        hidden_areas=HiddenAreas(
            checked=True, hpa_present=False, dco_present=False, note="no HPA, no DCO"
        ),
        started_at=start,
        finished_at=start + timedelta(hours=1),
        throughput_mbps=70.1,
        extra={"method_description": "single-pass overwrite with zeros (0x00)"},
    )


CONTEXT = CertificateContext(
    operator="Zoé Martin",
    station="bench-3",
    location="Besançon",
    asset_tag="PC-2026-0042",
    lot="LOT-ACME-7",
    destination="reuse",
)


@pytest.fixture
def issued(tmp_path: Path) -> tuple[dict, Path, Path, Path]:  # type: ignore[type-arg]
    key_path = tmp_path / "station.key"
    cert = issue_certificate(make_report(), CONTEXT, key_path)
    json_path, pdf_path = write_certificate(cert, tmp_path / "out")
    return cert, json_path, pdf_path, key_path


def test_certificate_carries_the_nist_fields(issued: tuple) -> None:  # type: ignore[type-arg]
    cert = issued[0]
    assert cert["media"] == {
        "manufacturer": "Seagate",
        "model": "ST3250820AS",
        "serial": "5QE1ABCD",
        "media_type": "magnetic (HDD)",
        "size_bytes": 250_059_350_016,
        "device": "/dev/sdb",
    }
    assert cert["source"] == {"asset_tag": "PC-2026-0042", "lot": "LOT-ACME-7"}
    san = cert["sanitization"]
    assert (san["level"], san["method"], san["tool"], san["tool_version"]) == (
        "clear",
        "zero",
        "bench-agent",
        "0.1.0",
    )
    assert san["duration_s"] == 3600.0 and san["throughput_mbps"] == 70.1
    assert cert["verification"]["method"] == "sample"
    assert cert["verification"]["result"] == "passed"
    assert cert["hidden_areas"]["hpa_present"] is False
    assert cert["bad_blocks"]["count_bytes"] == 1024
    assert (cert["operator"], cert["station"], cert["location"]) == (
        "Zoé Martin",
        "bench-3",
        "Besançon",
    )
    assert cert["post_sanitization_destination"] == "reuse"
    assert cert["signature"]["algorithm"] == "ed25519"
    assert "sha256=" in qr_payload(cert)


def test_round_trip_json_and_pdf(issued: tuple) -> None:  # type: ignore[type-arg]
    cert, json_path, pdf_path, key_path = issued
    pub = key_path.with_suffix(".pub")
    assert verify_certificate(json_path, str(pub))["certificate_id"] == cert["certificate_id"]
    checked = verify_certificate(pdf_path, pub.read_text())
    assert checked["_pdf_check"] == "identical"
    assert extract_attachments(pdf_path.read_bytes()) == [serialize(cert)]
    assert pdf_path.read_bytes().count(ATTACHMENT_NAME.encode()) >= 1


def test_another_stations_key_is_refused(issued: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    other = generate_key(tmp_path / "other.key")
    with pytest.raises(BenchError, match="another key"):
        verify_certificate(issued[1], public_key_text(other.public_key()))


def test_every_flipped_byte_of_the_json_fails(issued: tuple) -> None:  # type: ignore[type-arg]
    json_path = issued[1]
    original = json_path.read_bytes()
    for position in range(len(original)):
        altered = bytearray(original)
        altered[position] ^= 0x01
        json_path.write_bytes(bytes(altered))
        with pytest.raises(BenchError):
            verify_certificate(json_path)
    json_path.write_bytes(original)
    verify_certificate(json_path)


def test_a_changed_field_with_valid_layout_fails_on_the_signature(issued: tuple) -> None:  # type: ignore[type-arg]
    cert = json.loads(issued[1].read_text())
    cert["sanitization"]["status"] = "erased"
    issued[1].write_bytes(serialize(cert))
    with pytest.raises(BenchError, match="signature does not match"):
        verify_certificate(issued[1])


def test_every_flipped_byte_of_the_pdf_payload_fails(issued: tuple) -> None:  # type: ignore[type-arg]
    cert, _json_path, pdf_path, _key = issued
    original = pdf_path.read_bytes()
    payload = serialize(cert)
    start = original.index(payload)
    for position in range(start, start + len(payload)):
        altered = bytearray(original)
        altered[position] ^= 0x01
        pdf_path.write_bytes(bytes(altered))
        with pytest.raises(BenchError):
            verify_certificate(pdf_path)
    pdf_path.write_bytes(original)


def test_flipped_bytes_elsewhere_in_the_pdf_fail(issued: tuple) -> None:  # type: ignore[type-arg]
    """The visible pages are re-rendered from the signed data and compared byte for byte."""
    cert, _json_path, pdf_path, _key = issued
    original = pdf_path.read_bytes()
    payload_start = original.index(serialize(cert))
    payload_end = payload_start + len(serialize(cert))
    rng = random.Random(7)
    outside = [p for p in range(len(original)) if not payload_start <= p < payload_end]
    for position in rng.sample(outside, 25):
        altered = bytearray(original)
        altered[position] ^= 0x01
        pdf_path.write_bytes(bytes(altered))
        with pytest.raises(BenchError):
            verify_certificate(pdf_path)
    pdf_path.write_bytes(original)


def _verify_cli(*args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench_agent.cli.main", "--lang", lang, "verify-cert", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_cli_verify_cert_exit_codes(issued: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    _cert, json_path, pdf_path, key_path = issued
    pub = str(key_path.with_suffix(".pub"))

    ok = _verify_cli(str(pdf_path), "--public-key", pub)
    assert ok.returncode == 0, ok.stderr
    assert "genuine" in ok.stdout and "5QE1ABCD" in ok.stdout
    data = bytearray(json_path.read_bytes())
    data[data.index(b"5QE1ABCD")] ^= 0x01
    json_path.write_bytes(bytes(data))
    bad = _verify_cli(str(json_path), "--public-key", pub)
    assert bad.returncode != 0
    assert bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    wrong_key = base64.b64encode(bytes(32)).decode()
    assert _verify_cli(str(pdf_path), "--public-key", wrong_key).returncode != 0


def test_certificate_issued_by_our_engine_on_qemu_nvme_verifies() -> None:
    """Issued inside QEMU by the i686 live image after a real NVMe Format (see
    fixtures/nvme/SOURCES.md): a PDF made on a 32-bit guest re-renders identically here."""
    from tests.conftest import FIXTURES

    pdf = FIXTURES / "nvme" / "qemu72-nvme-format.cert.pdf"
    cert = verify_certificate(pdf)
    assert cert["_pdf_check"] == "identical"
    assert cert["media"]["serial"] == "NVME-DONOR-3"
    assert cert["sanitization"]["method"] == "nvme-format-user-data"
    assert cert["sanitization"]["level"] == "purge" and cert["sanitization"]["status"] == "erased"
    assert "0 still hold their original content" in cert["verification"]["detail"]
    assert (
        verify_certificate(FIXTURES / "nvme" / "qemu72-nvme-format.cert.json")["certificate_id"]
        == cert["certificate_id"]
    )


# -- NIST SP 800-88 Rev. 2 / IEEE 2883 ------------------------------------------------------


def _pdf_streams(pdf: bytes) -> bytes:
    """Every stream of the PDF, inflated where it is compressed (to read the visible text)."""
    import re
    import zlib

    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = match.group(1)
        try:
            out.append(zlib.decompress(data))
        except zlib.error:
            out.append(data)
    return b"\n".join(out)


def test_rev2_certificate_names_the_ieee_2883_technique_and_keeps_rev1_fields(
    issued: tuple,  # type: ignore[type-arg]
) -> None:
    cert = issued[0]
    assert cert["version"] == 2
    assert cert["standard"] == "NIST SP 800-88 Rev. 2"
    technique = cert["technique"]
    assert technique["reference"] == "IEEE 2883-2022"
    assert technique["name"] == "Overwrite" and technique["in_ieee_2883"] is True
    assert technique["category"] == "clear"
    assert "WRITE commands" in technique["interface_command"]
    assert technique["completion_status"] == (
        "250059350016 of 250059350016 bytes written, 1 bad ranges"
    )
    # Every Rev. 1 §4.8 field a donor already reads is still there, unchanged in shape.
    for key in (
        "media",
        "source",
        "sanitization",
        "verification",
        "hidden_areas",
        "bad_blocks",
        "operator",
        "station",
        "location",
        "post_sanitization_destination",
    ):
        assert key in cert
    assert {"method", "result", "detail", "bytes_read"} <= set(cert["verification"])


def test_rev2_certificate_states_the_verification_scope_and_seed(tmp_path: Path) -> None:
    report = make_report()
    report.extra["verification_plan"] = {
        "scope": "sampled",
        "bytes_planned": 25_100_000_000,
        "coverage_percent": 10.04,
        "subsections": 1000,
        "sample_seed": 123456789,
    }
    cert = issue_certificate(report, CONTEXT, tmp_path / "k.key")
    ver = cert["verification"]
    assert (ver["scope"], ver["coverage_percent"], ver["subsections"], ver["sample_seed"]) == (
        "sampled",
        10.04,
        1000,
        123456789,
    )
    full = make_report()
    full.verification = "full"
    full.bytes_verified = full.size_bytes
    full.extra["verification_plan"] = {"scope": "full", "coverage_percent": 100.0}
    ver = issue_certificate(full, CONTEXT, tmp_path / "k.key")["verification"]
    assert (ver["scope"], ver["coverage_percent"], ver["sample_seed"]) == ("full", 100.0, None)


@pytest.mark.parametrize(
    ("method", "name", "command"),
    [
        ("nvme-sanitize-block", "Sanitize Block Erase", "NVMe Sanitize, SANACT 010b"),
        ("nvme-sanitize-crypto", "Sanitize Crypto Erase", "NVMe Sanitize, SANACT 100b"),
        ("ata-sanitize-overwrite", "Sanitize Overwrite", "OVERWRITE EXT"),
        ("nvme-format-user-data", "Format NVM with secure erase (User Data Erase)", "SES 001b"),
    ],
)
def test_rev2_purge_techniques_and_the_command_sent(
    tmp_path: Path, method: str, name: str, command: str
) -> None:
    report = make_report()
    report.method, report.level, report.status = method, "purge", "erased"
    report.extra["firmware_completion"] = {
        "method": method,
        "success": True,
        "detail": "SANITIZE completed (status 1)",
    }
    report.extra["firmware_commands"] = [
        {"argv": ["nvme", "sanitize", "/dev/nvme0", "--sanact=2"], "returncode": 0}
    ]
    technique = issue_certificate(report, CONTEXT, tmp_path / "k.key")["technique"]
    assert technique["name"] == name and technique["in_ieee_2883"] is True
    assert technique["category"] == "purge" and technique["classified_by"] == "IEEE 2883-2022"
    assert command in technique["interface_command"]
    assert technique["completion_status"] == "SANITIZE completed (status 1)"
    assert technique["commands"] == [
        {"argv": "nvme sanitize /dev/nvme0 --sanact=2", "returncode": 0}
    ]


def test_ata_security_erase_is_not_an_ieee_2883_technique(tmp_path: Path) -> None:
    from bench_agent.i18n import set_language

    report = make_report()
    report.method, report.level, report.status = "ata-secure-erase-enhanced", "purge", "erased"
    report.extra["firmware_completion"] = {"success": True, "detail": "SECURITY ERASE done"}
    set_language("fr")
    try:
        cert = issue_certificate(report, CONTEXT, tmp_path / "k.key")
        _json_path, pdf_path = write_certificate(cert, tmp_path / "out")
    finally:
        set_language("en")
    technique = cert["technique"]
    assert technique["in_ieee_2883"] is False and technique["name"] == ""
    assert technique["category"] == "purge"
    assert technique["classified_by"] == "NIST SP 800-88 Rev. 1"
    assert "not an IEEE 2883-2022 technique" in technique["note"]
    assert "SECURITY ERASE UNIT (F4h), enhanced" in technique["interface_command"]
    # The French PDF says it in French, and re-renders identically from its signed data.
    assert verify_certificate(pdf_path)["_pdf_check"] == "identical"
    text = _pdf_streams(pdf_path.read_bytes())
    assert "Technique IEEE 2883".encode("latin-1") in text
    assert "n'est pas une technique de l'IEEE 2883-2022".encode("latin-1") in text
    assert b"NIST SP 800-88 Rev. 2" in text


def test_verify_cert_prints_the_standard_and_technique_of_both_revisions(
    issued: tuple,  # type: ignore[type-arg]
) -> None:
    from tests.conftest import FIXTURES

    rev2 = _verify_cli(str(issued[2]))
    assert rev2.returncode == 0, rev2.stderr
    assert "standard: NIST SP 800-88 Rev. 2" in rev2.stdout
    assert "IEEE 2883 technique: Overwrite (IEEE 2883-2022, clear)" in rev2.stdout
    assert "interface command: WRITE commands" in rev2.stdout
    # A real Rev. 1 certificate (issued before Rev. 2 support) still verifies, and says so.
    rev1_pdf = FIXTURES / "nvme" / "qemu72-nvme-format.cert.pdf"
    assert json.loads((FIXTURES / "nvme" / "qemu72-nvme-format.cert.json").read_text())[
        "standard"
    ] == ("NIST SP 800-88 Rev. 1")
    rev1 = _verify_cli(str(rev1_pdf))
    assert rev1.returncode == 0, rev1.stderr
    assert "standard: NIST SP 800-88 Rev. 1" in rev1.stdout
    assert "not stated (issued under NIST SP 800-88 Rev. 1)" in rev1.stdout
    french = _verify_cli(str(rev1_pdf), lang="fr")
    assert "norme : NIST SP 800-88 Rev. 1" in french.stdout, french.stderr
