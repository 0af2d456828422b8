"""Overwrite + verification on real loop devices: nothing of the original survives, and the
verification really reads the media (a block corrupted after the write is caught)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.devices.directio import AlignedBuffer
from bench_agent.errors import DeviceRefused
from bench_agent.progress import ProgressEvent
from bench_agent.sanitize import (
    CertificateContext,
    WipeHooks,
    WipePlan,
    interrupted,
    plan_wipes,
    run_wipes,
    verify_certificate,
)
from tests.conftest import LoopFactory

pytestmark = pytest.mark.device

MiB = 1 << 20
BLOCK = 4096


def block_digests(data: bytes) -> set[bytes]:
    return {hashlib.sha256(data[i : i + BLOCK]).digest() for i in range(0, len(data), BLOCK)}


def read_all(dev: Path) -> bytes:
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        with AlignedBuffer(size) as buf:
            view = buf.view[:size]
            done = 0
            while done < size:
                done += os.preadv(fd, [view[done:]], done)
            return bytes(view)
    finally:
        os.close(fd)


def corrupt(dev: Path, offset: int) -> None:
    """Write 4 KiB of random data at ``offset`` (direct I/O, behind the engine's back)."""
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
    try:
        with AlignedBuffer(BLOCK) as buf:
            buf.view[:BLOCK] = os.urandom(BLOCK)
            os.pwrite(fd, buf.view[:BLOCK], offset)
            os.fsync(fd)
    finally:
        os.close(fd)


def wipe(plans: list[WipePlan], tmp_path: Path, **kwargs: object) -> list:  # type: ignore[type-arg]
    events: list[ProgressEvent] = []
    results = run_wipes(
        plans,
        settings=load_settings(),
        context=CertificateContext(
            operator="tester", station="bench-1", asset_tag="PC-1", lot="LOT-7"
        ),
        progress=events.append,
        report_dir=tmp_path / "reports",
        **kwargs,
    )
    assert events, "the engine reported no progress"
    return results


@pytest.mark.parametrize(
    "method,direct_io,sector",
    [("zero", False, 512), ("random", False, 512), ("zero", True, 512), ("random", True, 4096)],
)
def test_overwrite_leaves_no_original_block(
    make_loop: LoopFactory, tmp_path: Path, method: str, direct_io: bool, sector: int
) -> None:
    dev = make_loop(24 * MiB, fill="random", direct_io=direct_io, sector_size=sector)
    original = read_all(dev)
    plans = plan_wipes([str(dev)], method=method, verify="full")  # type: ignore[arg-type]
    assert plans[0].method == method and plans[0].level == "clear"
    ((report, certificate),) = wipe(plans, tmp_path, chunk=4 * MiB)
    assert report.status == "erased", report.status_detail
    assert report.verification_result == "passed"
    assert report.bytes_written == report.bytes_verified == 24 * MiB
    after = read_all(dev)
    assert not block_digests(original) & block_digests(after)
    if method == "zero":
        assert after == bytes(len(after))
    else:
        # A pseudo-random stream: no block repeats and it is not zeros.
        assert len(block_digests(after)) == len(after) // BLOCK
    assert certificate is not None
    checked = verify_certificate(certificate)
    assert checked["media"]["size_bytes"] == 24 * MiB
    # Rev. 2: the IEEE 2883 technique, the command and its completion, the full read-back.
    assert checked["standard"] == "NIST SP 800-88 Rev. 2"
    assert checked["technique"]["name"] == "Overwrite"
    assert checked["technique"]["completion_status"] == f"{24 * MiB} of {24 * MiB} bytes written"
    assert checked["verification"]["scope"] == "full"
    assert checked["verification"]["coverage_percent"] == 100.0
    assert not interrupted(load_settings().home)


@pytest.mark.parametrize("method", ["zero", "random"])
def test_full_verification_reads_the_media(
    make_loop: LoopFactory, tmp_path: Path, method: str
) -> None:
    dev = make_loop(16 * MiB, fill="random")
    plans = plan_wipes([str(dev)], method=method, verify="full")  # type: ignore[arg-type]
    target = 9 * MiB + 3 * BLOCK
    hooks = WipeHooks(after_write=lambda plan: corrupt(Path(plan.device), target))
    ((report, certificate),) = wipe(plans, tmp_path, hooks=hooks)
    assert report.status == "failed"
    assert report.verification_result == "failed"
    assert str(target) in report.verification_detail
    assert certificate is None


def test_sample_verification_reads_first_block_and_ten_percent(
    make_loop: LoopFactory, tmp_path: Path
) -> None:
    dev = make_loop(64 * MiB, fill="random")
    plans = plan_wipes([str(dev)], method="zero", verify="sample")
    hooks = WipeHooks(after_write=lambda plan: corrupt(Path(plan.device), 0))
    ((report, _cert),) = wipe(plans, tmp_path, hooks=hooks)
    assert report.status == "failed" and report.verification_result == "failed"

    plans = plan_wipes([str(dev)], method="zero", verify="sample")
    ((report, cert),) = wipe(plans, tmp_path)
    assert report.status == "erased"
    assert 0.10 * 64 * MiB <= report.bytes_verified < 0.2 * 64 * MiB
    assert "1000 subsections" in report.verification_detail
    assert cert is not None and cert["verification"]["method"] == "sample"
    assert cert["verification"]["scope"] == "sampled"
    assert 10.0 <= cert["verification"]["coverage_percent"] < 20.0
    assert cert["verification"]["subsections"] == 1000
    assert f"seed {cert['verification']['sample_seed']}" in report.verification_detail


def test_two_disks_at_once_and_cancel(make_loop: LoopFactory, tmp_path: Path) -> None:
    first, second = make_loop(16 * MiB, fill="random"), make_loop(16 * MiB, fill="random")
    plans = plan_wipes([str(first), str(second)], method="random", verify="sample")
    results = wipe(plans, tmp_path)
    assert [r.status for r, _c in results] == ["erased", "erased"]

    cancel = threading.Event()
    plans = plan_wipes([str(first)], method="random", verify="full")

    def stop_on_first_write(plan: WipePlan) -> None:
        cancel.set()

    ((report, cert),) = wipe(
        plans, tmp_path, cancel=cancel, hooks=WipeHooks(after_write=stop_on_first_write)
    )
    assert report.status == "aborted"
    assert cert is None
    assert not interrupted(load_settings().home)  # an abort is a known end, not an interruption


def test_verify_none_is_never_plain_erased(make_loop: LoopFactory, tmp_path: Path) -> None:
    dev = make_loop(8 * MiB, fill="random")
    ((report, cert),) = wipe(plan_wipes([str(dev)], method="zero", verify="none"), tmp_path)
    assert report.status == "erased_with_exceptions"
    assert "not verified" in report.status_detail
    assert cert is not None and cert["verification"]["result"] == "not_done"


def test_refused_device_is_not_planned(make_loop: LoopFactory) -> None:
    dev = make_loop(8 * MiB, fill="random", read_only=True)
    with pytest.raises(DeviceRefused):
        plan_wipes([str(dev)], method="zero")
