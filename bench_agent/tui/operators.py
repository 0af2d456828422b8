"""Operator profiles: each technician's keys, theme, timing, scan mode, cues, language, layout.

Loaded at login from ``<home>/operators/NAME.toml`` (the station's own) or the sample profiles
shipped in ``profiles/operators/``. A malformed profile is refused with its file and field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from bench_agent.config import agent_home
from bench_agent.errors import InputError
from bench_agent.i18n import _, get_language
from bench_agent.models.base import Model
from bench_agent.resources import bundled_operators

SAMPLE_DIR = bundled_operators()


class Layout(Model):
    tile_size: Literal["normal", "large", "huge"] = "large"
    density: Literal["compact", "comfortable"] = "comfortable"
    one_item_per_screen: bool = False
    handed: Literal["right", "left"] = "right"


class OperatorProfile(Model):
    name: str
    display_name: str = ""
    language: Literal["fr", "en"] = "fr"
    theme: str = "bench-contrast-dark"
    # Presses of the same key closer than this are one press (tremor); 0 turns it off.
    bounce_ms: int = Field(default=0, ge=0, le=2000)
    scan_mode: Literal["off", "two-switch", "auto-scan"] = "off"
    scan_rate_ms: int = Field(default=1500, ge=300, le=20000)
    # Two-switch scan: one key moves the highlight, the other selects.
    scan_keys: list[str] = Field(default_factory=lambda: ["space", "enter"])
    audible: Literal["off", "bell", "alsa", "both"] = "bell"
    keymap: dict[str, str] = Field(default_factory=dict)  # binding id -> "key1,key2"
    layout: Layout = Field(default_factory=Layout)
    # Live console text size: "normal" 8x16-pixel cells, "large" 16x32 (set at login).
    text_size: Literal["normal", "large"] = "normal"

    # The name shown in each language (a shared profile read by French and English users).
    display_names: dict[Literal["fr", "en"], str] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        shown = self.display_names.get(get_language())  # type: ignore[call-overload]
        return shown or self.display_name or self.name


def operator_dirs(home: Path | None = None) -> list[Path]:
    """The station's own profiles (``<home>/operators``), then the samples. ``home`` is the
    station's (``AgentSettings.home``); None: the default home, for callers without settings."""
    return [(home or agent_home()) / "operators", SAMPLE_DIR]


def parse_operator(path: Path) -> OperatorProfile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(
            _("Cannot read the operator profile {path}: {error}", path=path, error=exc),
            _("Fix the TOML syntax of the profile."),
        ) from exc
    data.setdefault("name", path.stem)
    try:
        return OperatorProfile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InputError(
            _(
                "Operator profile {path}: field '{field}': {error}",
                path=path,
                field=field,
                error=first["msg"],
            ),
            _("See profiles/operators/ for the expected fields."),
        ) from exc


def list_operators(home: Path | None = None) -> list[OperatorProfile]:
    seen: dict[str, OperatorProfile] = {}
    for folder in operator_dirs(home):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                if path.stem not in seen:
                    seen[path.stem] = parse_operator(path)
    return list(seen.values())


def load_operator(name_or_path: str | Path, home: Path | None = None) -> OperatorProfile:
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" and candidate.exists():
        return parse_operator(candidate)
    for folder in operator_dirs(home):
        path = folder / f"{name_or_path}.toml"
        if path.exists():
            return parse_operator(path)
    raise InputError(
        _("No operator profile named '{name}'.", name=name_or_path),
        _("Put NAME.toml in {folder} or use a sample profile.", folder=operator_dirs(home)[0]),
    )


def default_operator(
    name: str = "", language: str = "fr", home: Path | None = None
) -> OperatorProfile:
    """The station's operator profile when it names one, else the workshop defaults."""
    if name:
        try:
            return load_operator(name, home)
        except InputError:
            pass
    return OperatorProfile(name=name or "operator", language="en" if language == "en" else "fr")
