"""Minimum-spec profiles (``profiles/*.toml``) and the grading of an inventory against one.

Grading is a pure function: inventory (+ guided and automatic check results) and a profile in,
:class:`Verdict` out. Each criterion says pass / remediate (with the action to do) / fail, with
the measured value and the limit, in English and French.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench_agent.errors import InputError
from bench_agent.i18n import _
from bench_agent.inventory.grading import grade_inventory
from bench_agent.inventory.profile_rules import (
    DISK_TOLERANCE,
    GB,
    GUIDED_IDS,
    MB,
    CpuRule,
    DeviceRule,
    DiskRule,
    ImagePolicy,
    MemoryRule,
    OpticalRule,
    Profile,
    WipePolicy,
)
from bench_agent.resources import bundled_profiles

# The schema and the grading live in their own modules; they stay importable from here.
__all__ = [
    "DISK_TOLERANCE",
    "GB",
    "GUIDED_IDS",
    "MB",
    "CpuRule",
    "DeviceRule",
    "DiskRule",
    "ImagePolicy",
    "MemoryRule",
    "OpticalRule",
    "Profile",
    "WipePolicy",
    "grade_inventory",
    "list_profiles",
    "list_profiles_quiet",
    "load_profile",
    "parse_profile",
    "profiles_dir",
]


# --- loading -----------------------------------------------------------------------------


def profiles_dir() -> Path:
    env = os.environ.get("BENCH_AGENT_PROFILES")
    if env:
        return Path(env)
    return bundled_profiles()


def _describe_expected(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _("no such field (check the spelling)")
    if kind == "missing":
        return _("this field is required")
    if kind.startswith("literal_error") and "expected" in ctx:
        return _("one of {choices}", choices=ctx["expected"])
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("a whole number")
    if kind in ("float_parsing", "float_type"):
        return _("a number")
    if kind in ("bool_parsing", "bool_type"):
        return _("true or false")
    if kind == "list_type":
        return _("a list in brackets")
    if kind in ("dict_type", "model_type"):
        return _("a table")
    if kind == "string_type":
        return _("a text in quotes")
    return str(error.get("msg", ""))


def parse_profile(text: str, source: str, default_name: str = "") -> Profile:
    """Validate a profile's TOML text; errors name the file, the field and what is expected."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            _("{file}: not valid TOML: {error}", file=source, error=exc),
            _("Fix the syntax; see profiles/pentium4.toml for an example."),
        ) from exc
    data.setdefault("name", default_name)
    data.pop("path", None)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "?"
        raise InputError(
            _(
                "{file}: field '{field}': expected {expected} (got {value})",
                file=source,
                field=field,
                expected=_describe_expected(dict(first)),
                value=repr(first.get("input"))[:60],
            ),
            _("Fix the profile; see profiles/pentium4.toml for every field."),
        ) from exc
    profile.path = source
    return profile


def load_profile(name_or_path: str) -> Profile:
    """A profile by name (``profiles/<name>.toml``) or by path to a TOML file."""
    candidate = Path(name_or_path)
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        path = candidate
    else:
        path = profiles_dir() / f"{name_or_path}.toml"
    if not path.is_file():
        available = ", ".join(p.name for p in list_profiles_quiet()) or "-"
        raise InputError(
            _("Unknown profile '{name}' ({path} not found).", name=name_or_path, path=path),
            _("Available profiles: {names}.", names=available),
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            _("Cannot read the profile {path}: {error}", path=path, error=exc),
            _("Check the file's permissions and encoding (UTF-8)."),
        ) from exc
    return parse_profile(text, str(path), default_name=path.stem)


def list_profiles() -> list[Profile]:
    """Every profile in the profiles directory, by name (a malformed one raises InputError)."""
    folder = profiles_dir()
    return [load_profile(str(p)) for p in sorted(folder.glob("*.toml"))]


def list_profiles_quiet() -> list[Profile]:
    out: list[Profile] = []
    for path in sorted(profiles_dir().glob("*.toml")):
        try:
            out.append(load_profile(str(path)))
        except InputError:
            continue
    return out
