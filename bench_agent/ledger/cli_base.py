"""What every ``bench-ledger`` command group shares: ``--db``, opening the store, the actor,
date options."""

import argparse
import getpass
import os
import socket
from datetime import date
from typing import Any

from bench_agent.errors import BenchError, InputError
from bench_agent.i18n import _


def add_db_option(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--db URL``, accepted before or after the subcommand."""
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None if top else argparse.SUPPRESS,
        help=_("database URL (default: $BENCH_LEDGER_DB or the embedded SQLite file)"),
    )


def open_store(args: argparse.Namespace, *, upgrade: bool = False) -> Any:
    """The Store for ``--db`` (checked reachable; with ``upgrade`` migrated to the newest)."""
    from bench_agent.ledger.db import Store

    store = Store(getattr(args, "db", None))
    store.check_connection()
    if upgrade:
        store.upgrade()
    elif store.is_empty():
        raise BenchError(
            _("The database {url} has no ledger tables yet.", url=store.display_url),
            _("Run 'bench-ledger db upgrade' first (or start 'bench-ledger serve')."),
        )
    return store


def cli_actor() -> str:
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return f"cli:{user}@{socket.gethostname()}"


def option_date(text: str, option: str) -> date:
    """A YYYY-MM-DD command-line option (InputError naming the option otherwise)."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(
            _("{option} '{value}' is not a date.", option=option, value=text),
            _("Write dates as YYYY-MM-DD, e.g. 2026-01-31."),
        ) from exc
