"""The master-image catalogue: ``images/*.toml`` read, checked and written back.

Every entry names its source (a path next to the TOML file or an http(s) URL), the digests of
the compressed file and of the raw image, and the block map (mapped byte ranges with their own
SHA-256), so the writer can skip empty space and check every byte it writes.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w
from pydantic import ValidationError

from bench_agent.durable import atomic_write
from bench_agent.errors import InputError
from bench_agent.i18n import _
from bench_agent.models.image import ImageEntry, MappedRange
from bench_agent.resources import checkout_images

if TYPE_CHECKING:
    from bench_agent.config import AgentSettings

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def images_dir(home: Path, configured: Path | None = None) -> Path:
    """The catalogue folder of the station whose home is ``home``: ``configured`` (its
    ``images`` setting, BENCH_AGENT_IMAGES); else ``<home>/images/`` when it holds a catalogue;
    else the repository's ``images/`` (running from a checkout); else ``<home>/images/`` (an
    installed wheel carries no image: ``bench-agent demo`` builds its test master there)."""
    if configured is not None:
        return configured
    station = home / "images"
    if station.is_dir() and any(station.glob("*.toml")):
        return station
    return checkout_images() or station


def station_images_dir(settings: AgentSettings) -> Path:
    """``images_dir`` for a station's settings."""
    return images_dir(settings.home, settings.images)


def _bad(path: Path, field: str, expected: str) -> InputError:
    return InputError(
        _(
            "Catalogue entry {path}: field '{field}' is invalid: expected {expected}.",
            path=path,
            field=field,
            expected=expected,
        ),
        _("Fix the entry, or rebuild it with scripts/build-test-master --from RAW_IMAGE."),
    )


def _check_semantics(path: Path, entry: ImageEntry) -> None:
    if not _NAME.match(entry.name):
        raise _bad(path, "name", _("letters, digits, '.', '_' or '-'"))
    for field in ("compressed_sha256", "image_sha256"):
        if not _HEX64.match(getattr(entry, field)):
            raise _bad(path, field, _("64 lowercase hexadecimal characters (a SHA-256)"))
    for field in ("compressed_size", "image_size", "block_size", "logical_sector_size"):
        if getattr(entry, field) <= 0:
            raise _bad(path, field, _("a positive number of bytes"))
    if entry.logical_sector_size not in (512, 4096):
        raise _bad(path, "logical_sector_size", _("512 or 4096"))
    if entry.block_size % 512:
        raise _bad(path, "block_size", _("a multiple of 512"))
    if not entry.source.strip():
        raise _bad(path, "source", _("a file name next to the entry or an http(s) URL"))
    previous_end = 0
    for index, rng in enumerate(entry.ranges):
        where = f"ranges[{index}]"
        if not _HEX64.match(rng.sha256):
            raise _bad(
                path, where + ".sha256", _("64 lowercase hexadecimal characters (a SHA-256)")
            )
        if rng.start < previous_end or rng.end <= rng.start:
            raise _bad(path, where, _("sorted, non-overlapping ranges with start < end"))
        if rng.end > entry.image_size:
            raise _bad(
                path, where + ".end", _("at most image_size ({size})", size=entry.image_size)
            )
        if rng.start % 512 or (rng.end % 512 and rng.end != entry.image_size):
            raise _bad(path, where, _("offsets that are multiples of 512"))
        previous_end = rng.end
    if not entry.ranges:
        raise _bad(path, "ranges", _("at least one mapped range"))
    if entry.last_used_byte <= 0:
        entry.last_used_byte = entry.ranges[-1].end
    if entry.last_used_byte > entry.image_size:
        raise _bad(path, "last_used_byte", _("at most image_size ({size})", size=entry.image_size))


def parse_entry(path: Path, text: str) -> ImageEntry:
    """Parse one catalogue file; any problem is an InputError naming file, field, expectation."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            _("Catalogue entry {path} is not valid TOML: {error}", path=path, error=exc),
            _("Fix the entry, or rebuild it with scripts/build-test-master --from RAW_IMAGE."),
        ) from exc
    data.pop("catalogue_file", None)
    try:
        entry = ImageEntry.model_validate({**data, "catalogue_file": str(path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in first["loc"]).replace(
            ".[", "["
        )
        kind = first["type"]
        if kind == "missing":
            expected = _("a value (the field is required)")
        elif kind == "extra_forbidden":
            expected = _("no such field (unknown key)")
        elif kind == "literal_error":
            expected = _("one of {choices}", choices=first.get("ctx", {}).get("expected", "?"))
        else:
            expected = str(first["msg"])
        raise _bad(path, field or "?", expected) from exc
    _check_semantics(path, entry)
    return entry


def load_entry(path: Path) -> ImageEntry:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            _("Cannot read the catalogue entry {path}: {error}", path=path, error=exc.strerror),
            _("Check the path and the permissions."),
        ) from exc
    return parse_entry(path, text)


def load_catalogue(folder: Path) -> list[ImageEntry]:
    """Every entry of the catalogue in ``folder`` (see ``images_dir``), sorted by name; a
    malformed file is an InputError."""
    if not folder.is_dir():
        return []
    entries = [load_entry(p) for p in sorted(folder.glob("*.toml"))]
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.name in seen:
            raise _bad(
                Path(entry.catalogue_file),
                "name",
                _("a name not already used by {other}", other=seen[entry.name]),
            )
        seen[entry.name] = entry.catalogue_file
    return sorted(entries, key=lambda e: e.name)


def find_image(name_or_file: str, directory: Path | None = None) -> ImageEntry:
    """An entry by name in the catalogue ``directory``, or the entry in a given ``.toml``
    file (which needs no catalogue)."""
    candidate = Path(name_or_file)
    if name_or_file.endswith(".toml") or candidate.is_file():
        return load_entry(candidate)
    entries = load_catalogue(directory) if directory is not None else []
    for entry in entries:
        if entry.name == name_or_file:
            return entry
    names = ", ".join(e.name for e in entries) or _("(the catalogue is empty)")
    raise InputError(
        _(
            "No image named '{name}' in the catalogue {folder}.",
            name=name_or_file,
            folder=directory or "?",
        ),
        _(
            "Known images: {names}. Build the test master with scripts/build-test-master.",
            names=names,
        ),
    )


def source_path(entry: ImageEntry) -> Path | None:
    """The local file of a path source, relative to its catalogue file (None for a URL)."""
    if entry.source.startswith(("http://", "https://")):
        return None
    src = Path(entry.source)
    if src.is_absolute() or not entry.catalogue_file:
        return src
    return Path(entry.catalogue_file).parent / src


def entry_to_toml(entry: ImageEntry) -> str:
    """The TOML text of an entry (what ``scripts/build-test-master`` writes)."""
    data = entry.model_dump(mode="json", exclude={"catalogue_file", "ranges", "description"})
    data["description"] = dict(sorted(entry.description.items()))
    ranges = [rng.model_dump(mode="json") for rng in entry.ranges]
    return (
        "# Bench Agent image catalogue entry (written by scripts/build-test-master).\n"
        + tomli_w.dumps(data)
        + "\n# Mapped byte ranges [start, end) of the raw image, each with its SHA-256.\n"
        + "".join("[[ranges]]\n" + tomli_w.dumps(rng) for rng in ranges)
    )


def write_entry(entry: ImageEntry, path: Path) -> Path:
    return atomic_write(path, entry_to_toml(entry), mode=0o644)


__all__ = [
    "MappedRange",
    "entry_to_toml",
    "find_image",
    "images_dir",
    "load_catalogue",
    "load_entry",
    "parse_entry",
    "source_path",
    "station_images_dir",
    "write_entry",
]
