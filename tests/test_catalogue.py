"""The image catalogue: parsing and its errors, the block map, choosing an image per machine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench_agent.config import load_settings
from bench_agent.errors import InputError
from bench_agent.imaging import choose_image, find_image, load_catalogue, station_images_dir
from bench_agent.imaging.build import _subtract, merge_extents, split_every
from bench_agent.imaging.catalogue import entry_to_toml, parse_entry
from bench_agent.imaging.partitions import read_partition_table
from bench_agent.inventory.profiles import load_profile
from bench_agent.models.image import ImageEntry, MappedRange
from bench_agent.models.inventory import Cpu, Disk, Inventory, Memory
from tests.conftest import FIXTURES
from tests.test_image_support import ROOT, cli

GIB = 1 << 30
MIB = 1 << 20


def _entry(name: str = "edu-amd64", arch: str = "amd64", **over: object) -> ImageEntry:
    data: dict[str, object] = dict(
        name=name,
        version="2026.1",
        architecture=arch,
        min_ram_mib=1024,
        min_disk_mib=8192,
        description={"en": "Education master", "fr": "Master éducation"},
        source=f"{name}.img.zst",
        compressed_size=1000,
        image_size=8 * GIB,
        compressed_sha256="a" * 64,
        image_sha256="b" * 64,
        partition_table="gpt",
        last_used_byte=6 * GIB,
        ranges=[
            MappedRange(start=0, end=1 * MIB, sha256="c" * 64),
            MappedRange(start=2 * MIB, end=6 * GIB, sha256="d" * 64),
        ],
    )
    data.update(over)
    return ImageEntry.model_validate(data)


def _write(folder: Path, entry: ImageEntry) -> Path:
    path = folder / f"{entry.name}.toml"
    path.write_text(entry_to_toml(entry), encoding="utf-8")
    return path


def test_round_trip_and_lookup(tmp_path: Path) -> None:
    _write(tmp_path, _entry())
    _write(tmp_path, _entry("edu-i686", "i686", min_ram_mib=256))
    entries = load_catalogue(tmp_path)
    assert [e.name for e in entries] == ["edu-amd64", "edu-i686"]
    again = find_image("edu-i686", tmp_path)
    assert again.model_dump(exclude={"catalogue_file"}) == _entry(
        "edu-i686", "i686", min_ram_mib=256
    ).model_dump(exclude={"catalogue_file"})
    assert find_image(str(tmp_path / "edu-amd64.toml")).architecture == "amd64"
    with pytest.raises(InputError, match="No image named 'nope'"):
        find_image("nope", tmp_path)


@pytest.mark.parametrize(
    "edit,field,expected",
    [
        (
            lambda t: t.replace('architecture = "amd64"', 'architecture = "arm64"'),
            "architecture",
            "one of",
        ),
        (
            lambda t: t.replace('image_sha256 = "' + "b" * 64, 'image_sha256 = "' + "B" * 64),
            "image_sha256",
            "64 lowercase hexadecimal",
        ),
        (lambda t: t.replace("version = ", "# version = "), "version", "required"),
        (
            lambda t: t.replace("end = 1048576", "end = 9000000000000"),
            "ranges[0].end",
            "image_size",
        ),
        (lambda t: t.replace("start = 2097152", "start = 0"), "ranges[1]", "sorted"),
        (lambda t: "colour = 1\n" + t, "colour", "unknown key"),
        (
            lambda t: t.replace("compressed_size = 1000", 'compressed_size = "big"'),
            "compressed_size",
            "integer",
        ),
    ],
)
def test_malformed_entry_names_file_field_and_expectation(
    tmp_path: Path, edit: object, field: str, expected: str
) -> None:
    text = entry_to_toml(_entry())
    path = tmp_path / "broken.toml"
    path.write_text(edit(text), encoding="utf-8")  # type: ignore[operator]
    with pytest.raises(InputError) as err:
        load_catalogue(tmp_path)
    message = err.value.message
    assert str(path) in message
    assert f"'{field}'" in message
    assert expected in message
    assert err.value.hint


def test_bad_toml_syntax(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text("name = \n")
    with pytest.raises(InputError, match="is not valid TOML"):
        load_catalogue(tmp_path)


def test_env_sets_the_catalogue_dir(
    tmp_path: Path, agent_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, _entry())
    monkeypatch.setenv("BENCH_AGENT_IMAGES", str(tmp_path))
    settings = load_settings()
    assert settings.images == tmp_path
    assert [e.name for e in load_catalogue(station_images_dir(settings))] == ["edu-amd64"]
    monkeypatch.setenv("BENCH_AGENT_IMAGES", "")  # empty: unset, as before
    assert load_settings().images is None


def test_extent_arithmetic() -> None:
    assert merge_extents([(5000, 6000), (0, 100), (8192, 9000)], 20000) == [(0, 12288)]
    assert merge_extents([(0, 100), (9000, 9001)], 20000) == [(0, 4096), (8192, 12288)]
    assert merge_extents([(0, 10)], 7) == [(0, 7)]
    assert _subtract([(0, 100)], [(10, 20), (50, 60)]) == [(0, 10), (20, 50), (60, 100)]
    assert _subtract([(0, 100)], [(0, 100)]) == []
    assert split_every([(10, 50), (60, 70)], 32) == [(10, 32), (32, 50), (60, 64), (64, 70)]


def _inventory(*, lm: bool, ram_mib: int, disk_gib: int) -> Inventory:
    return Inventory(
        cpu=Cpu(model="test", flags=["fpu", "sse2", *(["lm"] if lm else [])], is_64bit=lm),
        memory=Memory(total_bytes=ram_mib * MIB),
        disks=[Disk(name="sda", size_bytes=disk_gib * GIB)],
    )


CATALOGUE = [
    _entry(),
    _entry("edu-i686", "i686", min_ram_mib=256, min_disk_mib=4096, last_used_byte=3 * GIB),
    _entry("light-i686", "i686", min_ram_mib=128, min_disk_mib=2048, last_used_byte=1 * GIB),
]


def test_32_bit_cpu_gets_an_i686_image() -> None:
    chosen, reasons = choose_image(_inventory(lm=False, ram_mib=2048, disk_gib=80), None, CATALOGUE)
    assert chosen is not None and chosen.architecture == "i686"
    assert any("edu-amd64" in r and "64-bit" in r and "'lm'" in r for r in reasons)
    assert reasons[-1].startswith("Chosen: ")


def test_64_bit_cpu_prefers_amd64_and_profile_order_wins() -> None:
    machine = _inventory(lm=True, ram_mib=4096, disk_gib=120)
    chosen, _reasons = choose_image(machine, None, CATALOGUE)
    assert chosen is not None and chosen.name == "edu-amd64"
    profile = load_profile("pentium4")  # prefers edu-i686
    chosen, _reasons = choose_image(machine, profile, CATALOGUE)
    assert chosen is not None and chosen.name == "edu-i686"


def test_ram_and_disk_minimums_are_enforced_with_reasons() -> None:
    chosen, reasons = choose_image(_inventory(lm=False, ram_mib=192, disk_gib=80), None, CATALOGUE)
    assert chosen is not None and chosen.name == "light-i686"
    assert any("edu-i686" in r and "256 MiB of RAM" in r for r in reasons)
    chosen, reasons = choose_image(
        _inventory(lm=True, ram_mib=4096, disk_gib=80), None, CATALOGUE, target_disk_bytes=2 * GIB
    )
    assert chosen is not None and chosen.name == "light-i686"
    assert any("edu-amd64" in r and "needs a disk" in r for r in reasons)
    chosen, reasons = choose_image(_inventory(lm=False, ram_mib=64, disk_gib=1), None, CATALOGUE)
    assert chosen is None
    assert reasons[-1] == "No image in the catalogue suits this machine."


def test_reasons_are_translated(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench_agent.i18n import set_language

    set_language("fr")
    _chosen, reasons = choose_image(
        _inventory(lm=False, ram_mib=2048, disk_gib=80), None, CATALOGUE
    )
    assert any("processeur 64 bits" in r for r in reasons)
    assert reasons[-1].startswith("Choisie : ")


def _env(images: Path) -> dict[str, str]:
    return {**os.environ, "BENCH_AGENT_IMAGES": str(images), "PYTHONPATH": str(ROOT)}


def test_images_command_with_evidence(tmp_path: Path) -> None:
    for entry in CATALOGUE:
        _write(tmp_path, entry)
    evidence = FIXTURES / "evidence" / "pentium4-desktop"
    result = cli(
        "images",
        "--json",
        "--evidence",
        str(evidence),
        "--profile",
        "test-bench",
        env=_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["chosen"] in {"edu-i686", "light-i686"}
    by_name = {e["name"]: e for e in data["images"]}
    assert by_name["edu-amd64"]["suits"] is False
    assert "lm" in by_name["edu-amd64"]["reason"]
    text = cli("--lang", "fr", "images", "--evidence", str(evidence), env=_env(tmp_path))
    assert text.returncode == 0, text.stderr
    assert "→ choisie" in text.stdout
    assert "Choisie : " in text.stdout


def test_images_command_malformed_entry_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('name = "x"\n')
    result = cli(
        "images", "--evidence", str(FIXTURES / "evidence" / "pentium4-desktop"), env=_env(tmp_path)
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: Catalogue entry ") and "bad.toml" in first


_SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=80),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
)
_FIELDS = [
    "name",
    "version",
    "architecture",
    "min_ram_mib",
    "min_disk_mib",
    "source",
    "compressed_size",
    "image_size",
    "compressed_sha256",
    "image_sha256",
    "block_size",
    "logical_sector_size",
    "partition_table",
    "last_used_byte",
]


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(_FIELDS), value=_SCALARS)
def test_any_bad_value_is_an_input_error_naming_the_field(field: str, value: object) -> None:
    data = _entry().model_dump(exclude={"catalogue_file", "ranges", "description"})
    data[field] = value
    lines = [f"{key} = {json.dumps(val, ensure_ascii=False)}" for key, val in data.items()]
    lines += ["[[ranges]]", "start = 0", "end = 4096", f'sha256 = "{"c" * 64}"']
    path = Path("/catalogue/odd.toml")
    try:
        parse_entry(path, "\n".join(lines) + "\n")
    except InputError as err:
        assert str(path) in err.message
        # The field itself, or the one it is checked against (last_used_byte vs image_size).
        assert field in err.message or "ranges" in err.message or "TOML" in err.message


@settings(max_examples=60, deadline=None)
@given(blob=st.binary(min_size=0, max_size=4096), gpt_at=st.sampled_from([512, 4096]))
def test_partition_table_reader_survives_any_bytes(
    tmp_path_factory: pytest.TempPathFactory, blob: bytes, gpt_at: int
) -> None:
    path = tmp_path_factory.mktemp("pt") / "disk.img"
    data = bytearray(blob.ljust(16384, b"\0"))
    if len(blob) > 8:  # sometimes a GPT signature with random fields behind it
        data[gpt_at : gpt_at + 8] = b"EFI PART"
    path.write_bytes(bytes(data))
    fd = os.open(path, os.O_RDONLY)
    try:
        table = read_partition_table(fd)
    finally:
        os.close(fd)
    assert table.kind in ("gpt", "mbr", "none")


def test_gpt_header_with_huge_entries_is_not_believed(tmp_path: Path) -> None:
    import struct

    header = bytearray(512)
    header[:8] = b"EFI PART"
    struct.pack_into("<QII", header, 72, 2, 4096, 2**31)  # entries LBA, count, entry size
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(512) + bytes(header) + bytes(8192))
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_partition_table(fd).kind == "none"
    finally:
        os.close(fd)
