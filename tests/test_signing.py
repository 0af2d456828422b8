"""Ed25519 signatures over canonical JSON: any change to a signed document is caught."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from bench_agent.errors import BenchError
from bench_agent.signing import (
    generate_key,
    public_key_from_text,
    sign_document,
    verify_document,
)


@pytest.fixture
def signed(tmp_path: Path) -> dict[str, Any]:
    key = generate_key(tmp_path / "station.key")
    return sign_document({"record_id": "r1", "disks": [{"serial": "5JX1", "ok": True}]}, key)


def test_genuine_document_verifies_with_its_published_key(
    signed: dict[str, Any], tmp_path: Path
) -> None:
    published = public_key_from_text((tmp_path / "station.pub").read_text())
    verify_document(signed, published)


def test_changed_body_fails(signed: dict[str, Any]) -> None:
    signed["disks"][0]["serial"] = "5JX2"
    with pytest.raises(BenchError, match="altered"):
        verify_document(signed)


def test_another_key_is_refused(signed: dict[str, Any], tmp_path: Path) -> None:
    other = generate_key(tmp_path / "other.key").public_key()
    with pytest.raises(BenchError, match="another key"):
        verify_document(signed, other)


@pytest.mark.parametrize("field", ["value", "public_key"])
def test_every_spelling_change_of_the_signature_block_fails(
    signed: dict[str, Any], field: str
) -> None:
    """The last base64 character carries unused bits: changing them must fail too."""
    text = signed["signature"][field]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    stripped = text.rstrip("=")
    padding = text[len(stripped) :]
    for char in alphabet:
        if char == stripped[-1]:
            continue
        changed = dict(
            signed, signature=dict(signed["signature"], **{field: stripped[:-1] + char + padding})
        )
        with pytest.raises(BenchError):
            verify_document(changed)


def test_changed_key_id_or_extra_field_fails(signed: dict[str, Any]) -> None:
    for block in (dict(signed["signature"], key_id="0" * 16), dict(signed["signature"], note="x")):
        with pytest.raises(BenchError):
            verify_document(dict(signed, signature=block))


def test_unsigned_document_is_refused() -> None:
    with pytest.raises(BenchError, match="no Ed25519 signature"):
        verify_document({"record_id": "r1"})


def test_canonical_key_text_is_accepted() -> None:
    raw = base64.b64encode(b"\x00" * 32).decode()
    assert public_key_from_text(raw)
