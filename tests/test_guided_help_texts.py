"""The commands say what they do before they do it, and the README's promises hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.tui.operators import OperatorProfile

BENCH_AGENT = Path(sys.executable).with_name("bench-agent")
README = Path(__file__).resolve().parents[1] / "README.md"


def help_text(command: str, language: str = "en") -> str:
    done = subprocess.run(
        [str(BENCH_AGENT), command, "--help"],
        capture_output=True,
        text=True,
        env={"BENCH_LANG": language, "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        check=True,
    )
    return " ".join(done.stdout.split())


def test_run_help_says_it_wipes_and_that_unattended_does_not_ask() -> None:
    text = help_text("run")
    assert "Run as root: it WIPES this machine's eligible disks" in text
    assert "With --unattended it asks nothing and wipes WITHOUT confirmation" in text
    french = help_text("run", "fr")
    assert "il EFFACE les disques" in french and "SANS confirmation" in french


def test_demo_and_tui_help_say_root_loop_devices_and_how_to_quit() -> None:
    demo = help_text("demo")
    assert "touching none of this computer's disks" in demo
    assert "as root, two loop devices (temporary files)" in demo
    tui = help_text("tui")
    assert "Quit with Ctrl+Q" in tui and "throwaway loop devices" in tui


def test_readme_documents_the_home_folder_and_how_to_quit() -> None:
    text = README.read_text(encoding="utf-8")
    assert "BENCH_AGENT_HOME" in text
    assert "Ctrl+Q" in text


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_ctrl_q_quits_the_bench_app() -> None:
    from bench_agent.tui.app import BenchApp

    app = BenchApp(
        load_settings(station="bench-1"),
        operator=OperatorProfile(name="q", language="en"),
        poll_ledger=False,
    )
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running
