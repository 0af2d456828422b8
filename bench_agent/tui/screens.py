"""One screen per step of the workflow (the registry), plus the modal dialogs.

The screens live in modules by step group: step_base (the common shape), screens_start (login,
intake, inventory), screens_checks (guided checks, verdict), screens_work (wipe plan, wipe/image,
finish) and modals (confirmation, errors, colours).
"""

from __future__ import annotations

from bench_agent.tui.guided_tests import KeyboardTestScreen, MouseTestScreen
from bench_agent.tui.modals import ColourFill, ConfirmDestructive, ErrorModal, training_banner
from bench_agent.tui.screens_checks import GuidedScreen, VerdictScreen, guided_action_label
from bench_agent.tui.screens_start import (
    IntakeScreen,
    InventoryScreen,
    OperatorScreen,
    inventory_tiles,
)
from bench_agent.tui.screens_work import FinishScreen, WipePlanScreen, WorkScreen
from bench_agent.tui.step_base import Action, StepScreen, fit_button_grid, step_word
from bench_agent.tui.widgets import TagInput
from bench_agent.workflow.state import Step

__all__ = [
    "SCREENS",
    "Action",
    "ColourFill",
    "ConfirmDestructive",
    "ErrorModal",
    "FinishScreen",
    "GuidedScreen",
    "IntakeScreen",
    "InventoryScreen",
    "KeyboardTestScreen",
    "MouseTestScreen",
    "OperatorScreen",
    "StepScreen",
    "TagInput",
    "VerdictScreen",
    "WipePlanScreen",
    "WorkScreen",
    "fit_button_grid",
    "guided_action_label",
    "inventory_tiles",
    "screen_for",
    "step_word",
    "training_banner",
]


SCREENS: dict[Step, type[StepScreen]] = {}
for _cls in (
    OperatorScreen,
    IntakeScreen,
    InventoryScreen,
    GuidedScreen,
    VerdictScreen,
    WipePlanScreen,
    WorkScreen,
    FinishScreen,
):
    for _step in _cls.STEPS:
        SCREENS[_step] = _cls


def screen_for(step: Step) -> StepScreen:
    return SCREENS[step]()
