"""Wipe certificates (JSON, PDF, public verification) and the image files benches download."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import FileResponse
from sqlalchemy import select

from bench_agent.i18n import _
from bench_agent.ledger.api.common import (
    not_found,
    responses,
    store_of,
)
from bench_agent.ledger.auth import (
    SupervisorPrincipal,
)
from bench_agent.ledger.certificate_rows import judge_certificate
from bench_agent.ledger.inputs import header_safe
from bench_agent.ledger.models import (
    Certificate,
)
from bench_agent.ledger.revocation import FAILED_VALIDATION, revoked_message
from bench_agent.ledger.schemas import (
    CertificateVerification,
    ImageFile,
    Problem,
)

router = APIRouter(prefix="/api/v1")


# ---------------------------------------------------------------------------- certificates
def _certificate(request: Request, certificate_id: str) -> Certificate:
    with store_of(request).session() as session:
        row = session.scalar(
            select(Certificate).where(Certificate.certificate_id == certificate_id)
        )
        if row is None:
            raise not_found(_("No certificate {certificate_id}.", certificate_id=certificate_id))
        return row


@router.get(
    "/certificates/{certificate_id}.pdf",
    tags=["certificates"],
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **responses(401, 403, 404, 410)},
)
def certificate_pdf(request: Request, certificate_id: str, _user: SupervisorPrincipal) -> Response:
    """The certificate as a PDF, for the donor."""
    from bench_agent.ledger.certificates import render_pdf

    row = _certificate(request, certificate_id)
    if row.status == FAILED_VALIDATION:  # never a printable proof of a disk that failed
        raise HTTPException(status.HTTP_410_GONE, detail=revoked_message())
    return Response(
        render_pdf(row.document),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{header_safe(row.certificate_id)}.pdf"'
        },
    )


@router.get(
    "/certificates/{certificate_id}",
    response_model=dict[str, Any],
    tags=["certificates"],
    responses=responses(401, 403, 404),
)
def certificate_json(
    request: Request, certificate_id: str, _user: SupervisorPrincipal
) -> dict[str, Any]:
    """The signed certificate document as the station issued it."""
    return _certificate(request, certificate_id).document


@router.post(
    "/certificates/verify",
    response_model=CertificateVerification,
    tags=["certificates"],
    responses=responses(422),
)
def verify_certificate(request: Request, document: dict[str, Any]) -> CertificateVerification:
    """Check a certificate (public): signed by a key a station of this ledger published?"""
    from bench_agent.ledger.record_checks import certificate_id_of

    cert_id = certificate_id_of(document)
    with store_of(request).session() as session:
        stored = session.scalar(select(Certificate).where(Certificate.certificate_id == cert_id))
        known = stored is not None and stored.document == document
        judged = judge_certificate(
            session,
            document,
            station_id=stored.record.station_id if known and stored is not None else None,
            received_at=stored.issued_at if known and stored is not None else None,
        )
    reasons = {
        "unsigned": _("The certificate carries no signature."),
        "unknown-key": _(
            "The certificate is not signed by a key any station of this ledger published."
        ),
        "retired-key": _(
            "The certificate is signed by a key retired on {date}, and this ledger did not "
            "receive it before.",
            date=judged.retired_at.date().isoformat() if judged.retired_at else "",
        ),
    }
    return CertificateVerification(
        valid=judged.valid,
        certificate_id=cert_id,
        station=judged.station or None,
        key_id=judged.key_id or None,
        known=known,
        reason=judged.message or reasons.get(judged.reason, ""),
    )


# ---------------------------------------------------------------------------------- images
def _images_dir(request: Request) -> FilePath:
    path: FilePath = request.app.state.images_dir
    return path


@router.get("/images", response_model=list[ImageFile], tags=["images"])
def list_images(request: Request) -> list[ImageFile]:
    """The image files benches may download (public: the education master is free software)."""
    folder = _images_dir(request)
    if not folder.is_dir():
        return []
    result = []
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and not entry.name.startswith("."):
            stat = entry.stat()
            result.append(
                ImageFile(
                    name=entry.name,
                    size=stat.st_size,
                    modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
                )
            )
    return result


@router.get(
    "/images/{name}",
    tags=["images"],
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {
            "description": _("the requested byte range"),
            "content": {"application/octet-stream": {}},
        },
        404: {"model": Problem, "description": _("not found")},
        416: {"description": _("range not satisfiable")},
    },
)
def get_image(request: Request, name: str) -> FileResponse:
    """Download an image file; supports ``Range`` (resumable downloads)."""
    folder = _images_dir(request).resolve()
    path = (folder / name).resolve()
    if (
        "/" in name
        or name.startswith(".")
        or path.parent != folder
        or not path.is_file()
        or not os.access(path, os.R_OK)
    ):
        raise not_found(_("No image file '{name}'.", name=name))
    return FileResponse(path, media_type="application/octet-stream", filename=name)


# Re-exported for the OpenAPI security schemes and for other modules of the ledger.
