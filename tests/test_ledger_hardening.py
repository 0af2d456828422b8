"""Issue 14: the ledger probed as an attacker and an auditor would, against a real server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench_agent.signing import generate_key
from tests.test_ledger_support import Ledger, make_record, publish_key, signed, start_ledger


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    tmp = tmp_path_factory.mktemp("hostile")
    ledger = start_ledger("sqlite", tmp)
    key = generate_key(tmp / "bench-1.key")
    publish_key(ledger, "bench-1", key)
    ledger.extra["key"] = key
    ledger.extra["cookies"] = {"bench_session": ledger.supervisor_token}
    try:
        yield ledger
    finally:
        ledger.server.stop()
        ledger.store.dispose()


def raw_post(ledger: Ledger, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        ledger.api(path),
        content=body,
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )


def assert_4xx(response: httpx.Response, field: str | None = None) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if field is not None:
        assert field in response.text, response.text[:300]


# ---------------------------------------------------------------- 5. hostile input, no 500
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/images/%00",
        "/api/v1/images/a%00b",
        "/api/v1/records/%00",
        "/dashboard/lots/%00",
        "/dashboard/assets/9223372036854775808",
        "/dashboard/assets/9223372036854775808/glpi.json",
        "/dashboard/assets/9223372036854775808/label.pdf",
        "/dashboard/assets/-1",
        "/dashboard/certificates/%0d%0a.pdf",
        "/verify/%00",
    ],
)
def test_hostile_paths_get_4xx(hostile: Ledger, path: str) -> None:
    response = httpx.get(
        hostile.url + path, headers=hostile.supervisor, cookies=hostile.extra["cookies"]
    )
    assert_4xx(response)


def test_deeply_nested_and_huge_numbers_in_records_get_422(hostile: Ledger) -> None:
    headers = hostile.station_headers()
    document = signed(make_record(n=501), hostile.extra["key"])
    text = json.dumps(document)
    nested = text[:-1] + ', "extra_nest": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert_4xx(raw_post(hostile, "/records", nested.encode(), headers), "body")
    big = text[:-1] + ', "big": ' + "9" * 5000 + "}"
    assert_4xx(raw_post(hostile, "/records", big.encode(), headers), "big")
    for constant in ("NaN", "Infinity", "-Infinity", "1e400"):
        body = text[:-1] + ', "x": ' + constant + "}"
        assert_4xx(raw_post(hostile, "/records", body.encode(), headers), "x")
    surrogate = text[:-1] + ', "s": "\\ud800"}'
    assert_4xx(raw_post(hostile, "/records", surrogate.encode(), headers), "s")
    assert hostile.count("SELECT COUNT(*) FROM records") == 0


@pytest.mark.parametrize("record_id", ["", "x" * 100_000, "a\r\nb", "a/b", " x"], ids=str.__len__)
def test_record_ids_are_bounded(hostile: Ledger, record_id: str) -> None:
    document = signed(make_record(n=502, record_id=record_id), hostile.extra["key"])
    response = httpx.post(
        hostile.api("/records"), json=document, headers=hostile.station_headers(), timeout=30
    )
    assert response.status_code == 422, response.text[:300]
    assert response.json()["detail"][0]["loc"] == ["body", "record_id"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"state": "idle", "progress": 1e400}',
        b'{"state": "idle", "rate": NaN}',
        b'{"state": "idle", "eta_s": Infinity}',
        b'{"state": "idle", "extra": {"a": NaN}}',
        b'{"state": "idle", "extra": {"a": 1e400}}',
        b'{"state": "\\ud800"}',
        b'{"state": "idle", "extra": {"\\udfff": 1}}',
        b'{"state": "idle", "extra": {"n": ' + b"9" * 5000 + b"}}",
        b'{"state": "idle", "extra": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    ],
    ids=lambda body: body[:40].decode(errors="replace"),
)
def test_hostile_heartbeats_get_422(hostile: Ledger, body: bytes) -> None:
    response = raw_post(hostile, "/heartbeats", body, hostile.station_headers())
    assert response.status_code == 422, response.text[:300]
    stations = httpx.get(hostile.api("/stations"), headers=hostile.supervisor)
    assert stations.status_code == 200


def test_lone_surrogates_in_lot_notes_get_422(hostile: Ledger) -> None:
    response = raw_post(hostile, "/lots", b'{"code": "LOT-S", "note": "a\\ud800b"}', hostile.admin)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["detail"][0]["loc"][:2] == ["body", "note"]
    assert httpx.get(hostile.api("/lots"), headers=hostile.admin).status_code == 200


def test_certificate_ids_with_control_characters_are_refused(hostile: Ledger) -> None:
    from bench_agent.sanitize.certificate import CERTIFICATE_KIND
    from bench_agent.signing import sign_document

    certificate = sign_document(
        {"kind": CERTIFICATE_KIND, "certificate_id": "evil\r\nSet-Cookie: x=1"},
        hostile.extra["key"],
    )
    document = signed(make_record(n=503, certificates=[certificate]), hostile.extra["key"])
    response = httpx.post(hostile.api("/records"), json=document, headers=hostile.station_headers())
    assert response.status_code == 422, response.text[:300]
    assert response.json()["detail"][0]["loc"][:3] == ["body", "certificates", 0]
    # Whatever is stored, a CR/LF in the path answers, never drops the connection.
    pdf = httpx.get(hostile.api("/certificates/a%0d%0ab.pdf"), headers=hostile.supervisor)
    assert pdf.status_code == 404


def test_event_dates_out_of_range_are_refused(hostile: Ledger) -> None:
    for at in ("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z"):
        response = httpx.post(
            hostile.api("/events"),
            json={"asset_tag": "AT-X", "kind": "received", "at": at},
            headers=hostile.admin,
        )
        assert response.status_code == 422, response.text[:300]
        assert response.json()["detail"][0]["loc"] == ["body", "at"]


def test_server_still_answers_after_the_probes(hostile: Ledger) -> None:
    with socket.create_connection(("127.0.0.1", hostile.server.port), timeout=5):
        pass
    assert httpx.get(hostile.api("/health")).status_code == 200


# -------------------------------------------------------- 3. certificates verified on ingest
def _certificate(key: Any, cert_id: str, serial: str = "WD-1") -> dict[str, Any]:
    from bench_agent.sanitize.certificate import CERTIFICATE_KIND
    from bench_agent.signing import sign_document

    return sign_document(
        {
            "kind": CERTIFICATE_KIND,
            "version": 1,
            "certificate_id": cert_id,
            "media": {"serial": serial},
            "sanitization": {"method": "zero", "status": "erased"},
        },
        key,
    )


def test_certificates_are_verified_on_ingest(hostile: Ledger, tmp_path: Path) -> None:
    key = hostile.extra["key"]
    other = generate_key(tmp_path / "bench-2.key")
    publish_key(hostile, "bench-2", other)
    genuine = _certificate(key, "cert-ok-1")
    unsigned = {k: v for k, v in _certificate(key, "cert-unsigned").items() if k != "signature"}
    stranger = _certificate(generate_key(tmp_path / "stranger.key"), "cert-stranger")
    foreign = _certificate(other, "cert-foreign")
    tampered = {**foreign, "media": {"serial": "WD-666"}}
    tampered_own = {**_certificate(key, "cert-own"), "media": {"serial": "WD-666"}}
    for n, bad in enumerate((unsigned, stranger, foreign, tampered, tampered_own)):
        document = signed(make_record(n=600 + n, certificates=[genuine, bad]), key)
        response = httpx.post(
            hostile.api("/records"), json=document, headers=hostile.station_headers()
        )
        assert response.status_code == 422, response.text[:300]
        error = response.json()["detail"][0]
        assert error["loc"] == ["body", "certificates", 1]
        assert bad["certificate_id"] in error["msg"]
    assert hostile.count("SELECT COUNT(*) FROM certificates") == 0
    # A Rev. 1 certificate and a Rev. 2 one signed by the station's key are stored.
    rev2 = _certificate(key, "cert-rev2")
    rev2 = {k: v for k, v in rev2.items() if k != "signature"}
    rev2.update({"version": 2, "standard": "NIST SP 800-88 Rev. 2"})
    from bench_agent.signing import sign_document

    rev2 = sign_document(rev2, key)
    document = signed(make_record(n=610, certificates=[genuine, rev2]), key)
    response = httpx.post(hostile.api("/records"), json=document, headers=hostile.station_headers())
    assert response.status_code == 201, response.text[:300]
    assert hostile.count("SELECT COUNT(*) FROM certificates") == 2
