"""The ledger's settings: one class read from the environment, documented in the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench_agent.errors import InputError
from bench_agent.ledger.dashboard import settings_from_env
from bench_agent.ledger.db import Store, default_url
from bench_agent.ledger.schemas import DEFAULT_PSEUDONYM_PATTERN, pseudonym_pattern
from bench_agent.ledger.settings import LedgerSettings, env_name, ledger_settings
from bench_agent.ledger.validation import published_rate

README = Path(__file__).parent.parent / "README.md"


def readme_rows() -> list[str]:
    rows = []
    for name, field in LedgerSettings.model_fields.items():
        default = field.default
        shown = (
            "—"
            if default in (None, "")
            else f"{default:g}"
            if isinstance(default, float)
            else default
        )
        rows.append(f"| `{env_name(name)}` | {shown} | {field.description} |")
    return rows


def test_the_readme_table_lists_every_setting_of_the_class() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [row for row in readme_rows() if row not in text]
    assert not missing, f"README's ledger settings table is out of date: {missing}"


def test_the_environment_reaches_every_reader(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BENCH_LEDGER_HOME", str(tmp_path))
    monkeypatch.delenv("BENCH_LEDGER_DB", raising=False)
    assert default_url() == f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    monkeypatch.setenv("BENCH_LEDGER_DB", f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert Store(None).url.endswith("other.sqlite")
    monkeypatch.setenv("BENCH_DASHBOARD_OFFLINE_AFTER_S", "7.5")
    monkeypatch.setenv("BENCH_DASHBOARD_POLL_S", "")  # empty: the default
    monkeypatch.setenv("BENCH_LEDGER_PUBLIC_URL", "https://ledger.example")
    board = settings_from_env()
    assert (board.offline_after_s, board.poll_interval_s) == (7.5, 1.0)
    assert board.public_url == "https://ledger.example"
    assert pseudonym_pattern() == DEFAULT_PSEUDONYM_PATTERN
    monkeypatch.setenv("BENCH_LEDGER_PSEUDONYM_PATTERN", "B-[0-9]{4}")
    assert pseudonym_pattern() == "B-[0-9]{4}"
    monkeypatch.setenv("BENCH_LEDGER_VALIDATION_RATE", "0.2")
    assert published_rate() == 0.2


def test_a_value_that_does_not_parse_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_DASHBOARD_STUCK_AFTER_S", "ten minutes")
    with pytest.raises(InputError) as caught:
        ledger_settings()
    assert "BENCH_DASHBOARD_STUCK_AFTER_S" in caught.value.message
    monkeypatch.delenv("BENCH_DASHBOARD_STUCK_AFTER_S")
    monkeypatch.setenv("BENCH_LEDGER_MAX_RECORD_BYTES", "lots")
    with pytest.raises(InputError) as caught:
        ledger_settings()
    assert "BENCH_LEDGER_MAX_RECORD_BYTES" in caught.value.message
    monkeypatch.delenv("BENCH_LEDGER_MAX_RECORD_BYTES")
    monkeypatch.setenv("BENCH_LEDGER_VALIDATION_RATE", "1.5")  # a share: 0..1
    with pytest.raises(InputError) as caught:
        published_rate()
    assert "BENCH_LEDGER_VALIDATION_RATE" in caught.value.message


def test_a_bad_setting_stops_the_cli_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BENCH_LEDGER_HOME": str(tmp_path),
           "BENCH_DASHBOARD_POLL_S": "often"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "bench_agent.ledger.cli", "--lang", "en", "station", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: Invalid setting BENCH_DASHBOARD_POLL_S"), done.stderr
    assert "hint: Fix or unset the environment variable BENCH_DASHBOARD_POLL_S." in done.stderr
