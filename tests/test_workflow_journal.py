"""The workflow journal: atomic, fsync'ed, and an interrupted destructive step is never lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.errors import InputError
from bench_agent.workflow.journal import Journal
from bench_agent.workflow.machine import StepError, Workflow
from bench_agent.workflow.state import MachineState, Step


def test_journal_round_trip_and_archive(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.load() is None
    journal.save({"step": "wipe", "n": 1})
    journal.save({"step": "image", "n": 2})
    assert journal.load() == {"step": "image", "n": 2}
    assert not list(tmp_path.glob(".*.tmp"))
    archived = journal.archive("ASSET-1")
    assert archived is not None and json.loads(archived.read_text())["n"] == 2
    assert not journal.exists()


def test_a_corrupt_journal_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "current.json").write_text("{not json")
    with pytest.raises(InputError) as caught:
        Journal(tmp_path).load()
    assert "current.json" in caught.value.message


def test_a_killed_writer_leaves_the_old_or_the_new_state(tmp_path: Path) -> None:
    # A child process rewrites the journal in a tight loop and is killed -9 mid-way: whatever
    # moment the kill lands, the journal parses and is one of the states written.
    script = (
        "import sys; from pathlib import Path; from bench_agent.workflow.journal import Journal\n"
        "j = Journal(Path(sys.argv[1]))\n"
        "i = 0\n"
        "while True:\n"
        "    i += 1; j.save({'n': i, 'pad': 'x' * 200000})\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
    try:
        for _ in range(200):
            if (tmp_path / "current.json").exists():
                break
            subprocess.run(["sleep", "0.02"], check=True)
        subprocess.run(["sleep", "0.3"], check=True)
    finally:
        os.kill(child.pid, 9)
        child.wait()
    state = Journal(tmp_path).load()
    assert state is not None and state["n"] >= 1 and len(state["pad"]) == 200000


def test_a_running_wipe_found_at_start_waits_for_confirmation(agent_home: Path) -> None:
    settings = load_settings(station="bench-1")
    state = MachineState(station="bench-1", operator="Marie", step=Step.WIPE, wipe_state="running")
    Journal(settings.journal_dir / "machine").save(state.model_dump(mode="json"))

    wf = Workflow(settings)
    assert wf.resumed and wf.step is Step.WIPE
    assert wf.state.pending_interruption == "wipe"
    with pytest.raises(StepError):
        wf.run_wipe()
    wf.confirm_rerun(by="Marie")
    assert wf.state.wipe_state == "confirmed"
    assert wf.state.interruptions[0].step == "wipe"
    assert wf.state.interruptions[0].action == "rerun_from_scratch"
    assert wf.state.interruptions[0].confirmed_by == "Marie"
    # The confirmation itself is journaled: a second restart does not ask again.
    again = Workflow(settings)
    assert again.state.pending_interruption == ""
    assert len(again.state.interruptions) == 1


def test_actions_out_of_order_are_refused(agent_home: Path) -> None:
    wf = Workflow(load_settings(station="bench-1"))
    assert wf.step is Step.OPERATOR
    with pytest.raises(StepError):
        wf.intake("A-1")
    with pytest.raises(InputError):
        wf.login("   ")
    wf.login("Marie")
    tag = wf.intake("", "LOT-7")
    assert tag.startswith("BENCH1-") and wf.state.lot == "LOT-7"
    assert Workflow(load_settings()).step is Step.INVENTORY
