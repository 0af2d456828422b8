"""Station settings: environment (``BENCH_AGENT_*``) over ``<home>/agent.toml`` over defaults.

The home directory holds everything the station keeps: settings, key pair, journal, outbox,
reports and the image cache. Default: ``/var/lib/bench-agent`` as root, else
``~/.local/share/bench-agent``; ``BENCH_AGENT_HOME`` moves it (tests use a temporary one).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bench_agent.durable import atomic_write
from bench_agent.errors import InputError
from bench_agent.home import agent_home as agent_home
from bench_agent.i18n import _


def settings_file(home: Path | None = None) -> Path:
    return (home or agent_home()) / "agent.toml"


class _TomlFile(PydanticBaseSettingsSource):
    """Reads ``agent.toml``; a malformed file is an InputError naming the file."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        # The home given to the constructor or by BENCH_AGENT_HOME (read before this file).
        given = self.current_state.get("home")
        path = settings_file(Path(given) if given else None)
        if not path.exists():
            return {}
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError(
                _("Cannot read the settings file {path}: {error}", path=path, error=exc),
                _("Fix the TOML syntax or delete the file to use the defaults."),
            ) from exc
        values.pop("home", None)  # the file lives in the home: it cannot move it
        return values


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BENCH_AGENT_", extra="ignore")

    # Where the station keeps everything (BENCH_AGENT_HOME, else agent_home()'s default): a
    # settings object carries its own home, so two of them can live in one process.
    home: Path = Field(default_factory=agent_home)
    station: str = Field(default_factory=lambda: os.uname().nodename)
    location: str = ""
    # Written into every education master the station images ("About this computer").
    workshop: str = ""
    support_contact: str = ""
    ledger_url: str = ""
    token: str = ""
    profile: str = "pentium4"
    language: str = "fr"
    operator: str = ""
    allow_removable: bool = False
    post_sanitization_destination: str = "reuse"
    # The image catalogue's folder (BENCH_AGENT_IMAGES); unset: found from the home
    # (``bench_agent.imaging.catalogue.images_dir``).
    images: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlFile(settings_cls)

    @field_validator("home", mode="before")
    @classmethod
    def _default_home(cls, value: Any) -> Any:
        return value or agent_home()  # BENCH_AGENT_HOME="" means the default, as before

    @field_validator("images", mode="before")
    @classmethod
    def _unset_images(cls, value: Any) -> Any:
        return value or None  # BENCH_AGENT_IMAGES="" means unset, as before

    @property
    def key_path(self) -> Path:
        return self.home / "station.key"

    @property
    def journal_dir(self) -> Path:
        return self.home / "journal"

    @property
    def outbox_path(self) -> Path:
        return self.home / "outbox.sqlite"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def image_cache_dir(self) -> Path:
        return self.home / "cache" / "images"


def load_settings(**overrides: Any) -> AgentSettings:
    try:
        return AgentSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InputError(
            _(
                "Invalid setting '{field}' in {path} or the environment: {error}",
                field=field,
                path=settings_file(Path(overrides["home"]) if overrides.get("home") else None),
                error=first["msg"],
            ),
            _("Correct the value or remove it to use the default."),
        ) from exc


def save_settings(values: dict[str, Any], home: Path | None = None) -> Path:
    """Merge ``values`` into ``<home>/agent.toml`` (written atomically; default home:
    ``agent_home()``)."""
    path = settings_file(home)
    current: dict[str, Any] = {}
    if path.exists():
        current = tomllib.loads(path.read_text(encoding="utf-8"))
    current.update(values)
    # What TOML has no type for (a Path, an enum) is kept as its text, as before.
    plain = {
        key: value if isinstance(value, bool | int | float | str | list | dict) else str(value)
        for key, value in sorted(current.items())
    }
    return atomic_write(path, tomli_w.dumps(plain))
