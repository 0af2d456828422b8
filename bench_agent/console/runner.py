"""What both console scripts do around a command: language first, one-line errors, exit codes."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from bench_agent.errors import BenchError
from bench_agent.i18n import _, set_language


def apply_language_option(args_list: Sequence[str]) -> None:
    """Honour ``--lang`` before the parser is built, so that ``--help`` is translated too."""
    if "--lang" in args_list:
        index = list(args_list).index("--lang")
        if index + 1 < len(args_list):
            set_language(args_list[index + 1])


def report_error(exc: BenchError) -> int:
    print(_("error: {message}", message=exc.message), file=sys.stderr)
    if exc.hint:
        print(_("hint: {hint}", hint=exc.hint), file=sys.stderr)
    return exc.exit_code


def run_command(
    args: argparse.Namespace,
    convert: Callable[[Exception], BenchError | None] | None = None,
) -> int:
    """Run ``args.func``; a ``BenchError`` (or an error ``convert`` turns into one) is one line
    and a hint with its exit code, never a traceback unless ``--debug``."""
    try:
        code: int = args.func(args)
        return code
    except BenchError as exc:
        if args.debug:
            traceback.print_exc()
        return report_error(exc)
    except KeyboardInterrupt:
        print(_("interrupted"), file=sys.stderr)
        return 130
    except Exception as exc:
        converted = convert(exc) if convert is not None else None
        if converted is None:
            raise
        if args.debug:
            traceback.print_exc()
        return report_error(converted)
