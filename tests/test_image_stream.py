"""Streaming a master from an HTTP server straight to a loop device: no local copy, Range
resume after cuts, and the bad cases (server gone mid-stream, corrupt bytes on the wire, the
master replaced on the server mid-stream), each a failed report with one clear line."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tenacity import stop_after_attempt, wait_exponential

from bench_agent import retry
from bench_agent.config import load_settings
from bench_agent.devices.guard import GuardPolicy
from bench_agent.imaging import find_image, write_image
from bench_agent.imaging import stream as stream_module
from bench_agent.models.image import ImageEntry
from tests import test_image_write
from tests.conftest import LoopFactory
from tests.test_image_support import QuietHandler, http_server
from tests.test_image_write import _manifest_intact

pytestmark = pytest.mark.device
MIB = 1 << 20
POLICY = GuardPolicy(allow_removable=False, allow_loop=True)
master_dir = test_image_write.master_dir  # the test master, built once per session


@dataclass
class Wire:
    data: bytes = b""
    etag: str = '"v1"'
    cuts_at: list[int] = field(default_factory=list)  # absolute offsets: cut once at each
    flip_at: int | None = None  # one byte corrupted on the wire (every time)
    gone_after: int | None = None  # from this offset on, the server is gone for good
    requests: list[str | None] = field(default_factory=list)  # the Range headers received


class _Handler(QuietHandler):
    wire: Wire

    def do_GET(self) -> None:
        wire = self.wire
        rng = self.headers.get("Range")
        wire.requests.append(rng)
        if not self.path.startswith("/api/v1/images/") or not wire.data:
            self.send_error(404)
            return
        start = 0
        if rng:
            match = re.fullmatch(r"bytes=(\d+)-", rng)
            assert match
            start = int(match.group(1))
            if self.headers.get("If-Range") not in (None, wire.etag):
                start = 0  # RFC 9110: the representation changed, send it whole
        if wire.gone_after is not None and start >= wire.gone_after:
            self.connection.shutdown(2)
            self.close_connection = True
            return
        body = bytearray(wire.data[start:])
        if wire.flip_at is not None and wire.flip_at >= start:
            body[wire.flip_at - start] ^= 0xFF
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", wire.etag)
        if start:
            self.send_header(
                "Content-Range", f"bytes {start}-{len(wire.data) - 1}/{len(wire.data)}"
            )
        self.end_headers()
        stops = [c for c in wire.cuts_at if c > start]
        if wire.gone_after is not None and wire.gone_after > start:
            stops.append(wire.gone_after)
        if stops:
            stop = min(stops)
            if stop in wire.cuts_at:
                wire.cuts_at.remove(stop)
            self.wfile.write(body[: stop - start])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # the cable is pulled mid-transfer
            return
        self.wfile.write(body)


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    state = Wire()
    with http_server(type("Handler", (_Handler,), {"wire": state})) as url:
        monkeypatch.setenv("BENCH_AGENT_LEDGER_URL", url)
        # Pauses of 0.01, 0.02 and 0.04 s, then it gives up (the product's: 0.5 s to 8 s, 6 times).
        quick = retry.STREAM.copy(
            wait=wait_exponential(multiplier=0.01), stop=stop_after_attempt(4)
        )
        monkeypatch.setattr(retry, "STREAM", quick)
        yield state


@pytest.fixture
def remote_master(master_dir: Path, wire: Wire, tmp_path: Path) -> ImageEntry:
    """The test master's catalogue entry alone on the bench; its image only on the server."""
    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    shutil.copy2(master_dir / "test-master.toml", catalogue / "test-master.toml")
    entry = find_image("test-master", catalogue)
    wire.data = (master_dir / entry.source).read_bytes()
    return entry


def _cache_is_empty(agent_home: Path) -> bool:
    cache = agent_home / "cache" / "images"
    return not cache.exists() or not any(cache.iterdir())


def test_streams_to_the_disk_and_resumes_after_cuts(
    remote_master: ImageEntry,
    wire: Wire,
    make_loop: LoopFactory,
    tmp_path: Path,
    agent_home: Path,
) -> None:
    size = len(wire.data)
    wire.cuts_at = [size // 5, size // 2, size - 10]
    device = make_loop(400 * MIB, fill="random")
    report = write_image(
        remote_master, str(device), settings=load_settings(), policy=POLICY, stream=True
    )
    assert report.status == "success", report.status_detail
    assert report.source.endswith("/api/v1/images/test-master.img.zst")
    assert report.readback_verified
    assert wire.requests[0] is None
    assert [r for r in wire.requests[1:]] == [
        f"bytes={size // 5}-",
        f"bytes={size // 2}-",
        f"bytes={size - 10}-",
    ]
    assert _cache_is_empty(agent_home)  # nothing kept on the bench
    assert _manifest_intact(device, tmp_path) > 300 * MIB


def test_a_bench_without_room_streams_by_itself(
    remote_master: ImageEntry,
    wire: Wire,
    make_loop: LoopFactory,
    agent_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No stream=True: the cache has no room (a PXE bench's home in RAM), so it streams."""
    monkeypatch.setattr(stream_module, "CACHE_MARGIN", 1 << 60)
    report = write_image(
        remote_master, str(make_loop(400 * MIB)), settings=load_settings(), policy=POLICY
    )
    assert report.status == "success", report.status_detail
    assert report.source.startswith("http://")
    assert _cache_is_empty(agent_home)


def test_a_ledger_that_disappears_mid_stream_is_one_clear_failure(
    remote_master: ImageEntry, wire: Wire, make_loop: LoopFactory
) -> None:
    wire.gone_after = len(wire.data) // 3
    report = write_image(
        remote_master,
        str(make_loop(400 * MIB)),
        settings=load_settings(),
        policy=POLICY,
        stream=True,
    )
    assert report.status == "failed"
    assert "stopped answering" in report.status_detail
    assert f"at byte {len(wire.data) // 3} of {len(wire.data)}" in report.status_detail
    assert "\n" not in report.status_detail
    assert not report.readback_verified
    assert not report.personalised_files
    assert len(wire.requests) == 4  # the first, then three reconnections, then it gives up


def test_a_corrupt_byte_on_the_wire_fails_the_image(
    remote_master: ImageEntry, wire: Wire, make_loop: LoopFactory
) -> None:
    wire.flip_at = len(wire.data) // 2
    report = write_image(
        remote_master,
        str(make_loop(400 * MIB)),
        settings=load_settings(),
        policy=POLICY,
        stream=True,
    )
    assert report.status == "failed"
    assert "\n" not in report.status_detail
    assert report.failed_range or "corrupt" in report.status_detail.lower()


def test_a_master_replaced_on_the_server_mid_stream_is_never_spliced(
    remote_master: ImageEntry, wire: Wire, make_loop: LoopFactory
) -> None:
    wire.cuts_at = [len(wire.data) // 2]
    original = wire.data

    class Replaced(list[int]):
        def remove(self, value: int) -> None:
            super().remove(value)
            wire.etag = '"v2"'  # a new master version was published during the cut

    wire.cuts_at = Replaced(wire.cuts_at)
    report = write_image(
        remote_master,
        str(make_loop(400 * MIB)),
        settings=load_settings(),
        policy=POLICY,
        stream=True,
    )
    assert wire.data == original
    assert report.status == "failed"
    assert "changed on the server" in report.status_detail


def test_range_resume_against_the_real_ledger(tmp_path: Path) -> None:
    """The ledger's /api/v1/images/<file> honours Range and If-Range (its ETag)."""
    import os

    from tests.test_ledger_support import start_ledger

    data = os.urandom(5 * MIB + 77)
    ledger = start_ledger("sqlite", tmp_path)
    try:
        images = tmp_path / "images"
        images.mkdir(exist_ok=True)
        (images / "edu.img.zst").write_bytes(data)
        url = f"{ledger.url}/api/v1/images/edu.img.zst"
        reader = stream_module.RangeReader(url, len(data), hashlib.sha256(data).hexdigest())
        got = bytearray()
        buf = bytearray(256 * 1024)
        while len(got) < len(data) // 2:
            n = reader.readinto(buf)
            got += buf[:n]
        reader._drop()  # the connection is cut
        while n := reader.readinto(buf):
            got += buf[:n]
        reader.close()
        assert bytes(got) == data
        assert reader.reconnects == 0  # a dropped connection is simply reopened with Range
        # A resume whose If-Range names another version gets the whole file (200), refused.
        stale = stream_module.RangeReader(url, len(data))
        stale.pos = len(data) // 2
        stale._etag = '"an-older-version"'
        with pytest.raises(stream_module.StreamBroken, match="changed on the server"):
            stale.read(1)
        stale.close()
    finally:
        ledger.server.stop()


def test_a_master_the_ledger_does_not_publish_is_refused_before_any_write(
    remote_master: ImageEntry, wire: Wire, make_loop: LoopFactory
) -> None:
    wire.data = b""  # not on the server
    device = make_loop(400 * MIB, fill="zero")
    report = write_image(
        remote_master, str(device), settings=load_settings(), policy=POLICY, stream=True
    )
    assert report.status == "failed"
    assert "answered 404" in report.status_detail
    assert report.bytes_written == 0
    with open(device, "rb") as handle:
        assert handle.read(1 << 20) == bytes(1 << 20)  # the disk was not touched


def test_each_cut_is_one_reconnection_and_progress_restarts_the_count(
    wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three cuts: three reconnections with Range, though the policy here allows one pause in
    a row without a new byte; each piece received starts a fresh series."""
    import os

    wire.data = os.urandom(3 * MIB)
    cuts = [MIB // 2, MIB, 2 * MIB]
    wire.cuts_at = list(cuts)
    monkeypatch.setattr(retry, "STREAM", retry.STREAM.copy(stop=stop_after_attempt(2)))
    url = os.environ["BENCH_AGENT_LEDGER_URL"] + "/api/v1/images/cut.img.zst"
    reader = stream_module.RangeReader(url, len(wire.data), hashlib.sha256(wire.data).hexdigest())
    try:
        assert reader.read() == wire.data
    finally:
        reader.close()
    assert reader.reconnects == 3
    assert wire.requests == [None] + [f"bytes={cut}-" for cut in cuts]
