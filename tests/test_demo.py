"""``bench-agent demo``: the README's main job runs the whole cycle, non-interactively."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_root
from tests.test_workflow_support import cli

pytestmark = [pytest.mark.device, pytest.mark.slow]


def demo_loops() -> list[str]:
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "bench-demo-" in line]


def assert_whole_cycle(result: dict[str, Any]) -> None:
    """What ``demo --json`` reports after the whole cycle (also run from the wheel)."""
    assert result["ok"] is True, result
    assert result["asset_tag"] == "DEMO-P4-0001"
    assert result["outcome"] == "remediate"  # the recorded Pentium 4's second disk is failing
    assert [w["status"] for w in result["wipes"]] == ["erased", "erased"]
    assert result["image"]["status"] == "success"
    assert result["certificates_verified"] == 2
    assert result["ledger_has_record"] is True


def test_demo_runs_the_whole_cycle_and_cleans_up(agent_home: Path) -> None:
    require_root()
    done = cli("demo", "--json", timeout=600)
    result = json.loads(done.stdout[done.stdout.index("{") :])
    assert_whole_cycle(result)
    # Its loop devices, ledger and files are gone; the station's own home was never used.
    assert demo_loops() == []
    assert not Path(result["workdir"]).exists()
    assert not (agent_home / "journal").exists()


def test_demo_without_root_explains_and_runs_what_needs_no_device(
    agent_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only the demo's own "am I root?" answer is changed: the ledger, enrolment, sync and the
    # workflow run for real, without creating any device.
    from bench_agent.adapters import demo

    monkeypatch.setattr(demo.os, "geteuid", lambda: 1000)
    # The demo's station is a settings object, not this process's environment: it stays as it
    # was before, during (each line the demo says) and after the run.
    before = dict(os.environ)
    during: list[bool] = []
    say = demo._say
    monkeypatch.setattr(
        demo, "_say", lambda text: (during.append(dict(os.environ) == before), say(text))
    )
    assert demo.run_demo(json_output=True) == 0
    assert dict(os.environ) == before
    assert len(during) > 5 and all(during)
    out = capsys.readouterr().out
    assert "Not root" in out
    result = json.loads(out[out.index("{\n") :])
    assert result["root"] is False and result["ok"] is True
    assert result["wipes"] == [] and result["image"] is None
    assert result["wipe_skipped"][0]["reason"].startswith("Recorded machine")
    assert result["ledger_has_record"] is True
    assert demo_loops() == []
