"""Sanitization certificates (NIST SP 800-88 Rev. 2, with every Rev. 1 §4.8 field kept): signed
JSON, and a PDF that carries the same signed JSON as an attached file plus a QR code of the
verification data. Version 2 names the IEEE 2883 technique, the interface command sent and its
completion status, and the verification's scope; version 1 (Rev. 1) certificates still verify.

``verify_certificate`` accepts either file (or the dict) and checks the Ed25519 signature
offline; any altered byte of the JSON, or of the JSON attached to the PDF, fails it.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_agent.errors import BenchError, InputError
from bench_agent.i18n import N_, _, get_language, translate
from bench_agent.sanitize.techniques import IEEE_2883, NIST_REV1, NIST_REV2, technique_for
from bench_agent.signing import (
    canonical_json,
    load_or_create_key,
    public_key_from_text,
    sign_document,
    verify_document,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from bench_agent.config import AgentSettings
    from bench_agent.models.wipe import WipeReport

CERTIFICATE_KIND = "bench-agent/sanitization-certificate"
CERTIFICATE_VERSION = 2
ATTACHMENT_NAME = "certificate.json"
STANDARD = NIST_REV2
# A plan note (in the report's ``plan_notes``) the certificate repeats beside the serial: the
# drive behind a USB bridge did not give its own, so the serial is the bridge's.
BRIDGE_SERIAL_NOTE = "serial read from the USB bridge, not the drive"


@dataclass
class CertificateContext:
    """Who, where and for whom (the parts of §4.8 a disk cannot tell)."""

    operator: str = ""
    station: str = ""
    location: str = ""
    asset_tag: str = ""
    lot: str = ""
    destination: str = ""

    @classmethod
    def from_settings(cls, settings: AgentSettings, **overrides: str) -> CertificateContext:
        values = {
            "operator": settings.operator,
            "station": settings.station,
            "location": settings.location,
            "destination": settings.post_sanitization_destination,
        }
        values.update({k: v for k, v in overrides.items() if v})
        return cls(**values)


def _iso(value: datetime | str | None) -> str:
    if isinstance(value, str):
        return value
    return value.isoformat() if value else ""


def build_certificate(
    report: WipeReport | Mapping[str, Any], context: CertificateContext
) -> dict[str, Any]:
    """The unsigned certificate document for a finished wipe.

    ``report`` is a ``WipeReport`` or the same fields as a plain mapping (``model_dump()``
    form, datetimes as ``datetime``): the wipe-only path of CPUs without SSE2 builds its
    certificates here without pydantic.
    """
    r = report if isinstance(report, Mapping) else report.model_dump()
    started, finished = r.get("started_at"), r.get("finished_at")
    duration = (
        (finished - started).total_seconds()
        if isinstance(started, datetime) and isinstance(finished, datetime)
        else None
    )
    bad_ranges = list(r.get("bad_ranges") or [])
    extra = r.get("extra") or {}
    bad_bytes = sum(int(b["length"]) for b in bad_ranges)
    serial_note = BRIDGE_SERIAL_NOTE if BRIDGE_SERIAL_NOTE in extra.get("plan_notes", []) else ""
    return {
        "kind": CERTIFICATE_KIND,
        "version": CERTIFICATE_VERSION,
        "certificate_id": r.get("certificate_id") or str(uuid.uuid4()),
        "issued_at": datetime.now(UTC).isoformat(),
        "standard": STANDARD,
        "media": {
            "manufacturer": r.get("vendor", ""),
            "model": r.get("model", ""),
            "serial": r.get("serial", ""),
            "media_type": r.get("media_type", ""),
            "size_bytes": r.get("size_bytes", 0),
            "device": r["device"],
            **({"serial_note": serial_note} if serial_note else {}),
        },
        "source": {"asset_tag": context.asset_tag, "lot": context.lot},
        "sanitization": {
            "level": r["level"],
            "method": r["method"],
            "description": extra.get("method_description", ""),
            "tool": r.get("tool", ""),
            "tool_version": r.get("tool_version", ""),
            "status": r["status"],
            "status_detail": r.get("status_detail", ""),
            "started_at": _iso(started),
            "finished_at": _iso(finished),
            "duration_s": round(duration, 3) if duration is not None else None,
            "bytes_written": r.get("bytes_written", 0),
            "throughput_mbps": r.get("throughput_mbps"),
            "fallback_from": extra.get("fallback_from", ""),
        },
        "technique": technique_block(r),
        "verification": {
            "method": r.get("verification", "none"),
            "result": r.get("verification_result", "not_done"),
            "detail": r.get("verification_detail", ""),
            "bytes_read": r.get("bytes_verified", 0),
            **verification_scope(r),
        },
        "hidden_areas": dict(r.get("hidden_areas") or HIDDEN_AREAS_UNCHECKED),
        "bad_blocks": {
            "count_bytes": bad_bytes,
            "ranges": [dict(b) for b in bad_ranges],
        },
        "operator": context.operator,
        "station": context.station,
        "location": context.location,
        "post_sanitization_destination": context.destination,
        "pdf": {"renderer": _renderer(), "language": get_language()},
    }


# ``HiddenAreas()`` as JSON: a wipe that did not look for HPA/DCO says so.
HIDDEN_AREAS_UNCHECKED: dict[str, Any] = {
    "checked": False,
    "hpa_present": None,
    "dco_present": None,
    "native_max_sectors": None,
    "visible_sectors": None,
    "erased": False,
    "note": "",
}


def _serial_text(media: Mapping[str, Any], tr: Callable[[str], str]) -> str:
    """The serial as the PDF states it, with the reason it is only the USB bridge's."""
    serial = str(media.get("serial") or "")
    if media.get("serial_note") == BRIDGE_SERIAL_NOTE:
        why = tr(N_("read from the USB bridge, not the drive"))
        return f"{serial} ({why})"
    return serial


def technique_block(r: Mapping[str, Any]) -> dict[str, Any]:
    """The IEEE 2883 technique, the command the drive was sent and how it completed."""
    technique = technique_for(r["method"])
    extra = r.get("extra") or {}
    firmware = extra.get("firmware_completion") or {}
    commands = [
        {"argv": " ".join(str(a) for a in c.get("argv", [])), "returncode": c.get("returncode")}
        for c in extra.get("firmware_commands", [])
    ]
    if technique is not None and technique.category == "clear":
        written = int(r.get("bytes_written", 0))
        size = int(r.get("size_bytes", 0))
        bad_ranges = r.get("bad_ranges") or []
        completion = (
            f"{written} of {size} bytes written"
            + (f", {len(bad_ranges)} bad ranges" if bad_ranges else "")
            + ("" if written >= size else " (incomplete)")
        )
        if extra.get("fallback_note"):
            completion += "; " + str(extra["fallback_note"])
    else:
        completion = str(firmware.get("detail") or r.get("status_detail", ""))
    return {
        "reference": IEEE_2883,
        "name": technique.ieee_2883 if technique else "",
        "in_ieee_2883": bool(technique and technique.ieee_2883),
        "category": technique.category if technique else r["level"],
        "classified_by": technique.classified_by if technique else "",
        "note": technique.note if technique else "",
        "interface": technique.interface if technique else "",
        "interface_command": technique.interface_command if technique else r["method"],
        "completion_status": completion,
        "commands": commands,
    }


def verification_scope(r: Mapping[str, Any]) -> dict[str, Any]:
    """Full or sampled, the share of the media read, and the seed that replays the samples."""
    summary = (r.get("extra") or {}).get("verification_plan") or {}
    method = r.get("verification", "none")
    size = int(r.get("size_bytes", 0))
    if method == "none" or r.get("verification_result", "not_done") == "not_done":
        scope = "none"
    else:
        scope = str(summary.get("scope") or ("full" if method == "full" else "sampled"))
    coverage = summary.get("coverage_percent")
    if coverage is None and size and scope != "none":
        coverage = round(int(r.get("bytes_verified", 0)) * 100 / size, 2)
    return {
        "scope": scope,
        "coverage_percent": coverage if scope != "none" else 0.0,
        "subsections": summary.get("subsections"),
        "sample_seed": summary.get("sample_seed"),
    }


def standard_of(certificate: dict[str, Any]) -> str:
    """The standard a certificate was issued under (version 1 certificates: Rev. 1)."""
    return str(certificate.get("standard") or NIST_REV1)


def technique_summary(certificate: dict[str, Any]) -> str:
    """One line: the IEEE 2883 technique, or why there is none (a Rev. 1 certificate)."""
    block = certificate.get("technique")
    if not isinstance(block, dict):
        return translate(N_("not stated (issued under NIST SP 800-88 Rev. 1)"))
    if block.get("in_ieee_2883"):
        return f"{block.get('name')} ({block.get('reference')}, {block.get('category')})"
    note = str(block.get("note") or "")
    return translate(note) if note else str(block.get("interface_command", ""))


def issue_certificate(
    report: WipeReport, context: CertificateContext, key_path: Path
) -> dict[str, Any]:
    document = build_certificate(report, context)
    report.certificate_id = str(document["certificate_id"])
    return sign_document(document, load_or_create_key(key_path))


def qr_payload(certificate: dict[str, Any]) -> str:
    """Compact verification data: id, disk, result, digest of the signed body, signature."""
    body = {k: v for k, v in certificate.items() if k != "signature"}
    signature = certificate.get("signature", {})
    fields = [
        "BA-CERT1",
        f"id={certificate.get('certificate_id', '')}",
        f"sn={certificate.get('media', {}).get('serial', '')}",
        f"st={certificate.get('sanitization', {}).get('status', '')}",
        f"m={certificate.get('sanitization', {}).get('method', '')}",
        f"v={certificate.get('verification', {}).get('result', '')}",
        f"sha256={hashlib.sha256(canonical_json(body)).hexdigest()}",
        f"key={signature.get('key_id', '')}",
        f"sig={signature.get('value', '')}",
    ]
    return ";".join(fields)


def serialize(certificate: dict[str, Any]) -> bytes:
    """The exact bytes of a certificate file (and of the JSON attached to the PDF)."""
    return (json.dumps(certificate, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _renderer() -> str:
    from importlib.metadata import version

    return f"fpdf2 {version('fpdf2')}"


def _pdf_text(value: object) -> str:
    # The core PDF fonts are Latin-1; anything else is replaced rather than crashing.
    return str(value).encode("latin-1", "replace").decode("latin-1")


def render_pdf(certificate: dict[str, Any]) -> bytes:
    """A one-page PDF: the fields, a QR code, and the signed JSON attached.

    The rendering is deterministic (dates come from the certificate), so ``verify_certificate``
    can re-render it and check that the visible pages say what the signed data says.
    """
    import segno
    from fpdf import FPDF

    pdf_info = certificate.get("pdf", {})
    language = str(pdf_info.get("language") or "en")

    def tr(msgid: str) -> str:
        return translate(msgid, language)

    issued = datetime.fromisoformat(str(certificate.get("issued_at")))
    pdf = FPDF(format="A4")
    pdf.set_creation_date(issued)
    pdf.set_title("Sanitization certificate " + str(certificate.get("certificate_id", "")))
    pdf.set_creator("bench-agent")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.cell(0, 10, _pdf_text(tr(N_("Certificate of sanitization"))), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 9)
    pdf.cell(
        0,
        5,
        _pdf_text(standard_of(certificate) + " - " + str(certificate.get("certificate_id"))),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    media = certificate.get("media", {})
    san = certificate.get("sanitization", {})
    ver = certificate.get("verification", {})
    hidden = certificate.get("hidden_areas", {})
    bad = certificate.get("bad_blocks", {})
    source = certificate.get("source", {})
    rows = [
        (tr(N_("Manufacturer")), media.get("manufacturer")),
        (tr(N_("Model")), media.get("model")),
        (tr(N_("Serial number")), _serial_text(media, tr)),
        (tr(N_("Media type")), media.get("media_type")),
        (tr(N_("Capacity (bytes)")), media.get("size_bytes")),
        (tr(N_("Asset tag")), source.get("asset_tag")),
        (tr(N_("Donor lot (media source)")), source.get("lot")),
        (tr(N_("Sanitization level")), san.get("level")),
        (tr(N_("Method")), f"{san.get('method')} - {san.get('description')}"),
        (tr(N_("Tool and version")), f"{san.get('tool')} {san.get('tool_version')}"),
        (tr(N_("Status")), f"{san.get('status')} {san.get('status_detail') or ''}"),
        (tr(N_("Verification")), f"{ver.get('method')}: {ver.get('result')}"),
        (tr(N_("Verification detail")), ver.get("detail")),
        *_rev2_rows(certificate, tr),
        (tr(N_("Hidden areas (HPA/DCO)")), hidden.get("note")),
        (tr(N_("Bad blocks (bytes)")), bad.get("count_bytes")),
        (tr(N_("Started")), san.get("started_at")),
        (tr(N_("Finished")), san.get("finished_at")),
        (tr(N_("Duration (s)")), san.get("duration_s")),
        (tr(N_("Throughput (MB/s)")), san.get("throughput_mbps")),
        (tr(N_("Operator")), certificate.get("operator")),
        (tr(N_("Station")), certificate.get("station")),
        (tr(N_("Location")), certificate.get("location")),
        (
            tr(N_("Destination after sanitization")),
            certificate.get("post_sanitization_destination"),
        ),
        (tr(N_("Signing key")), certificate.get("signature", {}).get("key_id")),
    ]
    for label, value in rows:
        pdf.set_font("helvetica", "B", 9)
        pdf.cell(55, 5, _pdf_text(label))
        pdf.set_font("helvetica", "", 9)
        pdf.multi_cell(
            0, 5, _pdf_text("" if value is None else value), new_x="LMARGIN", new_y="NEXT"
        )
    # QR code drawn as vector squares (no image library needed).
    qr = segno.make(qr_payload(certificate), error="m")
    modules = list(qr.matrix)
    size_mm = 60.0
    cell = size_mm / (len(modules) + 8)
    x0 = pdf.w - pdf.r_margin - size_mm
    y0 = max(pdf.get_y() + 4, 20.0)
    if y0 + size_mm > pdf.h - 20:
        pdf.add_page()
        y0 = 20.0
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(modules):
        for c, bit in enumerate(row):
            if bit:
                pdf.rect(x0 + (c + 4) * cell, y0 + (r + 4) * cell, cell, cell, style="F")
    pdf.set_xy(pdf.l_margin, y0)
    pdf.set_font("helvetica", "", 8)
    pdf.multi_cell(
        pdf.w - pdf.l_margin - pdf.r_margin - size_mm - 5,
        4,
        _pdf_text(
            tr(
                N_(
                    "Check this certificate offline with 'bench-agent verify-cert FILE' (this PDF or the "
                    "JSON file); the signed data is attached to this PDF as certificate.json. The QR "
                    "code carries the certificate id, serial, result, the SHA-256 of the signed data and "
                    "the signature."
                )
            )
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.embed_file(
        bytes=serialize(certificate),
        basename=ATTACHMENT_NAME,
        mime_type="application/json",
        desc="signed sanitization certificate",
        compress=False,
        modification_date=issued,
    )
    return bytes(pdf.output())


def _rev2_rows(certificate: dict[str, Any], tr: Callable[[str], str]) -> list[tuple[str, Any]]:
    """The rows a version 2 (Rev. 2) certificate adds; none for version 1, whose pages must
    re-render exactly as they were issued."""
    block = certificate.get("technique")
    if not isinstance(block, dict):
        return []
    ver = certificate.get("verification", {})
    if block.get("in_ieee_2883"):
        technique = f"{block.get('name')} ({block.get('reference')})"
    else:
        technique = tr(str(block.get("note") or "-"))
    scope = str(ver.get("scope"))
    coverage = {
        "full": tr(N_("full read-back ({percent} % of the media)")),
        "sampled": tr(N_("sampled ({percent} % of the media, seed {seed})")),
    }.get(scope, tr(N_("not verified")))
    return [
        (tr(N_("IEEE 2883 technique")), technique),
        (tr(N_("Interface command")), block.get("interface_command")),
        (tr(N_("Completion status")), block.get("completion_status")),
        (
            tr(N_("Verification coverage")),
            coverage.format(percent=ver.get("coverage_percent"), seed=ver.get("sample_seed")),
        ),
    ]


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "disk"


def write_certificate(certificate: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write ``<serial>-<id>.cert.json`` and ``.cert.pdf``; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    serial = certificate.get("media", {}).get("serial") or certificate.get("media", {}).get(
        "device", "disk"
    )
    stem = f"{_safe_name(str(serial))}-{str(certificate['certificate_id'])[:8]}"
    json_path = directory / f"{stem}.cert.json"
    pdf_path = directory / f"{stem}.cert.pdf"
    json_path.write_bytes(serialize(certificate))
    pdf_path.write_bytes(render_pdf(certificate))
    return json_path, pdf_path


# -- reading back ---------------------------------------------------------------------------

_EMBEDDED = re.compile(rb"/Type\s*/EmbeddedFile\b")


def extract_attachments(pdf: bytes) -> list[bytes]:
    """Contents of the PDF's embedded-file streams (enough of PDF for the files we write)."""
    found = []
    for match in _EMBEDDED.finditer(pdf):
        start = pdf.rfind(b"obj", 0, match.start())
        dict_end = pdf.find(b"stream", match.end())
        if start < 0 or dict_end < 0:
            continue
        header = pdf[start:dict_end]
        length = re.search(rb"/Length\s+(\d+)", header)
        if length is None:
            continue
        data_start = dict_end + len(b"stream")
        if pdf[data_start : data_start + 2] == b"\r\n":
            data_start += 2
        elif pdf[data_start : data_start + 1] in (b"\n", b"\r"):
            data_start += 1
        data = pdf[data_start : data_start + int(length.group(1))]
        if b"/FlateDecode" in header:
            try:
                data = zlib.decompress(data)
            except zlib.error:
                continue
        found.append(data)
    return found


def _parse(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BenchError(
            _("The certificate data in {path} is not valid JSON: it was altered.", path=path),
            _("Ask the workshop for the original document."),
        ) from exc
    if not isinstance(document, dict):
        raise BenchError(
            _("The certificate data in {path} is not valid JSON: it was altered.", path=path),
            _("Ask the workshop for the original document."),
        )
    if serialize(document) != raw:
        # Even a change of layout is a change: the file is byte-for-byte what was issued.
        raise BenchError(
            _("{path} differs from the certificate as issued (its bytes were changed).", path=path),
            _("Ask the workshop for the original document."),
        )
    return document


@dataclass
class LoadedCertificate:
    document: dict[str, Any]
    pdf: bytes | None = None


def load_certificate(path: Path) -> LoadedCertificate:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            _("Cannot read {path}: {error}", path=path, error=exc.strerror),
            _("Check the file name."),
        ) from exc
    if not raw.startswith(b"%PDF"):
        return LoadedCertificate(_parse(raw, path))
    attachments = extract_attachments(raw)
    if len(attachments) != 1:
        raise BenchError(
            _("{path} carries no attached certificate data.", path=path),
            _("Only PDFs issued by bench-agent can be verified."),
        )
    return LoadedCertificate(_parse(attachments[0], path), raw)


def pinned_key(public_key: str | None) -> Ed25519PublicKey | None:
    """The station key given on the command line (base64 raw or PEM text, or a file holding
    it); None when none was given (the document's embedded key then proves integrity only)."""
    if not public_key:
        return None
    text = public_key
    candidate = Path(public_key)
    if len(public_key) < 4096 and candidate.exists():
        text = candidate.read_text(encoding="utf-8")
    return public_key_from_text(text)


def verify_certificate(
    source: Path | str | dict[str, Any], public_key: str | None = None
) -> dict[str, Any]:
    """Return the certificate if its signature is genuine; raise ``BenchError`` otherwise.

    ``public_key`` (base64 raw or PEM text, or a path to a file holding it) pins the station
    key; without it the embedded key proves integrity only. For a PDF, the attached signed
    JSON is checked, then the PDF is rendered again from it and must be identical byte for
    byte (when this station has the same PDF renderer version; otherwise
    ``document["_pdf_check"]`` says the visible pages could not be re-checked).
    """
    if isinstance(source, dict):
        loaded = LoadedCertificate(source)
    else:
        loaded = load_certificate(Path(source))
    document = loaded.document
    if document.get("kind") != CERTIFICATE_KIND:
        raise BenchError(
            _("This is not a bench-agent sanitization certificate."),
            _("Only certificates issued by bench-agent can be verified."),
        )
    verify_document(document, pinned_key(public_key))
    result = dict(document)
    if loaded.pdf is not None:
        made_with = str(document.get("pdf", {}).get("renderer", ""))
        if made_with != _renderer():
            result["_pdf_check"] = "not re-rendered: made with " + made_with
        elif render_pdf(document) != loaded.pdf:
            raise BenchError(
                _("The pages of this PDF differ from its signed data: the PDF was altered."),
                _("Ask the workshop for the original document."),
            )
        else:
            result["_pdf_check"] = "identical"
    return result
