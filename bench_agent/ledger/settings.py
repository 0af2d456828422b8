"""The ledger's settings, read from the environment in one place.

Every ``BENCH_LEDGER_*`` and ``BENCH_DASHBOARD_*`` variable the ledger reads is a field of
:class:`LedgerSettings` (the README's table of ledger settings lists the same names). An empty
variable counts as unset; a value that does not parse is one clear error naming the variable.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bench_agent.errors import InputError
from bench_agent.i18n import _


class LedgerSettings(BaseSettings):
    """``BENCH_LEDGER_<FIELD>`` (the board's timings: ``BENCH_DASHBOARD_<...>``)."""

    model_config = SettingsConfigDict(
        env_prefix="BENCH_LEDGER_", env_ignore_empty=True, extra="ignore", populate_by_name=True
    )

    home: Path | None = Field(
        None, description="data directory (default `/var/lib/bench-ledger` as root)"
    )
    db: str | None = Field(
        None, description="database URL (default: `ledger.sqlite` in the data directory)"
    )
    images: Path | None = Field(
        None, description="folder of image files benches download (`serve --images`)"
    )
    max_record_bytes: int | None = Field(
        None, ge=1, description="largest record accepted (default 16 MiB, `serve --max-record-mb`)"
    )
    public_url: str = Field(
        "", description="the ledger's public address, printed in labels' QR codes"
    )
    pseudonym_pattern: str = Field(
        "", description="regular expression a beneficiary reference must match"
    )
    validation_rate: float = Field(
        0.05, ge=0.0, le=1.0, description="share of wiped disks drawn for validation (0..1)"
    )
    environment_factors: Path | None = Field(
        None, description="the workshop's file overriding the environment factors (TOML)"
    )
    token: str = Field("", repr=False, description="session token of `bench-ledger board`")
    password: str = Field("", repr=False, description="password `bench-ledger board --user` uses")
    offline_after_s: float = Field(
        60.0,
        gt=0,
        validation_alias="BENCH_DASHBOARD_OFFLINE_AFTER_S",
        description="a station is offline after this silence",
    )
    stuck_after_s: float = Field(
        600.0,
        gt=0,
        validation_alias="BENCH_DASHBOARD_STUCK_AFTER_S",
        description="stuck when its progress has not moved this long",
    )
    poll_s: float = Field(
        1.0,
        gt=0,
        validation_alias="BENCH_DASHBOARD_POLL_S",
        description="how often the live board looks for changes without a write",
    )
    stream_max_s: float = Field(
        60.0,
        gt=0,
        validation_alias="BENCH_DASHBOARD_STREAM_MAX_S",
        description="an event stream's longest life (the page reopens it)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings  # the environment only: no .env file, no secrets dir


def env_name(field: str) -> str:
    """The environment variable of a field (``db`` → ``BENCH_LEDGER_DB``)."""
    info = LedgerSettings.model_fields[field]
    alias = info.validation_alias
    return alias if isinstance(alias, str) else f"BENCH_LEDGER_{field.upper()}"


def ledger_settings() -> LedgerSettings:
    """The settings from the environment now (read at each call: tests and ``serve`` set it)."""
    try:
        return LedgerSettings()
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        variable = name if name.startswith("BENCH_") else env_name(name)
        raise InputError(
            _("Invalid setting {name}: {error}", name=variable, error=error["msg"]),
            _("Fix or unset the environment variable {name}.", name=variable),
        ) from exc
