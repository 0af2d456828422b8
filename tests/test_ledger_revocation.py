"""Issue 15 item 2, ledger side: a failed validation marks the certificate as failed.

A real wipe of a loop disk, a planted byte, the real validation that revokes the certificate;
the record reaches a real ledger, which stores the revoked certificate as a failed row: the
public ``/verify`` page, ``POST /certificates/verify`` and the lot's zip never present it as
valid. A revocation whose validation result is forged is refused (422 naming the field).
"""

from __future__ import annotations

import copy
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench_agent.sanitize.validation import ValidationPolicy, validate_after_wipe
from bench_agent.signing import load_or_create_key
from tests.conftest import LoopFactory
from tests.test_ledger_support import Ledger, make_record, publish_key, signed, start_ledger
from tests.test_validation import MiB, _plant, _wipe

pytestmark = pytest.mark.device


def get(url: str, **options: Any) -> httpx.Response:
    return httpx.get(url, timeout=60, **options)  # the shared machine can be slow


def post(url: str, **options: Any) -> httpx.Response:
    return httpx.post(url, timeout=60, **options)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    (tmp_path / "ledger").mkdir()
    running = start_ledger("sqlite", tmp_path / "ledger")
    try:
        yield running
    finally:
        running.server.stop()
        running.store.dispose()


def _validated(
    make_loop: LoopFactory, tmp_path: Path, key_path: Path, *, fail: bool
) -> tuple[Any, dict[str, Any]]:
    dev = make_loop(8 * MiB, fill="random")
    report, cert = _wipe(dev, tmp_path, "zero")
    if fail:
        _plant(dev, 3 * 4096, b"\x01")
    validate_after_wipe(
        report,
        cert,
        policy=ValidationPolicy(),
        validator="bob",
        station="bench-1",
        key_path=key_path,
        report_dir=tmp_path / "reports",
        forced=True,
    )
    if fail:
        report.extra["revoked_certificate"] = cert  # as the engine keeps it (not handed out)
    return report, cert


def _post(ledger: Ledger, key: Any, n: int, **fields: Any) -> httpx.Response:
    document = signed(make_record(n=n, **fields), key)
    return post(ledger.api("/records"), json=document, headers=ledger.station_headers())


def test_a_failed_validation_stores_the_certificate_as_failed_everywhere(
    make_loop: LoopFactory, tmp_path: Path, agent_home: Path, ledger: Ledger
) -> None:
    key_path = agent_home / "station.key"
    key = load_or_create_key(key_path)
    publish_key(ledger, "bench-1", key)
    good, good_cert = _validated(make_loop, tmp_path, key_path, fail=False)
    bad, bad_cert = _validated(make_loop, tmp_path, key_path, fail=True)
    assert bad.status == "failed"
    posted = _post(ledger, key, 7, wipes=[good, bad], certificates=[good_cert])
    assert posted.status_code == 201, posted.text
    bad_id = bad_cert["certificate_id"]
    assert (
        ledger.count(
            f"SELECT COUNT(*) FROM certificates WHERE certificate_id = '{bad_id}' "
            "AND status = 'failed_validation'"
        )
        == 1
    )
    # Checked by anyone: not valid, and why.
    verdict = post(ledger.api("/certificates/verify"), json=bad_cert).json()
    assert verdict["valid"] is False and verdict["known"] is True
    assert "Validation failed" in verdict["reason"] and str(3 * 4096) in verdict["reason"]
    assert post(ledger.api("/certificates/verify"), json=good_cert).json()["valid"]
    # No printable certificate of a disk that failed: 410 with the reason, API and dashboard.
    cookies = {"bench_session": ledger.supervisor_token}
    pdf = get(ledger.api(f"/certificates/{bad_id}.pdf"), headers=ledger.supervisor)
    assert pdf.status_code == 410 and "Validation failed" in pdf.json()["detail"]
    page_pdf = get(f"{ledger.url}/dashboard/certificates/{bad_id}.pdf", cookies=cookies)
    assert page_pdf.status_code == 410 and "Validation failed" in page_pdf.text
    good_pdf = f"{ledger.url}/dashboard/certificates/{good_cert['certificate_id']}.pdf"
    assert get(good_pdf, cookies=cookies).headers["content-type"] == "application/pdf"
    # The public page of the machine: the good certificate valid, the revoked one not.
    page = get(f"{ledger.url}/verify/AT-00007", headers={"Accept-Language": "en"}).text
    row = page[page.index(bad_id) :].split("</tr>")[0]
    assert "✖" in row and "Validation failed" in row and "failed validation" in row
    assert "✔" in page[page.index(good_cert["certificate_id"]) :].split("</tr>")[0]
    # The donor's zip of the lot leaves it out.
    zipped = get(f"{ledger.url}/dashboard/lots/LOT-1/certificates.zip", cookies=cookies)
    assert zipped.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert any(good_cert["certificate_id"] in name for name in names)
    assert not any(bad_id in name for name in names)


def test_a_certificate_stored_valid_then_revoked_turns_failed_and_the_chain_holds(
    make_loop: LoopFactory, tmp_path: Path, agent_home: Path, ledger: Ledger
) -> None:
    import subprocess
    import sys

    key_path = agent_home / "station.key"
    key = load_or_create_key(key_path)
    publish_key(ledger, "bench-1", key)
    report, cert = _validated(make_loop, tmp_path, key_path, fail=True)
    first = copy.deepcopy(report)
    first.extra.pop("revoked_certificate")
    first.status = "erased"
    assert _post(ledger, key, 8, wipes=[first], certificates=[cert]).status_code == 201
    assert post(ledger.api("/certificates/verify"), json=cert).json()["valid"] is True
    assert _post(ledger, key, 9, wipes=[report]).status_code == 201
    assert post(ledger.api("/certificates/verify"), json=cert).json()["valid"] is False
    url = ledger.store.engine.url.render_as_string(False)
    verified = subprocess.run(
        [sys.executable, "-m", "bench_agent.ledger.cli", "audit", "verify", "--db", url],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr


def test_a_revocation_without_a_genuine_failed_validation_is_refused(
    make_loop: LoopFactory, tmp_path: Path, agent_home: Path, ledger: Ledger
) -> None:
    key_path = agent_home / "station.key"
    key = load_or_create_key(key_path)
    publish_key(ledger, "bench-1", key)
    report, _cert = _validated(make_loop, tmp_path, key_path, fail=True)
    for n, spoil in enumerate(("tampered", "unsigned", "passed"), start=20):
        forged = copy.deepcopy(report)
        document = forged.extra["validation"]["document"]
        if spoil == "tampered":
            document["check"]["detail"] = "all fine"
        elif spoil == "unsigned":
            document.pop("signature")
        else:
            document["certificate_status"] = "valid"
        refused = _post(ledger, key, n, wipes=[forged])
        assert refused.status_code == 422, (spoil, refused.text)
        loc = refused.json()["detail"][0]["loc"]
        assert loc[-3:] == ["extra", "validation", "document"], loc
    assert ledger.count("SELECT COUNT(*) FROM certificates") == 0


def test_the_report_page_shows_validation_coverage_and_failures_loudly(
    make_loop: LoopFactory, tmp_path: Path, agent_home: Path, ledger: Ledger
) -> None:
    from datetime import UTC, datetime

    key_path = agent_home / "station.key"
    key = load_or_create_key(key_path)
    publish_key(ledger, "bench-1", key)
    good, good_cert = _validated(make_loop, tmp_path, key_path, fail=False)
    bad, bad_cert = _validated(make_loop, tmp_path, key_path, fail=True)
    finished = datetime.now(UTC)
    posted = _post(
        ledger, key, 30, wipes=[good, bad], certificates=[good_cert], finished_at=finished
    )
    assert posted.status_code == 201
    today = finished.date().isoformat()
    cookies = {"bench_session": ledger.supervisor_token}
    page = get(
        f"{ledger.url}/dashboard/report",
        params={"from": today, "to": today, "lang": "en"},
        cookies=cookies,
    )
    assert page.status_code == 200
    html = page.text
    section = html[html.index('id="validation"') :]
    assert "2 of 2 disks (100.0 %)" in section
    assert "<dt>Passed</dt><dd>1</dd>" in section and "<strong>✖ 1</strong>" in section
    assert "Published rate: 5 % of wiped disks" in section
    alert = section[section.index('role="alert"') :]
    assert "Failed validations" in alert and "certificates are revoked" in alert
    failure = section[section.index(bad_cert["certificate_id"]) :].split("</tr>")[0]
    assert str(3 * 4096) in failure and "bob" in failure
    assert good_cert["certificate_id"] not in section
    # The same page in French.
    french = get(
        f"{ledger.url}/dashboard/report",
        params={"from": today, "to": today, "lang": "fr"},
        cookies=cookies,
    ).text
    assert "Validation des disques effacés" in french and "Validations échouées" in french
    # The live board counts them as the report does, the failure loud, linked to the report.
    board = get(f"{ledger.url}/dashboard/", params={"lang": "en"}, cookies=cookies).text
    row = board[board.index("Disks validated") :].split("</tr>")[0]
    assert '<td class="num">2</td>' in row and 'href="/dashboard/report#validation"' in board
    failed = board[board.index("Validations failed") :].split("</tr>")[0]
    assert failed.count('<strong><span aria-hidden="true">✖</span> 1</strong>') == 2
    # Another lot: nothing of this one.
    other = get(
        f"{ledger.url}/dashboard/report",
        params={"from": today, "to": today, "lot": "LOT-9", "lang": "en"},
        cookies=cookies,
    ).text
    assert "0 of 0 disks" in other and "Failed validations" not in other
