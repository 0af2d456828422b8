"""Bad sectors: the wipe skips and reports them, and never calls the disk plain ``erased``.

The errors are real kernel I/O errors from the loop driver: over a FUSE file that fails inside
the bad ranges here (no device-mapper in this kernel); the nwipe-style dm ``linear + error``
table runs in a QEMU guest (tests/test_vm_dm.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.sanitize import CertificateContext, plan_wipes, run_wipes
from bench_agent.sanitize.plan import WipePlan
from tests.test_wipe_faultyfs import FaultyFactory, faulty_loop  # noqa: F401 (fixture)

pytestmark = pytest.mark.device

MiB = 1 << 20


def wipe_one(plans: list[WipePlan], tmp_path: Path, **kwargs: object) -> tuple:  # type: ignore[type-arg]
    (result,) = run_wipes(
        plans,
        settings=load_settings(),
        context=CertificateContext(),
        progress=lambda e: None,
        report_dir=tmp_path / "reports",
        **kwargs,
    )
    return result


def covered(report_ranges: list, start: int, length: int) -> bool:  # type: ignore[type-arg]
    """Every sector of [start, start+length) is inside a reported bad range."""
    return all(
        any(r.start_byte <= s < r.start_byte + r.length for r in report_ranges)
        for s in range(start, start + length, 512)
    )


@pytest.mark.parametrize("method,verify", [("zero", "full"), ("random", "sample")])
def test_bad_sectors_are_skipped_and_reported(
    faulty_loop: FaultyFactory,  # noqa: F811
    tmp_path: Path,
    method: str,
    verify: str,
) -> None:
    bad_start, bad_len = 5 * MiB + 4096, 3 * 512
    dev = faulty_loop(16 * MiB, bad=[(bad_start, bad_len)])
    (report, cert) = wipe_one(
        plan_wipes([str(dev)], method=method, verify=verify),  # type: ignore[arg-type]
        tmp_path,
    )
    assert report.status == "erased_with_exceptions", report.status_detail
    assert covered(report.bad_ranges, bad_start, bad_len)
    # Only the bad sectors were skipped, not the whole 16 MiB chunk around them.
    written_bad = [r for r in report.bad_ranges if r.phase == "write"]
    assert sum(r.length for r in written_bad) == bad_len
    assert all(r.error.startswith("EIO") for r in written_bad)
    assert str(bad_start) in report.status_detail
    assert report.bytes_written == 16 * MiB
    assert cert is not None and cert["bad_blocks"]["count_bytes"] >= bad_len
    # Everything outside the bad range was really overwritten.
    with open(tmp_path / "faulty-0.img", "rb") as handle:
        data = handle.read()
    outside = data[:bad_start] + data[bad_start + bad_len :]
    if method == "zero":
        assert outside == bytes(len(outside))


def test_too_many_bad_sectors_fail_the_disk(
    faulty_loop: FaultyFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    dev = faulty_loop(8 * MiB, bad=[(1 * MiB, 256 * 1024)])
    (report, cert) = wipe_one(
        plan_wipes([str(dev)], method="zero", verify="sample"), tmp_path, max_bad_bytes=64 * 1024
    )
    assert report.status == "failed"
    assert "write stopped" in report.status_detail
    assert report.bad_ranges
    assert cert is None


# The dm linear + error table over a loop device: tests/test_vm_dm.py, in a QEMU guest.
