"""The bench app (Textual). Placeholder until the screens land: runs the headless flow."""

from __future__ import annotations

import argparse


def launch(args: argparse.Namespace) -> int:
    from bench_agent.errors import ToolMissing
    from bench_agent.i18n import _

    raise ToolMissing(_("The bench app is not installed yet; use 'bench-agent run'."))
