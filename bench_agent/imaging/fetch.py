"""The local image cache: masters fetched once over HTTP from the ledger host, checked by digest.

Downloads stream into ``<name>.part`` and resume with a ``Range`` request after a cut; a file is
used only once its SHA-256 matches the catalogue. A stamp beside it (size, mtime, digest) saves
re-hashing a multi-gigabyte file at every job; a changed file loses its stamp and is checked
again, and a corrupt one is fetched again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from bench_agent import retry
from bench_agent.durable import fsync_dir
from bench_agent.errors import BenchError, InputError
from bench_agent.i18n import _
from bench_agent.imaging.catalogue import source_path
from bench_agent.models.image import ImageEntry

CHUNK = 1 << 20
IMAGES_PATH = "api/v1/images"  # the ledger serves <ledger_url>/api/v1/images/<file> (Range)


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            sha.update(block)
    return sha.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp_of(path: Path) -> dict[str, object]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def is_verified(path: Path, sha256: str) -> bool:
    """True if ``path`` holds ``sha256`` (trusting a stamp that still matches the file)."""
    if not path.is_file():
        return False
    stamp = _stamp_path(path)
    try:
        saved = json.loads(stamp.read_text(encoding="utf-8"))
        if saved == {**_stamp_of(path), "sha256": sha256}:
            return True
    except (OSError, ValueError):
        pass
    if file_sha256(path) != sha256:
        return False
    stamp.write_text(json.dumps({**_stamp_of(path), "sha256": sha256}), encoding="utf-8")
    return True


def forget_verified(path: Path) -> None:
    """Drop the stamp (the writer found the file corrupt): the next use re-hashes it."""
    _stamp_path(path).unlink(missing_ok=True)


def _file_name(entry: ImageEntry) -> str:
    return entry.source.rstrip("/").rsplit("/", 1)[-1]


def image_url(entry: ImageEntry, base_url: str | None) -> str | None:
    if entry.source.startswith(("http://", "https://")):
        return entry.source
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}/{_file_name(entry)}"


def download(url: str, dest: Path, expected_size: int | None = None) -> Path:
    """Fetch ``url`` into ``dest`` via ``dest.part``, resuming with Range after a cut.

    One try per attempt of the ``retry.FETCH`` policy; a refusal by the server (an HTTP status
    other than 200/206/416) is final, a network error or a transfer stopped early is retried.
    """
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        retry.FETCH.copy()(_try_download, url, part, expected_size)
    except retry.Transient as exc:
        raise BenchError(
            _("Cannot fetch the image from {url}: {error}", url=url, error=str(exc)),
            _("Check the network and the ledger address (ledger_url), then try again."),
        ) from None
    os.replace(part, dest)
    fsync_dir(dest.parent)  # streamed, so not through atomic_write; the rename made durable
    return dest


def _try_download(url: str, part: Path, expected_size: int | None) -> None:
    """One try: the rest of ``url`` appended to ``part``; a cut is ``retry.Transient``."""
    import httpx

    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with httpx.stream(
            "GET", url, headers=headers, timeout=30.0, follow_redirects=True
        ) as response:
            if response.status_code == 416 and have:
                return  # the part file is already complete
            if response.status_code not in (200, 206):
                raise BenchError(
                    _(
                        "The image server answered {status} for {url}.",
                        status=response.status_code,
                        url=url,
                    ),
                    _("Check that the ledger publishes this image."),
                )
            mode = "ab" if response.status_code == 206 and have else "wb"
            with open(part, mode) as handle:
                for block in response.iter_bytes():  # as received: a cut loses none
                    handle.write(block)
                handle.flush()
                os.fsync(handle.fileno())
    except httpx.HTTPError as exc:
        raise retry.Transient(str(exc) or type(exc).__name__) from exc
    if expected_size is not None and part.stat().st_size < expected_size:
        raise retry.Transient(_("The download stopped early."))


def cached_copy(entry: ImageEntry, cache_dir: Path) -> Path | None:
    """A checked local copy of the master (beside the catalogue or in the cache), if any."""
    local = source_path(entry)
    if local is not None and is_verified(local, entry.compressed_sha256):
        return local
    cached = cache_dir / _file_name(entry)
    if is_verified(cached, entry.compressed_sha256):
        return cached
    return None


def images_base_url(ledger_url: str) -> str | None:
    """Where the ledger at ``ledger_url`` serves masters (None without a ledger)."""
    return f"{ledger_url.rstrip('/')}/{IMAGES_PATH}" if ledger_url else None


def ensure_local(entry: ImageEntry, cache_dir: Path, base_url: str | None = None) -> Path:
    """The compressed image on local storage, checked against the catalogue's SHA-256.

    Order: the file next to the catalogue entry, then the cache; otherwise (or when the cached
    copy is corrupt or partial) it is fetched from ``base_url`` (the station's: its
    ``images_base_url(ledger_url)``; None: no server) or from the entry's own URL.
    """
    found = cached_copy(entry, cache_dir)
    if found is not None:
        return found
    return fetch_into_cache(entry, cache_dir, base_url)


def fetch_into_cache(entry: ImageEntry, cache_dir: Path, base_url: str | None = None) -> Path:
    """``ensure_local`` once ``cached_copy`` found no checked copy: whatever the cache holds
    under the master's name is corrupt or partial and is fetched again."""
    cached = cache_dir / _file_name(entry)
    if cached.exists():
        cached.unlink()
        forget_verified(cached)
    url = image_url(entry, base_url)
    if url is None:
        raise InputError(
            _(
                "The image file for {image} is missing ({path}) and no server is set to fetch it "
                "from.",
                image=entry.name,
                path=source_path(entry) or cached,
            ),
            _(
                "Build it with scripts/build-test-master, or set ledger_url in the station "
                "settings."
            ),
        )
    for _attempt in range(2):
        download(url, cached, entry.compressed_size)
        if is_verified(cached, entry.compressed_sha256):
            return cached
        cached.unlink()  # corrupt on the wire or on the server: one fresh try
    raise BenchError(
        _("The image downloaded from {url} does not match its SHA-256.", url=url),
        _("The copy on the server is damaged or not the catalogue's version; rebuild it."),
    )
