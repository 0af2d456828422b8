"""``bench-ledger``'s entry point, with ``board --ledger URL [--token T | --user NAME]``.

The station board in the terminal is a Textual app (bench_agent.tui.board): the ledger package
never imports the TUI (import-linter's layers contract), so the command that starts it is
added here, outside both, to the ledger's own command groups.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from typing import Any

from bench_agent.errors import EXIT_OK, BenchError, InputError
from bench_agent.i18n import _
from bench_agent.ledger import cli as ledger_cli
from bench_agent.ledger.settings import ledger_settings


def register(sub: Any) -> None:
    board = sub.add_parser("board", help=_("the station board in the terminal"))
    board.add_argument("--ledger", metavar="URL", required=True, help=_("ledger address"))
    who = board.add_mutually_exclusive_group()
    who.add_argument("--token", help=_("a session token (default: $BENCH_LEDGER_TOKEN)"))
    who.add_argument("--user", help=_("log in as this supervisor (password asked)"))
    board.add_argument("--interval", type=float, default=1.0, help=_("seconds between updates"))
    board.add_argument(
        "--theme", choices=["dark", "light", "ansi"], default="dark", help=_("colour theme")
    )
    board.set_defaults(func=run_board)


def _login(url: str, user: str) -> str:
    import httpx

    password = ledger_settings().password or getpass.getpass(_("Password for {user}: ", user=user))
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/api/v1/login", json={"name": user, "password": password}, timeout=15
        )
    except httpx.HTTPError as exc:
        raise BenchError(
            _("Cannot reach the ledger at {url}: {error}", url=url, error=exc),
            _("Check the address and that 'bench-ledger serve' runs there."),
        ) from exc
    if response.status_code != 200:
        raise InputError(
            _("The ledger refused the login of {user}.", user=user),
            _("Check the user name and password."),
        )
    token: str = response.json()["token"]
    return token


def run_board(args: argparse.Namespace) -> int:
    token = args.token or ledger_settings().token
    if args.user:
        token = _login(args.ledger, args.user)
    if not token:
        raise InputError(
            _("The board needs a supervisor session."),
            _("Add --user NAME (the password is asked) or --token TOKEN."),
        )
    from bench_agent.tui.board import StationBoardApp
    from bench_agent.tui.themes import theme_name

    app = StationBoardApp(
        args.ledger, token, interval=max(args.interval, 0.2), theme=theme_name(args.theme)
    )
    app.run()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return ledger_cli.main(argv, extra_groups=(sys.modules[__name__],))


if __name__ == "__main__":
    sys.exit(main())
