"""Fetching an image into the cache from a real local HTTP server: resume, digest, refetch."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.errors import BenchError, InputError
from bench_agent.imaging import ensure_local
from bench_agent.imaging.fetch import images_base_url
from bench_agent.models.image import ImageEntry, MappedRange
from tests.test_image_support import QuietHandler, http_server

SIZE = 3 * (1 << 20) + 12345


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    cut_next: int = 0  # cut this many next responses half-way
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)


class _Handler(QuietHandler):
    state: ServerState

    def do_GET(self) -> None:
        state = self.state
        rng = self.headers.get("Range")
        state.requests.append((self.path, rng))
        name = self.path.rsplit("/", 1)[-1]
        data = state.files.get(name)
        if data is None or not self.path.startswith("/images/"):
            self.send_error(404)
            return
        start = 0
        status = 200
        if rng:
            match = re.fullmatch(r"bytes=(\d+)-", rng)
            assert match
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if state.cut_next:
            state.cut_next -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # the cable is pulled mid-transfer
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState()
    with http_server(type("Handler", (_Handler,), {"state": state})) as url:
        yield f"{url}/images", state


def _entry(data: bytes, name: str = "edu") -> ImageEntry:
    return ImageEntry(
        name=name,
        version="1",
        architecture="amd64",
        source=f"{name}.img.zst",
        compressed_size=len(data),
        image_size=1 << 20,
        compressed_sha256=hashlib.sha256(data).hexdigest(),
        image_sha256="0" * 64,
        ranges=[MappedRange(start=0, end=4096, sha256="0" * 64)],
        catalogue_file="/nonexistent/catalogue/edu.toml",
    )


def test_cut_mid_transfer_resumes_with_range(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, state = server
    data = os.urandom(SIZE)
    state.files["edu.img.zst"] = data
    state.cut_next = 1
    path = ensure_local(_entry(data), tmp_path / "cache", url)
    assert path.read_bytes() == data
    assert len(state.requests) == 2
    assert state.requests[0][1] is None
    resumed_at = state.requests[1][1]
    assert resumed_at is not None and resumed_at.startswith("bytes=")
    offset = int(resumed_at[6:-1])
    assert 0 < offset < SIZE  # resumed, not restarted
    assert not (tmp_path / "cache" / "edu.img.zst.part").exists()
    # Second use: the cache is trusted after its check, no request at all.
    assert ensure_local(_entry(data), tmp_path / "cache", url) == path
    assert len(state.requests) == 2


def test_corrupt_cache_is_fetched_again(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    data = os.urandom(SIZE)
    state.files["edu.img.zst"] = data
    path = ensure_local(_entry(data), tmp_path / "cache", url)
    with open(path, "r+b") as handle:
        handle.seek(SIZE // 3)
        handle.write(b"\0\1\2")
    path2 = ensure_local(_entry(data), tmp_path / "cache", url)
    assert path2.read_bytes() == data
    assert len(state.requests) == 2


def test_partial_part_file_is_resumed(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    data = os.urandom(SIZE)
    state.files["edu.img.zst"] = data
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "edu.img.zst.part").write_bytes(data[:1000])
    assert ensure_local(_entry(data), cache, url).read_bytes() == data
    assert state.requests == [("/images/edu.img.zst", "bytes=1000-")]


def test_server_copy_with_wrong_digest_is_refused(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, state = server
    data = os.urandom(SIZE)
    state.files["edu.img.zst"] = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(BenchError, match="does not match its SHA-256"):
        ensure_local(_entry(data), tmp_path / "cache", url)
    assert not (tmp_path / "cache" / "edu.img.zst").exists()


def test_missing_without_server_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no server is set"):
        ensure_local(_entry(b"x"), tmp_path / "cache")


def test_fetch_from_the_ledgers_image_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real ledger serves the file; the station finds it from its ledger_url alone."""
    from tests.test_ledger_support import start_ledger

    data = os.urandom(SIZE)
    ledger = start_ledger("sqlite", tmp_path)
    try:
        images = tmp_path / "images"
        images.mkdir(exist_ok=True)
        (images / "edu.img.zst").write_bytes(data)
        monkeypatch.setenv("BENCH_AGENT_LEDGER_URL", ledger.url)
        cache = tmp_path / "cache"
        cache.mkdir()
        (cache / "edu.img.zst.part").write_bytes(data[: SIZE // 2])  # a cut download
        base_url = images_base_url(load_settings().ledger_url)  # what the edges pass
        path = ensure_local(_entry(data), cache, base_url)
        assert path == cache / "edu.img.zst"
        assert path.read_bytes() == data
    finally:
        ledger.server.stop()


def test_a_corrupt_cached_copy_is_hashed_once_before_it_is_fetched_again(
    server: tuple[str, ServerState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Choosing the source reads a multi-gigabyte cached copy once: once found corrupt, it is
    fetched again without being hashed a second time."""
    from bench_agent.imaging import fetch
    from bench_agent.imaging.source import resolve_source

    url, state = server
    data = os.urandom(SIZE)
    state.files["edu.img.zst"] = data
    entry = _entry(data).model_copy(update={"source": f"{url}/edu.img.zst"})
    cached = tmp_path / "cache" / "edu.img.zst"
    cached.parent.mkdir()
    cached.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    hashed: list[Path] = []
    real_sha256 = fetch.file_sha256

    def counted_sha256(path: Path) -> str:
        hashed.append(path)
        return real_sha256(path)

    monkeypatch.setattr(fetch, "file_sha256", counted_sha256)
    assert resolve_source(entry, cached.parent, ledger_url="", stream=False) == cached
    assert cached.read_bytes() == data
    assert hashed == [cached, cached]  # the corrupt copy, then the fetched one


def test_five_tries_resume_and_no_pause_follows_the_last_failure(
    server: tuple[str, ServerState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The product's policy (retry.FETCH): a server that cuts every transfer gets five
    requests, each resuming where the last stopped, with pauses of 0.2, 0.4, 0.6 and 0.8 s
    between them, and the error comes right after the fifth (no pause is wasted on it)."""
    from bench_agent import retry

    url, state = server
    data = os.urandom(SIZE)
    state.files["edu.img.zst"] = data
    state.cut_next = 1000  # every response is cut half-way
    pauses: list[tuple[float, int]] = []  # (seconds, requests served before the pause)

    def record(seconds: float) -> None:
        pauses.append((round(seconds, 6), len(state.requests)))

    monkeypatch.setattr(retry, "FETCH", retry.FETCH.copy(sleep=record))
    with pytest.raises(BenchError, match="Cannot fetch the image from") as caught:
        ensure_local(_entry(data), tmp_path / "cache", url)
    assert "ledger_url" in caught.value.hint
    assert pauses == [(0.2, 1), (0.4, 2), (0.6, 3), (0.8, 4)]
    assert len(state.requests) == 5
    offsets = [0] + [int(rng[6:-1]) for _path, rng in state.requests[1:] if rng]
    assert len(offsets) == 5 and offsets == sorted(set(offsets))  # each try resumed further
    part = tmp_path / "cache" / "edu.img.zst.part"
    assert 0 < part.stat().st_size < SIZE  # kept for the next fetch to resume
    assert not (tmp_path / "cache" / "edu.img.zst").exists()
