"""``bench-agent``: the bench's command line. Each command group lives in its own module.

Command modules expose ``register(subparsers)``; handlers import their heavy dependencies
lazily so ``bench-agent --help`` stays fast on a Pentium IV.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bench_agent import __version__
from bench_agent.cli.runner import apply_language_option, run_command
from bench_agent.errors import EXIT_USAGE
from bench_agent.i18n import _

# One line per command group; a group adds itself here.
COMMAND_MODULES: list[str] = [
    "bench_agent.cli.schema_cmd",
    "bench_agent.cli.inventory_cmd",
    "bench_agent.cli.bench_cmd",
    "bench_agent.cli.wipe_cmd",
    "bench_agent.cli.station_cmd",
    "bench_agent.cli.image_cmd",
    "bench_agent.cli.sync_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench-agent",
        description=_("Refurbishment bench: inventory, grading, verified wipe, imaging, ledger."),
    )
    parser.add_argument("--version", action="version", version=f"bench-agent {__version__}")
    parser.add_argument("--debug", action="store_true", help=_("show tracebacks on errors"))
    parser.add_argument("--lang", choices=["en", "fr"], help=_("language of the output"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
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
