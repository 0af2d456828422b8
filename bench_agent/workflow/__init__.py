"""The per-machine workflow: state machine and journal, shared by the TUI and the headless run.

Public API::

    wf = Workflow(settings, engines=None, profile="pentium4", evidence_dir=None, disks=[...])
    wf.login(name); wf.intake(tag, lot); wf.take_inventory(); wf.run_auto_checks(progress=cb)
    wf.record_guided(id, status, note); wf.finish_guided()
    wf.accept_verdict() | wf.remediation_done() | wf.reject("parts")
    wf.confirm_wipe(); wf.run_wipe(progress=cb); wf.run_image(progress=cb)
    wf.make_record(); wf.make_label(); wf.next_machine()
    wf.state.pending_interruption -> wf.confirm_rerun(by)   # after a crash mid-wipe/image

    run_headless(settings, RunOptions(...)) -> (MachineState, exit code)   # bench-agent run
"""

from __future__ import annotations

from bench_agent.workflow.engines import Engines
from bench_agent.workflow.headless import RunOptions, run_headless
from bench_agent.workflow.machine import Workflow
from bench_agent.workflow.state import MachineState, Step

__all__ = ["Engines", "MachineState", "RunOptions", "Step", "Workflow", "run_headless"]
