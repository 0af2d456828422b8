"""Where a master is read from: the file beside its catalogue entry, a checked cached copy, or
the ledger's URL streamed straight to the disk (see ``stream``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench_agent.imaging.catalogue import source_path
from bench_agent.models.image import ImageEntry


def resolve_source(
    entry: ImageEntry, cache_dir: Path, *, ledger_url: str, stream: bool | None = None
) -> Path | str:
    """Where the compressed image is read from: the file next to the catalogue, else a checked
    copy in the cache, else the ledger's URL, streamed (``stream=True``, or ``None`` and the
    cache has no room for it: a bench booted from PXE keeps its home in RAM) or first fetched
    into the cache (``stream=False``, or ``None`` and there is room). ``cache_dir`` and
    ``ledger_url``: the station's (its image cache, the ledger serving the masters).
    """
    local = source_path(entry)
    if local is not None and local.is_file():
        return local
    from bench_agent.imaging.fetch import (
        cached_copy,
        ensure_local,
        fetch_into_cache,
        image_url,
        images_base_url,
    )
    from bench_agent.imaging.stream import has_room_for

    cache = cache_dir
    # Checked here unless streaming was asked for; then not hashed a second time below (a
    # corrupt multi-gigabyte copy would be read twice).
    cache_checked = stream is not True
    if cache_checked and (cached := cached_copy(entry, cache)) is not None:
        return cached
    base_url = images_base_url(ledger_url)
    url = image_url(entry, base_url)
    if stream is None:
        stream = not has_room_for(cache, entry.compressed_size)
    if stream and url is not None:
        return url
    if cache_checked:
        return fetch_into_cache(entry, cache, base_url)
    return ensure_local(entry, cache, base_url)


def open_source(source: Path | str, entry: ImageEntry) -> Any:
    if isinstance(source, Path):
        return open(source, "rb")
    from bench_agent.imaging.stream import RangeReader

    return RangeReader(source, entry.compressed_size, entry.compressed_sha256)
