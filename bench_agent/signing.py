"""Ed25519 signatures over canonical JSON, for certificates and bench records.

Anyone holding the station's published public key can verify a document offline: the signed
bytes are the document without its ``signature`` field, serialized canonically (sorted keys,
no spaces, UTF-8).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bench_agent.errors import BenchError, InputError
from bench_agent.i18n import _

ALGORITHM = "ed25519"


def strict_b64decode(text: str) -> bytes:
    """Decode base64 that must be in canonical form.

    Plain decoding ignores the unused low bits of the last character, so two different strings
    would carry one signature; a changed byte of a signed document must always fail.
    """
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("non-canonical base64")
    return raw


def canonical_json(document: Any) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def generate_key(path: Path) -> Ed25519PrivateKey:
    """Create a private key file (0600) at ``path`` and its ``.pub`` beside it."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    path.with_suffix(".pub").write_text(public_key_text(key.public_key()) + "\n")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise BenchError(
            _("Cannot read the station key {path}: {error}", path=path, error=exc),
            _("Enrol the station again with 'bench-agent enroll'."),
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(_("{path} is not an Ed25519 private key.", path=path))
    return key


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    return load_private_key(path) if path.exists() else generate_key(path)


def public_key_text(key: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes (short enough for a QR code)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def public_key_from_text(text: str) -> Ed25519PublicKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not Ed25519")
            return key
        return Ed25519PublicKey.from_public_bytes(strict_b64decode(text))
    except ValueError as exc:
        raise InputError(
            _("The public key is not a valid Ed25519 key: {error}", error=exc),
            _("Use the station's key as published by the ledger."),
        ) from exc


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_document(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Return a copy of ``document`` with a ``signature`` block over its canonical form."""
    body = {k: v for k, v in document.items() if k != "signature"}
    signature = key.sign(canonical_json(body))
    public = key.public_key()
    return {
        **body,
        "signature": {
            "algorithm": ALGORITHM,
            "key_id": key_id(public),
            "public_key": public_key_text(public),
            "value": base64.b64encode(signature).decode("ascii"),
        },
    }


def verify_document(document: dict[str, Any], public_key: Ed25519PublicKey | None = None) -> None:
    """Raise ``BenchError`` unless ``document`` carries a valid signature.

    With ``public_key`` the signature must be by that key (the published one); without it the
    embedded key is used, which proves integrity but not who signed.
    """
    block = document.get("signature")
    if not isinstance(block, dict) or block.get("algorithm") != ALGORITHM:
        raise BenchError(
            _("The document carries no Ed25519 signature."),
            _("Only signed certificates and records can be verified."),
        )
    body = {k: v for k, v in document.items() if k != "signature"}
    embedded = public_key_from_text(str(block.get("public_key", "")))
    # The signature block itself is not signed: every field of it must match what is checked.
    if set(block) != {"algorithm", "key_id", "public_key", "value"} or block.get(
        "key_id"
    ) != key_id(embedded):
        raise BenchError(
            _("The signature block was altered (key id or fields)."),
            _("Ask the workshop for the original document."),
        )
    key = public_key or embedded
    if public_key is not None and public_key_text(public_key) != public_key_text(embedded):
        raise BenchError(
            _("The document was signed by another key than the one given."),
            _("Check which station issued it and use that station's public key."),
        )
    try:
        key.verify(strict_b64decode(str(block.get("value", ""))), canonical_json(body))
    except (InvalidSignature, ValueError) as exc:
        raise BenchError(
            _("The signature does not match: the document was altered."),
            _("Ask the workshop for the original document."),
        ) from exc
