"""Labels: render the PDF, decode the QR code from a raster of it, read the text back."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path

import pytest

from bench_agent.errors import InputError
from bench_agent.ledger.labels import (
    LabelInfo,
    label_info,
    maintenance_end,
    render_label,
    render_labels,
    short_cpu_name,
)
from bench_agent.models.image import ImageReport
from bench_agent.models.inventory import Cpu, Disk, Inventory, Memory
from bench_agent.models.record import BenchRecord
from tests.conftest import require_tool

URL = "https://ledger.example.org/verify/BSN-00042?k=3f2a9c71"


def packed_record() -> BenchRecord:
    return BenchRecord(
        station="st-1",
        asset_tag="BSN-00042",
        lot="LOT-2026-03",
        finished_at=datetime(2028, 2, 29, 16, 30),
        inventory=Inventory(
            cpu=Cpu(vendor="GenuineIntel", model="Intel(R) Pentium(R) 4 CPU 3.00GHz", mhz=2993.0),
            memory=Memory(total_bytes=1024**3),
            disks=[
                Disk(name="sda", size_bytes=80_026_361_856, health="pass"),
                Disk(name="sdb", size_bytes=40_000_000_000, health="fail"),  # removed, not shipped
            ],
        ),
        image=ImageReport(device="sda", image="edu-i686", version="2026.1", status="success"),
    )


def rasterize(pdf: Path, page: int = 1) -> Path:
    require_tool("pdftoppm")
    png = pdf.parent / f"{pdf.stem}-page{page}.png"
    pages = ["-f", str(page), "-l", str(page)]
    out = str(png.with_suffix(""))
    subprocess.run(
        ["pdftoppm", "-r", "200", "-png", "-singlefile", *pages, str(pdf), out], check=True
    )
    return png


def decode_qr(png: Path) -> list[str]:
    require_tool("zbarimg")
    result = subprocess.run(
        ["zbarimg", "-q", "--raw", str(png)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"zbarimg found no code in {png}: {result.stderr}"
    return result.stdout.splitlines()


def pdf_text(pdf: Path) -> str:
    require_tool("pdftotext")
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_maintenance_ends_three_years_after_packing() -> None:
    assert maintenance_end(date(2026, 3, 2)) == date(2029, 3, 2)
    assert maintenance_end(date(2028, 2, 29)) == date(2031, 2, 28)


def test_label_info_summarises_the_record() -> None:
    info = label_info(packed_record(), verify_url=URL)
    assert info.cpu == "Pentium 4 3.00GHz"
    assert info.ram == "1 GB"
    assert info.disk == "80 GB"  # the failed disk does not ship
    assert info.image == "edu-i686 2026.1"
    assert info.packed_on == date(2028, 2, 29)
    assert info.maintenance_end == date(2031, 2, 28)
    assert short_cpu_name("AMD Athlon(tm) XP 2500+") == "Athlon XP 2500+"


@pytest.mark.parametrize("size", ["62x100", "4x6"])
def test_label_qr_decodes_to_the_verification_url(size: str, tmp_path: Path) -> None:
    pdf = tmp_path / f"label-{size}.pdf"
    pdf.write_bytes(render_label(label_info(packed_record(), verify_url=URL), size))
    assert decode_qr(rasterize(pdf)) == [URL]
    text = pdf_text(pdf)
    for expected in ("BSN-00042", "Pentium 4 3.00GHz", "1 GB", "80 GB", "edu-i686 2026.1"):
        assert expected in text
    assert "2028-02-29" in text and "Maintenance until: 2031-02-28" in text


def test_a4_sheet_holds_eight_labels_per_page(tmp_path: Path) -> None:
    infos = [
        LabelInfo(asset_tag=f"BSN-{n:05d}", verify_url=f"{URL[:-8]}{n:08d}", ram="512 MB")
        for n in range(10)
    ]
    pdf = tmp_path / "sheet.pdf"
    pdf.write_bytes(render_labels(infos, "a4"))
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    assert re.search(r"^Pages:\s+2$", pages.stdout, re.M), pages.stdout
    codes = decode_qr(rasterize(pdf, 1))
    assert sorted(codes) == sorted(i.verify_url for i in infos[:8])
    assert sorted(decode_qr(rasterize(pdf, 2))) == sorted(i.verify_url for i in infos[8:])


def test_label_in_french(tmp_path: Path) -> None:
    from bench_agent.i18n import set_language

    set_language("fr")
    pdf = tmp_path / "label.pdf"
    pdf.write_bytes(render_label(label_info(packed_record(), verify_url=URL)))
    text = pdf_text(pdf)
    assert "Maintenance jusqu’au : 2031-02-28" in text
    assert "Conditionnée" in text


def test_unknown_size_is_an_input_error() -> None:
    with pytest.raises(InputError, match="Unknown label size"):
        render_label(LabelInfo(asset_tag="x", verify_url=URL), "a5")
    assert shutil.which("pdfinfo")
