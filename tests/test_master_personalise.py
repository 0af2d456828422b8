"""Personalising an imaged education master: hostname from the asset tag, the About entry,
and the files written on a real ext4 root on a loop device, read back and hashed."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import date
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.imaging.personalise import (
    Personalisation,
    about_text,
    desktop_entry,
    personal_files,
    personalise,
    valid_hostname,
)
from tests.conftest import LoopFactory, require_tool


@pytest.mark.parametrize(
    ("tag", "hostname"),
    [
        ("BAR-0001", "BAR-0001"),
        ("bar 0001/é", "bar-0001"),
        ("  lot#7__pc  ", "lot-7-pc"),
        ("---", "pc"),
        ("", "pc"),
        ("A" * 80, "A" * 63),
        ("x" * 62 + "-y", "x" * 62),
    ],
)
def test_asset_tag_becomes_a_valid_hostname(tag: str, hostname: str) -> None:
    got, note = valid_hostname(tag)
    assert got == hostname
    assert len(got) <= 63
    assert got[0] != "-" and got[-1] != "-"
    assert (note == "") == (got == tag)
    if note:
        assert hostname in note


def test_about_text_says_tag_maintenance_and_contact_in_the_familys_language() -> None:
    p = Personalisation(
        asset_tag="BAR-0001",
        workshop="Atelier Besançon",
        contact="03 81 00 00 00",
        language="fr",
        delivered=date(2028, 2, 29),
    )
    text = about_text(p, "BAR-0001")
    assert text.startswith("À propos de cet ordinateur\n")
    assert "BAR-0001" in text and "Atelier Besançon" in text and "03 81 00 00 00" in text
    assert "2028-02-29" in text and "2031-02-28" in text  # 3 years, 29 February handled
    english = about_text(Personalisation(asset_tag="X1", language="en"), "X1")
    assert english.startswith("About this computer\n")
    entry = desktop_entry(p)
    assert "Name[fr]=À propos de cet ordinateur" in entry and "BAR-0001" in entry


def _fake_master(device: Path, tmp_path: Path, *, master: bool) -> None:
    """An MBR disk with one ext4 partition holding a tiny root (with or without the mark)."""
    for tool in ("sfdisk", "mkfs.ext4", "debugfs"):
        require_tool(tool)
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (tree / "etc" / "hostname").write_text("education\n")
    if master:
        (tree / "etc" / "education-master").mkdir()
        (tree / "var" / "lib" / "dbus").mkdir(parents=True)
        (tree / "var" / "lib" / "dbus" / "machine-id").write_text("0123\n")
    subprocess.run(
        ["sfdisk", "-q", str(device)], input="label: dos\nstart=2048, type=83\n", text=True,
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-E", f"offset={2048 * 512}", "-d", str(tree), str(device),
         "30M"],
        check=True, capture_output=True,
    )  # fmt: skip


def _cat(device: Path, path: str) -> bytes:
    return subprocess.run(
        ["debugfs", "-R", f"cat {path}", f"{device}?offset={2048 * 512}"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


@pytest.mark.device
def test_personalise_writes_and_verifies_every_file(make_loop: LoopFactory, tmp_path: Path) -> None:
    device = make_loop(40 << 20)
    _fake_master(device, tmp_path, master=True)
    p = Personalisation(asset_tag="École 12", workshop="Atelier", language="fr", lot="L-3")
    result = personalise(str(device), p)
    assert result is not None
    assert result.hostname == "cole-12"
    assert "cole-12" in result.hostname_note
    expected, _hostname, _note = personal_files(p)
    assert set(result.files) == {"/" + rel for rel in expected}
    for rel, content in expected.items():
        on_disk = _cat(device, "/" + rel)
        assert on_disk == content, rel
        assert result.files["/" + rel] == hashlib.sha256(on_disk).hexdigest()
    assert _cat(device, "/etc/machine-id") == b""  # a fresh one at the first boot
    assert _cat(device, "/var/lib/dbus/machine-id") == b""  # removed


@pytest.mark.device
def test_a_disk_without_an_education_master_is_left_alone(
    make_loop: LoopFactory, tmp_path: Path
) -> None:
    device = make_loop(40 << 20)
    _fake_master(device, tmp_path, master=False)
    before = hashlib.sha256(device.read_bytes()).hexdigest()
    assert personalise(str(device), Personalisation(asset_tag="BAR-0002")) is None
    assert _cat(device, "/etc/hostname") == b"education\n"
    assert hashlib.sha256(device.read_bytes()).hexdigest() == before  # byte for byte


@pytest.mark.device
def test_write_image_personalises_after_the_verified_write(
    make_loop: LoopFactory, tmp_path: Path
) -> None:
    """A tiny education-like master through the real writer: ranges written and verified, the
    root grown, then the personalisation recorded with its own hashes; the range hashes in the
    entry are untouched by it."""
    from bench_agent.devices.guard import GuardPolicy
    from bench_agent.imaging import write_image
    from bench_agent.imaging.build import entry_from_raw
    from bench_agent.imaging.catalogue import find_image

    raw = tmp_path / "mini.img"
    with open(raw, "wb") as handle:
        handle.truncate(40 << 20)
    _fake_master(raw, tmp_path, master=True)
    entry_from_raw(
        raw, out_dir=tmp_path / "cat", name="mini", version="1", architecture="i686",
        description={"en": "mini", "fr": "mini"},
    )  # fmt: skip
    entry = find_image("mini", tmp_path / "cat")
    device = make_loop(64 << 20, fill="random")
    report = write_image(
        entry,
        str(device),
        settings=load_settings(),
        policy=GuardPolicy(allow_loop=True),
        journal_dir=tmp_path / "journal",
        personalisation=Personalisation(asset_tag="BAR 0042", language="en"),
    )
    assert report.status == "success", report.status_detail
    assert report.readback_verified and report.grown
    assert report.asset_tag == "BAR 0042"
    assert report.hostname == "BAR-0042" and "BAR-0042" in report.hostname_note
    assert report.personalised_files["/etc/hostname"] == hashlib.sha256(b"BAR-0042\n").hexdigest()
    assert _cat(device, "/etc/hostname") == b"BAR-0042\n"
