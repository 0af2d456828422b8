"""``bench-agent run`` without --unattended asks on the terminal; a closed input is an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench_agent.config import load_settings
from bench_agent.workflow.headless import RunOptions, run_headless
from tests.test_workflow_support import EVIDENCE


def test_attended_run_records_the_operator_s_answers(agent_home: Path) -> None:
    answers = iter(["Marie", "p", "p", "n", "p", "f"])
    asked: list[str] = []

    def ask(question: str) -> str:
        asked.append(question)
        return next(answers)

    state, code = run_headless(
        load_settings(station="bench-1"),
        RunOptions(profile="pentium4", evidence=EVIDENCE, asset="A-7"),
        ask=ask,
        say=lambda _text: None,
    )
    assert state.operator == "Marie" and state.asset_tag == "A-7"
    assert {g.id: g.status for g in state.guided} == {
        "sound": "pass",
        "optical": "pass",
        "keyboard": "not_applicable",
        "screen": "pass",
        "mouse": "fail",
    }
    assert len(asked) == 6  # no wipe question: the recorded machine's disks are not here
    assert state.wipes == [] and state.wipe_skipped[0].device == "*"
    assert code in (3, 4)  # a failed mouse: remediate (or reject, per the profile)


def test_attended_run_with_closed_input_is_one_clear_error(agent_home: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "bench-agent"), "--lang", "en", "run",
         "--profile", "pentium4", "--evidence", str(EVIDENCE)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "the input is closed" in done.stderr and "--unattended" in done.stderr
