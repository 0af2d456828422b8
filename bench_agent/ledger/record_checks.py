"""What makes the ledger refuse a station's document, shared by the record path
(``ingest.py``), the revoked certificates (``revocation.py``) and the certificate rows
(``certificate_rows.py``): the refusal itself, a certificate's id, and the check that a
certificate is signed by one of the station's own keys. A leaf: it imports none of them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bench_agent.errors import BenchError
from bench_agent.i18n import _
from bench_agent.signing import canonical_json


class RecordRejected(Exception):
    """The record cannot be stored; ``status`` is the HTTP status to answer."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | tuple[str | int, ...] = "",
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field if isinstance(field, str) else ".".join(str(p) for p in field)
        # Where the problem is in the body, for a 422's ``loc``.
        self.loc: tuple[str | int, ...] = (
            field if isinstance(field, tuple) else ((field,) if field else ())
        )
        # For 403: "no-key" (the station must enrol) or "key-mismatch" (this record only).
        self.reason = reason


def certificate_id_of(document: dict[str, Any]) -> str:
    for key in ("certificate_id", "id"):
        value = document.get(key)
        if isinstance(value, str) and value:
            return value[:100]
    return hashlib.sha256(canonical_json(document)).hexdigest()[:32]


def verify_station_certificate(
    station: Any, index: int, document: dict[str, Any], loc: tuple[Any, ...] = ()
) -> None:
    """The certificate is genuine and signed by one of this station's own keys (else 422).

    The record around it is signed by the station's current key; a certificate it carries may
    have been issued under a key the station published before (a rotation in between), never
    under another station's key or none.
    """
    from bench_agent.sanitize.certificate import verify_certificate

    cert_id = certificate_id_of(document)
    block = document.get("signature")
    kid = block.get("key_id") if isinstance(block, dict) else None
    public_key = station.keys.get(kid) if isinstance(kid, str) else None
    if not isinstance(block, dict):
        message = _("Certificate {id} is not signed.", id=cert_id)
    elif public_key is None:
        message = _(
            "Certificate {id} is not signed by a key of station '{station}'.",
            id=cert_id,
            station=station.name,
        )
    else:
        try:
            verify_certificate(document, public_key)
        except BenchError as exc:
            message = _("Certificate {id}: {reason}", id=cert_id, reason=exc.message)
        else:
            return
    raise RecordRejected(422, message, loc or ("certificates", index))
