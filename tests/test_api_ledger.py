"""The ledger API against a real uvicorn server, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench_agent.sanitize.certificate import CERTIFICATE_KIND
from bench_agent.signing import generate_key, sign_document
from tests.test_ledger_support import (
    Ledger,
    make_record,
    publish_key,
    signed,
    start_ledger,
    wait_for,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    running = start_ledger(request.param, tmp_path)
    try:
        yield running
    finally:
        running.server.stop()
        running.store.dispose()


@pytest.fixture
def keys(ledger: Ledger, tmp_path: Path) -> dict[str, Any]:
    result = {}
    for station in ("bench-1", "bench-2"):
        result[station] = generate_key(tmp_path / f"{station}.key")
        publish_key(ledger, station, result[station])
    return result


def post(ledger: Ledger, document: Any, station: str = "bench-1", **kwargs: Any) -> httpx.Response:
    return httpx.post(
        ledger.api("/records"), json=document, headers=ledger.station_headers(station), **kwargs
    )


def test_records_are_idempotent_and_conflicts_are_refused(
    ledger: Ledger, keys: dict[str, Any]
) -> None:
    document = signed(make_record(n=1), keys["bench-1"])
    first = post(ledger, document)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "stored"
    again = post(ledger, document)
    assert again.status_code == 200
    assert again.json() == {**first.json(), "status": "already_stored"}
    changed = signed(
        make_record(n=1, record_id=document["record_id"], operator="Max"), keys["bench-1"]
    )
    conflict = post(ledger, changed)
    assert conflict.status_code == 409
    assert document["record_id"] in conflict.json()["detail"]
    assert ledger.count("SELECT COUNT(*) FROM records") == 1
    stored = httpx.get(ledger.api(f"/records/{document['record_id']}"), headers=ledger.supervisor)
    assert stored.json()["document"] == document
    assert stored.json()["operator"] == "Lea" and stored.json()["serial"] == "SN000001"


def test_no_token_bad_token_and_another_station_are_refused(
    ledger: Ledger, keys: dict[str, Any]
) -> None:
    document = signed(make_record(n=2), keys["bench-1"])
    assert httpx.post(ledger.api("/records"), json=document).status_code == 401
    bad = httpx.post(
        ledger.api("/records"), json=document, headers={"Authorization": "Bearer bst_nope"}
    )
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    # A supervisor's session is not a station token.
    assert (
        httpx.post(ledger.api("/records"), json=document, headers=ledger.supervisor).status_code
        == 403
    )
    # bench-2 cannot write bench-1's record, even signed with bench-1's key.
    other = post(ledger, document, station="bench-2")
    assert other.status_code == 403 and "bench-1" in other.json()["detail"]
    # bench-2 naming itself but signing with bench-1's key: wrong key.
    forged = signed(make_record(station="bench-2", n=3), keys["bench-1"])
    assert post(ledger, forged, station="bench-2").status_code == 403
    # Heartbeats and keys follow the same rule.
    assert (
        httpx.post(
            ledger.api("/heartbeats"),
            json={"station": "bench-1", "state": "idle"},
            headers=ledger.station_headers("bench-2"),
        ).status_code
        == 403
    )
    assert (
        httpx.post(
            ledger.api("/stations/bench-1/key"),
            json={"public_key": document["signature"]["public_key"]},
            headers=ledger.station_headers("bench-2"),
        ).status_code
        == 403
    )
    assert ledger.count("SELECT COUNT(*) FROM records") == 0


def test_invalid_records_name_the_field(ledger: Ledger, keys: dict[str, Any]) -> None:
    document = signed(make_record(n=4), keys["bench-1"])
    broken = {**document, "inventory": {**document["inventory"], "cpu": {"cores": "many"}}}
    response = post(ledger, broken)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "inventory", "cpu", "cores"]
    missing = {k: v for k, v in document.items() if k != "station"}
    assert post(ledger, missing).json()["detail"][0]["loc"] == ["body", "station"]
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    response = post(ledger, unsigned)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == [
        "body",
        "signature",
    ]
    tampered = {**document, "operator": "Someone else"}
    response = post(ledger, tampered)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == [
        "body",
        "signature",
    ]
    not_json = httpx.post(
        ledger.api("/records"), content=b"{oops", headers=ledger.station_headers()
    )
    assert not_json.status_code == 422
    assert ledger.count("SELECT COUNT(*) FROM records") == 0


def test_too_large_records_get_413(ledger: Ledger, keys: dict[str, Any]) -> None:
    app = ledger.server.app
    app.state.max_record_bytes = 64 * 1024
    big = signed(make_record(n=5, extra={"blob": "x" * 100_000}), keys["bench-1"])
    assert post(ledger, big).status_code == 413
    # Without Content-Length (chunked upload), the streamed size is checked.
    body = json.dumps(big).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    streamed = httpx.post(
        ledger.api("/records"),
        content=chunks(),
        headers={**ledger.station_headers(), "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    small = signed(make_record(n=6), keys["bench-1"])
    assert post(ledger, small).status_code == 201
    # Every other API body is small: 1 MiB at most, declared or streamed.
    huge = {"state": "x", "message": "y" * (2 * 1024 * 1024)}
    beat = httpx.post(ledger.api("/heartbeats"), json=huge, headers=ledger.station_headers())
    assert beat.status_code == 413
    streamed_event = httpx.post(
        ledger.api("/events"),
        content=(b"x" * 65536 for _ in range(40)),
        headers={**ledger.supervisor, "Content-Type": "application/json"},
    )
    assert streamed_event.status_code == 413


def test_heartbeats_show_on_the_station_list(ledger: Ledger) -> None:
    state = {
        "state": "wiping",
        "step": "wipe",
        "progress": 0.42,
        "rate": 95e6,
        "eta_s": 600,
        "operator": "Lea",
        "asset_tag": "AT-7",
        "queued": 3,
    }
    response = httpx.post(ledger.api("/heartbeats"), json=state, headers=ledger.station_headers())
    assert response.status_code == 200, response.text
    assert (
        httpx.post(
            ledger.api("/heartbeats"),
            json={**state, "progress": 2},
            headers=ledger.station_headers(),
        ).status_code
        == 422
    )
    assert httpx.get(ledger.api("/stations")).status_code == 401
    assert httpx.get(ledger.api("/stations"), headers=ledger.station_headers()).status_code == 403

    # The ledger answers within 25 ms even if its disk stalls; the state is stored right after.
    def listed() -> dict[str, Any]:
        rows = httpx.get(ledger.api("/stations"), headers=ledger.supervisor).json()
        return {s["name"]: s for s in rows}

    wait_for(lambda: listed()["bench-1"]["heartbeat"] is not None, timeout=10)
    stations = listed()
    assert stations["bench-1"]["online"] is True and stations["bench-2"]["online"] is False
    beat = stations["bench-1"]["heartbeat"]
    assert beat["progress"] == 0.42 and beat["asset_tag"] == "AT-7" and beat["queued"] == 3


def test_station_keys_are_published_and_public(ledger: Ledger, keys: dict[str, Any]) -> None:
    key = httpx.get(ledger.api("/stations/bench-1/key"))
    assert key.status_code == 200
    from bench_agent.signing import key_id, public_key_text

    assert key.json()["public_key"] == public_key_text(keys["bench-1"].public_key())
    assert key.json()["key_id"] == key_id(keys["bench-1"].public_key())
    assert httpx.get(ledger.api("/stations/nope/key")).status_code == 404
    bad = httpx.post(
        ledger.api("/stations/bench-1/key"),
        json={"public_key": "A" * 44 + "x"},
        headers=ledger.station_headers(),
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "public_key"]


def test_assets_history_lots_and_lifecycle_events(ledger: Ledger, keys: dict[str, Any]) -> None:
    for station, run in (("bench-1", 0), ("bench-2", 1)):
        record = make_record(station=station, n=8, operator=f"op{run}")
        assert post(ledger, signed(record, keys[station]), station=station).status_code == 201
    by_serial = httpx.get(
        ledger.api("/assets"), params={"serial": "SN000008"}, headers=ledger.supervisor
    ).json()
    assert len(by_serial) == 1
    asset_id = by_serial[0]["id"]
    by_uuid = httpx.get(
        ledger.api("/assets"),
        params={"uuid": "4c4c4544-0000-1000-8000-000000000008"},
        headers=ledger.supervisor,
    ).json()
    by_tag = httpx.get(
        ledger.api("/assets"), params={"asset_tag": "AT-00008"}, headers=ledger.supervisor
    ).json()
    assert [a["id"] for a in by_uuid] == [a["id"] for a in by_tag] == [asset_id]

    # Lots: admins manage them, supervisors read them.
    lot = {"code": "ACME-2026-01", "donor": "ACME SA", "received_on": "2026-01-15"}
    assert httpx.post(ledger.api("/lots"), json=lot, headers=ledger.supervisor).status_code == 403
    assert httpx.post(ledger.api("/lots"), json=lot, headers=ledger.admin).status_code == 201
    assert httpx.post(ledger.api("/lots"), json=lot, headers=ledger.admin).status_code == 409
    patched = httpx.patch(
        ledger.api("/lots/ACME-2026-01"), json={"note": "40 towers"}, headers=ledger.admin
    )
    assert patched.json()["note"] == "40 towers" and patched.json()["donor"] == "ACME SA"
    from sqlalchemy import text

    with ledger.store.engine.connect() as conn:
        assert conn.execute(text("SELECT updated_by FROM lots")).scalar_one() == "user:alice"
    assert [
        x["code"] for x in httpx.get(ledger.api("/lots"), headers=ledger.supervisor).json()
    ] == ["ACME-2026-01"]
    assert httpx.delete(ledger.api("/lots/ACME-2026-01"), headers=ledger.admin).status_code == 204

    # Lifecycle: supervisors record them; stations cannot.
    event = {"asset_tag": "AT-00008", "kind": "packed"}
    assert httpx.post(
        ledger.api("/events"), json=event, headers=ledger.station_headers()
    ).status_code in (401, 403)
    assert (
        httpx.post(ledger.api("/events"), json=event, headers=ledger.supervisor).status_code == 201
    )
    given = {
        "serial": "SN000008",
        "kind": "given",
        "category": "job_seeker",
        "beneficiary_ref": "JS-2026-017",
    }
    response = httpx.post(ledger.api("/events"), json=given, headers=ledger.supervisor)
    assert response.status_code == 201 and response.json()["created_by"] == "user:sam"
    # Never a name or an address.
    for bad, field in (
        ({**given, "beneficiary_ref": "Jean Dupont"}, "beneficiary_ref"),
        ({**given, "beneficiary_ref": "jean@example.org"}, "beneficiary_ref"),
        ({**given, "note": "12 rue des Lilas, Lyon"}, "note"),
        ({**given, "name": "Jean Dupont"}, "name"),
        ({**given, "address": "Lyon"}, "address"),
        ({**given, "category": None}, "category"),
        ({**given, "kind": "stolen"}, "kind"),
    ):
        response = httpx.post(ledger.api("/events"), json=bad, headers=ledger.supervisor)
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][-1] == field, response.json()
    unknown = httpx.post(
        ledger.api("/events"), json={"serial": "NOPE", "kind": "packed"}, headers=ledger.supervisor
    )
    assert unknown.status_code == 404

    history = httpx.get(ledger.api(f"/assets/{asset_id}"), headers=ledger.supervisor).json()
    assert [r["station"] for r in history["records"]] == ["bench-1", "bench-2"]
    assert [e["kind"] for e in history["events"]] == ["packed", "given"]
    assert history["events"][1]["category"] == "job_seeker"


def test_certificates_json_pdf_and_verification(
    ledger: Ledger, keys: dict[str, Any], tmp_path: Path
) -> None:
    key = keys["bench-1"]
    certificate = sign_document(
        {
            "kind": CERTIFICATE_KIND,
            "certificate_id": "cert-abc-1",
            "media": {"serial": "WD-123", "model": "WD800", "manufacturer": "WDC"},
            "sanitization": {"method": "zero", "status": "erased", "level": "clear"},
            "station": "bench-1",
        },
        key,
    )
    record = make_record(n=9, certificates=[certificate])
    assert post(ledger, signed(record, key)).status_code == 201
    got = httpx.get(ledger.api("/certificates/cert-abc-1"), headers=ledger.supervisor)
    assert got.status_code == 200 and got.json() == certificate
    pdf = httpx.get(ledger.api("/certificates/cert-abc-1.pdf"), headers=ledger.supervisor)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert (
        httpx.get(
            ledger.api("/certificates/cert-abc-1"), headers=ledger.station_headers()
        ).status_code
        == 403
    )
    ok = httpx.post(ledger.api("/certificates/verify"), json=certificate).json()
    assert ok["valid"] is True and ok["known"] is True and ok["station"] == "bench-1"
    altered = {**certificate, "media": {**certificate["media"], "serial": "WD-999"}}
    bad = httpx.post(ledger.api("/certificates/verify"), json=altered).json()
    assert bad["valid"] is False and bad["known"] is False and "altered" in bad["reason"]
    stranger = sign_document({"certificate_id": "x"}, generate_key(tmp_path / "stranger.key"))
    assert httpx.post(ledger.api("/certificates/verify"), json=stranger).json()["valid"] is False
    history = httpx.get(
        ledger.api("/assets"), params={"serial": "SN000009"}, headers=ledger.supervisor
    ).json()
    full = httpx.get(ledger.api(f"/assets/{history[0]['id']}"), headers=ledger.supervisor).json()
    assert full["certificates"][0]["disk_serial"] == "WD-123"
    assert full["certificates"][0]["method"] == "zero"


def test_login_cookie_and_roles(ledger: Ledger) -> None:
    with httpx.Client() as client:
        assert (
            client.post(ledger.api("/login"), json={"name": "sam", "password": "wrong"}).status_code
            == 401
        )
        assert (
            client.post(ledger.api("/login"), json={"name": "nobody", "password": "x"}).status_code
            == 401
        )
        response = client.post(
            ledger.api("/login"), json={"name": "sam", "password": "sam-password"}
        )
        assert response.status_code == 200 and response.json()["role"] == "supervisor"
        assert "httponly" in response.headers["set-cookie"].lower()
        assert client.get(ledger.api("/stations")).status_code == 200  # by cookie
        assert client.get(ledger.api("/me")).json() == {
            "kind": "user",
            "name": "sam",
            "role": "supervisor",
        }
        assert client.post(ledger.api("/stations"), json={"name": "bench-9"}).status_code == 403
        assert client.post(ledger.api("/logout")).status_code == 204
        assert client.get(ledger.api("/stations")).status_code == 401
    created = httpx.post(ledger.api("/stations"), json={"name": "bench-9"}, headers=ledger.admin)
    assert created.status_code == 201 and created.json()["token"].startswith("bst_")
    me = httpx.get(
        ledger.api("/me"), headers={"Authorization": f"Bearer {created.json()['token']}"}
    )
    assert me.json() == {"kind": "station", "name": "bench-9", "role": "station"}


def test_images_are_served_with_range(ledger: Ledger, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    data = bytes(range(256)) * 4096  # 1 MiB
    (folder / "edu-i686.img.zst").write_bytes(data)
    listing = httpx.get(ledger.api("/images")).json()
    assert listing[0]["name"] == "edu-i686.img.zst" and listing[0]["size"] == len(data)
    whole = httpx.get(ledger.api("/images/edu-i686.img.zst"))
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    part = httpx.get(ledger.api("/images/edu-i686.img.zst"), headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    tail = httpx.get(ledger.api("/images/edu-i686.img.zst"), headers={"Range": "bytes=1048000-"})
    assert tail.status_code == 206 and tail.content == data[1048000:]
    assert httpx.get(ledger.api("/images/..%2Fledger.sqlite")).status_code == 404
    assert httpx.get(ledger.api("/images/nope.img")).status_code == 404
