"""Validation (NIST SP 800-88 Rev. 2 §4; R2v3 re-check of a share of wiped disks): an
independent check, separate from the wipe's own verification, of a disk drawn at random.

- After an overwrite: a full read of the disk that looks for any byte that is not the written
  pattern, and names the first offending offsets. It shares no code with the wipe's
  verification (``blockio``/``pattern``): its own reads, its own AES-CTR keystream.
- After a firmware purge: the ranges sampled before the purge are read again and must all
  differ from what they held (and, for a block erase, read as one uniform byte).

The result is a signed document linked to the certificate (its id and the SHA-256 of its
signed body). A failed validation revokes the certificate: the disk goes back to "to wipe".
Which disks are checked is drawn here at the rate the ledger last published (5 % by default);
the draw is recorded with where its rate came from.
"""

from __future__ import annotations

import errno
import hashlib
import json
import mmap
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_agent.durable import atomic_write
from bench_agent.errors import BenchError
from bench_agent.i18n import _
from bench_agent.models.wipe import WipeReport
from bench_agent.progress import ProgressCallback, ProgressEvent
from bench_agent.signing import canonical_json, load_or_create_key, sign_document

VALIDATION_KIND = "bench-agent/sanitization-validation"
VALIDATION_VERSION = 1
DEFAULT_RATE = 0.05
POLICY_FILE = "validation-policy.json"
READ_CHUNK = 4 << 20
BLOCK = 4096
MAX_OFFSETS = 8
BLOCK_ERASE_METHODS = frozenset({"nvme-sanitize-block", "ata-sanitize-block"})
_GONE = {errno.ENODEV, errno.ENXIO, errno.ENOENT, errno.ESHUTDOWN}


# -- the draw -------------------------------------------------------------------------------


@dataclass
class ValidationPolicy:
    """The share of wiped disks to validate, as the ledger last published it."""

    rate: float = DEFAULT_RATE
    source: str = "default"  # "ledger" (fetched now), "cached" (last published), "default"
    published_at: str = ""

    @classmethod
    def load(cls, home: Path) -> ValidationPolicy:
        """The last published rate (offline: what the ledger said last time)."""
        try:
            data = json.loads((home / POLICY_FILE).read_text(encoding="utf-8"))
            rate = float(data["rate"])
        except (OSError, ValueError, KeyError, TypeError):
            return cls()
        if not 0.0 <= rate <= 1.0:
            return cls()
        return cls(rate=rate, source="cached", published_at=str(data.get("published_at", "")))

    def save(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        atomic_write(
            home / POLICY_FILE,
            json.dumps({"rate": self.rate, "published_at": self.published_at}),
            mode=0o644,
        )


def refresh_policy(ledger_url: str, home: Path, *, timeout_s: float = 3.0) -> ValidationPolicy:
    """Ask the ledger for its published rate and keep it; offline (or no ledger configured),
    the last one kept, else the default. Never raises: a wipe does not wait for the network."""
    if ledger_url:
        import httpx

        try:
            response = httpx.get(
                ledger_url.rstrip("/") + "/api/v1/validation/policy", timeout=timeout_s
            )
            response.raise_for_status()
            data = response.json()
            policy = ValidationPolicy(
                rate=float(data["rate"]),
                source="ledger",
                published_at=str(data.get("published_at", "")),
            )
            if 0.0 <= policy.rate <= 1.0:
                policy.save(home)
                return policy
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass
    return ValidationPolicy.load(home)


@dataclass
class Draw:
    selected: bool
    rate: float
    source: str
    published_at: str
    drawn_at: str
    draw_id: str

    def note(self) -> str:
        where = {
            "ledger": "the rate the ledger published",
            "cached": "offline: the rate the ledger last published"
            + (f" ({self.published_at})" if self.published_at else ""),
            "default": "offline, no rate ever published: the default",
        }.get(self.source, self.source)
        return (
            f"drawn at {self.rate:.1%} ({where}): {'selected' if self.selected else 'not selected'}"
        )


def draw(policy: ValidationPolicy, *, forced: bool | None = None) -> Draw:
    """Pick this disk or not, with the system's CSPRNG (nothing the operator can predict)."""
    chosen = forced if forced is not None else secrets.randbelow(1_000_000) < policy.rate * 1e6
    return Draw(
        selected=chosen,
        rate=policy.rate,
        source=policy.source if forced is None else "forced",
        published_at=policy.published_at,
        drawn_at=datetime.now(UTC).isoformat(),
        draw_id=str(uuid.uuid4()),
    )


# -- the checks -----------------------------------------------------------------------------


@dataclass
class ValidationCheck:
    kind: str  # "full-read" | "purge-resample"
    passed: bool = False
    aborted: bool = False
    bytes_read: int = 0
    offending_blocks: int = 0
    first_offsets: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""


def _open_for_read(device: str) -> int:
    try:
        return os.open(device, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return os.open(device, os.O_RDONLY | os.O_CLOEXEC)


def _device_size(fd: int) -> int:
    return os.lseek(fd, 0, os.SEEK_END)


class _Keystream:
    """The AES-256-CTR stream the overwrite writes: counter = byte offset / 16, from zero."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed

    def bytes_at(self, offset: int, length: int) -> bytes:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        counter = (offset // 16).to_bytes(16, "big")
        encryptor = Cipher(algorithms.AES(self._seed), modes.CTR(counter)).encryptor()
        return encryptor.update(bytes(length))


def expected_source(report: WipeReport) -> Callable[[int, int], bytes]:
    """What an overwritten disk must read as, from the report (pattern and seed)."""
    if report.method == "random":
        seed_hex = str(report.extra.get("pattern_seed", ""))
        if len(seed_hex) != 64:
            raise BenchError(
                _(
                    "The wipe report of {device} has no pattern seed to check against.",
                    device=report.device,
                ),
                _("Validate the disk with the report written by its wipe."),
            )
        stream = _Keystream(bytes.fromhex(seed_hex))
        return stream.bytes_at
    zeros = bytes(READ_CHUNK)
    return lambda _offset, length: zeros[:length] if length <= len(zeros) else bytes(length)


def full_read_check(
    device: str,
    expected: Callable[[int, int], bytes],
    *,
    excused: list[tuple[int, int]] | None = None,
    job: str = "",
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    chunk: int = READ_CHUNK,
) -> ValidationCheck:
    """Read the whole device; every 4 KiB block that is not ``expected`` is an offence, except
    inside ``excused`` [start, end) spans (the bad ranges the certificate already declares)."""
    check = ValidationCheck("full-read")
    spans = sorted(excused or [])

    def is_excused(offset: int, length: int) -> bool:
        return any(start <= offset and offset + length <= end for start, end in spans)

    t0 = time.monotonic()
    fd = _open_for_read(device)
    buf = mmap.mmap(-1, chunk)
    try:
        size = _device_size(fd)
        offset = 0
        last_event = 0.0
        while offset < size:
            if cancel is not None and cancel.is_set():
                check.aborted = True
                break
            length = min(chunk, size - offset)
            view = memoryview(buf)[:length]
            try:
                got = os.preadv(fd, [view], offset)
            except OSError as exc:
                view.release()
                if exc.errno in _GONE:
                    check.aborted = True
                    check.errors.append(f"{offset}: {os.strerror(exc.errno or 0)}")
                    break
                if spans:
                    # Retry block by block: only blocks outside the declared bad ranges count.
                    offset += _blockwise(fd, check, offset, length, expected, is_excused)
                    continue
                check.errors.append(f"{offset}: {os.strerror(exc.errno or 0)}")
                check.offending_blocks += -(-length // BLOCK)
                if len(check.first_offsets) < MAX_OFFSETS:
                    check.first_offsets.append(offset)
                offset += length
                continue
            view.release()
            if got <= 0:
                check.errors.append(f"{offset}: short read")
                break
            data = buf[:got]
            want = expected(offset, got)
            if data != want:
                _locate(check, data, want, offset, is_excused)
            offset += got
            check.bytes_read += got
            now = time.monotonic()
            if progress is not None and (now - last_event >= 0.5 or offset >= size):
                last_event = now
                progress(ProgressEvent(job, "validate", offset, size))
        check.passed = (
            not check.aborted
            and not check.errors
            and check.offending_blocks == 0
            and offset >= size
        )
    finally:
        buf.close()
        os.close(fd)
    check.seconds = time.monotonic() - t0
    check.detail = _describe_full(check)
    return check


def _blockwise(
    fd: int,
    check: ValidationCheck,
    base: int,
    length: int,
    expected: Callable[[int, int], bytes],
    is_excused: Callable[[int, int], bool],
) -> int:
    block = mmap.mmap(-1, BLOCK)
    try:
        for offset in range(base, base + length, BLOCK):
            view = memoryview(block)
            try:
                got = os.preadv(fd, [view], offset)
            except OSError as exc:
                if not is_excused(offset, BLOCK):
                    check.errors.append(f"{offset}: {os.strerror(exc.errno or 0)}")
                    check.offending_blocks += 1
                    if len(check.first_offsets) < MAX_OFFSETS:
                        check.first_offsets.append(offset)
                continue
            finally:
                view.release()
            check.bytes_read += got
            data = block[:got]
            if data != expected(offset, got):
                _locate(check, data, expected(offset, got), offset, is_excused)
    finally:
        block.close()
    return length


def _locate(
    check: ValidationCheck,
    data: bytes,
    want: bytes,
    base: int,
    is_excused: Callable[[int, int], bool],
) -> None:
    for start in range(0, len(data), BLOCK):
        got_block, want_block = data[start : start + BLOCK], want[start : start + BLOCK]
        if got_block == want_block or is_excused(base + start, len(got_block)):
            continue
        check.offending_blocks += 1
        if len(check.first_offsets) < MAX_OFFSETS:
            first = next(
                i for i, (a, b) in enumerate(zip(got_block, want_block, strict=True)) if a != b
            )
            check.first_offsets.append(base + start + first)


def _describe_full(check: ValidationCheck) -> str:
    if check.aborted:
        return f"full read stopped after {check.bytes_read} bytes (the disk went away or was cancelled)"
    if check.passed:
        return f"full read of {check.bytes_read} bytes: every byte is the written pattern"
    return (
        f"full read of {check.bytes_read} bytes: {check.offending_blocks} blocks of 4 KiB are not "
        f"the written pattern, first at byte offsets {check.first_offsets}"
        + (f"; read errors at {check.errors[:4]}" if check.errors else "")
    )


def purge_resample_check(
    device: str, before: list[dict[str, Any]], *, method: str, cancel: threading.Event | None = None
) -> ValidationCheck:
    """Read again every range sampled before the firmware purge: none may hold its old content
    (unless it was uniform then, which proves nothing either way); after a block erase every
    range must read as one uniform byte value (the drive's erase pattern)."""
    check = ValidationCheck("purge-resample")
    t0 = time.monotonic()
    fd = _open_for_read(device)
    longest = max((int(s["length"]) for s in before), default=BLOCK)
    buf = mmap.mmap(-1, -(-longest // mmap.PAGESIZE) * mmap.PAGESIZE)
    fills: dict[str, int] = {}
    try:
        for sample in before:
            if cancel is not None and cancel.is_set():
                check.aborted = True
                break
            offset, length = int(sample["offset"]), int(sample["length"])
            view = memoryview(buf)[:length]
            try:
                got = os.preadv(fd, [view], offset)
            except OSError as exc:
                view.release()
                check.errors.append(f"{offset}: {os.strerror(exc.errno or 0)}")
                if exc.errno in _GONE:
                    check.aborted = True
                    break
                continue
            view.release()
            data = buf[:got]
            check.bytes_read += got
            first = data[:1]
            uniform = bool(first) and data.count(first) == len(data)
            label = f"0x{data[0]:02x}" if uniform else "mixed"
            fills[label] = fills.get(label, 0) + 1
            same = hashlib.sha256(data).hexdigest() == sample["sha256"]
            if (same and sample.get("fill_byte") is None) or (
                method in BLOCK_ERASE_METHODS and not uniform
            ):
                check.offending_blocks += 1
                if len(check.first_offsets) < MAX_OFFSETS:
                    check.first_offsets.append(offset)
        check.passed = (
            bool(before) and not check.aborted and not check.errors and check.offending_blocks == 0
        )
    finally:
        buf.close()
        os.close(fd)
    check.seconds = time.monotonic() - t0
    content = ", ".join(f"{k}: {v}" for k, v in sorted(fills.items()))
    rule = (
        "differ from before the purge and read as one uniform byte (block erase)"
        if method in BLOCK_ERASE_METHODS
        else "differ from before the purge"
    )
    check.detail = (
        f"{len(before)} ranges sampled before the purge read again ({check.bytes_read} bytes); "
        f"they must {rule}; content now: {content or '-'}; "
        + (
            "all pass"
            if check.passed
            else f"{check.offending_blocks} fail, first at byte offsets {check.first_offsets}"
        )
        + (f"; read errors at {check.errors[:4]}" if check.errors else "")
    )
    return check


def check_disk(
    report: WipeReport,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ValidationCheck:
    """The independent check suited to how the disk was wiped."""
    from bench_agent.sanitize.plan import FIRMWARE_METHODS

    fd = _open_for_read(report.device)
    try:
        size = _device_size(fd)
    finally:
        os.close(fd)
    if size != report.size_bytes:
        # Another disk under the same name (a dock swapped): never validate the wrong one.
        raise BenchError(
            _(
                "{device} is not the disk that was wiped (its size changed): not validated.",
                device=report.device,
            ),
            _("Validate the disk right after its wipe, on the station that wiped it."),
        )

    if report.method in FIRMWARE_METHODS:
        source = report.extra.get("pre_purge_samples_file")
        try:
            before = json.loads(Path(str(source)).read_text(encoding="utf-8")) if source else []
        except (OSError, ValueError):
            before = []
        if not before:
            raise BenchError(
                _(
                    "The samples read before the purge of {device} are missing: it cannot be validated.",
                    device=report.device,
                ),
                _("Validate the disk right after its wipe, on the station that wiped it."),
            )
        return purge_resample_check(report.device, before, method=report.method, cancel=cancel)
    return full_read_check(
        report.device,
        expected_source(report),
        excused=[(r.start_byte, r.start_byte + r.length) for r in report.bad_ranges],
        job=Path(report.device).name,
        progress=progress,
        cancel=cancel,
    )


# -- the signed result ----------------------------------------------------------------------


def certificate_digest(certificate: dict[str, Any]) -> str:
    """SHA-256 of the certificate's canonical body with its signature: what the result is tied to."""
    return hashlib.sha256(canonical_json(certificate)).hexdigest()


def validation_document(
    check: ValidationCheck,
    *,
    certificate: dict[str, Any],
    the_draw: Draw,
    validator: str,
    station: str,
) -> dict[str, Any]:
    wiped_by = str(certificate.get("operator", ""))
    return {
        "kind": VALIDATION_KIND,
        "version": VALIDATION_VERSION,
        "validation_id": str(uuid.uuid4()),
        "issued_at": datetime.now(UTC).isoformat(),
        "certificate_id": certificate.get("certificate_id"),
        "certificate_sha256": certificate_digest(certificate),
        "media": {
            "serial": certificate.get("media", {}).get("serial", ""),
            "model": certificate.get("media", {}).get("model", ""),
            "size_bytes": certificate.get("media", {}).get("size_bytes"),
        },
        "method": certificate.get("sanitization", {}).get("method"),
        "check": {
            "kind": check.kind,
            "result": "passed" if check.passed else ("aborted" if check.aborted else "failed"),
            "bytes_read": check.bytes_read,
            "offending_blocks": check.offending_blocks,
            "first_offending_offsets": check.first_offsets,
            "read_errors": check.errors[:MAX_OFFSETS],
            "seconds": round(check.seconds, 3),
            "detail": check.detail,
        },
        "draw": asdict(the_draw),
        "validator": validator,
        "wiped_by": wiped_by,
        "independent_operator": bool(validator) and validator != wiped_by,
        "station": station,
        "certificate_status": "valid" if check.passed else "failed",
    }


def issue_validation(document: dict[str, Any], key_path: Path) -> dict[str, Any]:
    return sign_document(document, load_or_create_key(key_path))


def write_validation(result: dict[str, Any], certificate_files: list[str], directory: Path) -> Path:
    """``<certificate stem>.validation.json`` beside the certificate; a failure also writes
    ``.REVOKED`` beside it so nobody hands out the certificate of a disk that failed."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = (
        Path(certificate_files[0]).name.removesuffix(".cert.json")
        if certificate_files
        else str(result["certificate_id"])
    )
    path = directory / f"{stem}.validation.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if result["certificate_status"] == "failed":
        (directory / f"{stem}.cert.REVOKED").write_text(
            f"validation {result['validation_id']} failed: {result['check']['detail']}\n",
            encoding="utf-8",
        )
    return path


def validate_after_wipe(
    report: WipeReport,
    certificate: dict[str, Any],
    *,
    policy: ValidationPolicy,
    validator: str,
    station: str,
    key_path: Path,
    report_dir: Path,
    forced: bool | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> tuple[Draw, dict[str, Any] | None]:
    """Draw; when selected, check now (before imaging) and sign the result.

    The draw goes into ``report.extra["validation_draw"]``; a failed check sets the report's
    status to failed, so the machine's disk goes back to "to wipe".
    """
    the_draw = draw(policy, forced=forced)
    report.extra["validation_draw"] = asdict(the_draw) | {"note": the_draw.note()}
    if not the_draw.selected:
        return the_draw, None
    if cancel is not None and cancel.is_set():
        # Stopped before the check began (another disk's wipe was stopped): a check never made
        # is not a failed one, so it must not revoke the certificate.
        raise BenchError(
            _(
                "The run was stopped before {device} was validated: it was not checked.",
                device=report.device,
            ),
            _("Its certificate stands; the record says the drawn disk was not checked."),
        )
    check = check_disk(report, progress=progress, cancel=cancel)
    result = issue_validation(
        validation_document(
            check, certificate=certificate, the_draw=the_draw, validator=validator, station=station
        ),
        key_path,
    )
    path = write_validation(result, list(report.extra.get("certificate_files", [])), report_dir)
    report.extra["validation"] = {
        "validation_id": result["validation_id"],
        "result": result["check"]["result"],
        "file": str(path),
        "document": result,  # travels in the record to the ledger
    }
    if not check.passed:
        report.status = "failed"
        report.status_detail = "validation failed, the certificate is revoked: " + check.detail
    return the_draw, result


@dataclass
class ValidationOptions:
    """How ``run_wipes`` validates: the policy (rate), who validates, and a forced choice
    (``True``: every disk, ``False``: none; ``None``: the draw decides)."""

    policy: ValidationPolicy
    validator: str = ""
    station: str = ""
    forced: bool | None = None


def verify_validation(path: Path, public_key: str | None = None) -> dict[str, Any]:
    """Check a validation result's signature (and, when its certificate lies beside it, that
    it is tied to that very certificate); return it with ``_certificate_link`` set."""
    from bench_agent.sanitize.certificate import load_certificate, pinned_key
    from bench_agent.signing import verify_document

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(
            _("Cannot read the validation result {path}.", path=path),
            _("Ask the workshop for the original document."),
        ) from exc
    if not isinstance(document, dict) or document.get("kind") != VALIDATION_KIND:
        raise BenchError(
            _("This is not a bench-agent validation result."),
            _("Only documents issued by bench-agent can be verified."),
        )
    verify_document(document, pinned_key(public_key))
    result = dict(document)
    sibling = path.with_name(path.name.removesuffix(".validation.json") + ".cert.json")
    if sibling.exists():
        certificate = load_certificate(sibling).document
        tied = certificate_digest(certificate) == document.get("certificate_sha256")
        result["_certificate_link"] = "matches" if tied else "DIFFERS"
    return result
