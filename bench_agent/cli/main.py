"""``bench-agent``: the bench's command line. Each command group lives in its own module.

Command modules expose ``register(subparsers)``; handlers import their heavy dependencies
lazily so ``bench-agent --help`` stays fast on a Pentium IV.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, Protocol

from bench_agent import __version__
from bench_agent.cli import (
    bench_cmd,
    image_cmd,
    inventory_cmd,
    parts_cmd,
    schema_cmd,
    station_cmd,
    sync_cmd,
    wipe_cmd,
)
from bench_agent.console.runner import apply_language_option, run_command
from bench_agent.errors import EXIT_USAGE
from bench_agent.i18n import _


class CommandGroup(Protocol):
    """A command module: adds its subcommands (their handlers import what they need)."""

    def register(self, sub: Any) -> None: ...


# One line per command group, in the order of the help; a group adds itself here.
COMMAND_GROUPS: tuple[CommandGroup, ...] = (
    schema_cmd,
    inventory_cmd,
    bench_cmd,
    wipe_cmd,
    station_cmd,
    image_cmd,
    sync_cmd,
    parts_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench-agent",
        description=_("Refurbishment bench: inventory, grading, verified wipe, imaging, ledger."),
    )
    parser.add_argument("--version", action="version", version=f"bench-agent {__version__}")
    parser.add_argument("--debug", action="store_true", help=_("show tracebacks on errors"))
    parser.add_argument("--lang", choices=["en", "fr"], help=_("language of the output"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    parser.set_defaults(available_commands=set(sub.choices))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    apply_language_option(args_list)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        # No command: the bench app, when it is installed.
        if "tui" in args.available_commands:
            args = parser.parse_args([*args_list, "tui"])
        else:
            parser.print_help()
            return EXIT_USAGE
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
