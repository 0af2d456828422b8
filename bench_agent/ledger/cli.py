"""``bench-ledger``: run and administer the central ledger.

Every subcommand takes ``--db URL`` (default: ``BENCH_LEDGER_DB``, else the embedded SQLite file
in the data directory, ``BENCH_LEDGER_HOME``). Other parts add their command groups to
``COMMAND_MODULES``: a module exposes ``register(sub)`` adding subparsers with
``set_defaults(func=run)``; ``run(args) -> int``; ``open_store(args)`` gives the database.
"""

from __future__ import annotations

import argparse
import gc
import getpass
import importlib
import os
import socket
import sys
from collections.abc import Sequence
from typing import Any

from bench_agent import __version__
from bench_agent.cli.runner import apply_language_option, run_command
from bench_agent.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, BenchError, InputError
from bench_agent.i18n import _

# One line per command group; a group adds itself here.
COMMAND_MODULES: list[str] = [
    "bench_agent.ledger.cli",
    "bench_agent.ledger.board_cmd",
    "bench_agent.ledger.validation",
]


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


# ----------------------------------------------------------------------------- own commands
def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help=_("run the ledger server"))
    add_db_option(serve)
    serve.add_argument("--host", default="127.0.0.1", help=_("address to listen on"))
    serve.add_argument("--port", type=int, default=8080, help=_("port to listen on"))
    serve.add_argument("--images", metavar="DIR", help=_("folder of image files for benches"))
    serve.add_argument(
        "--max-record-mb", type=int, default=16, help=_("largest record accepted, in MiB")
    )
    serve.add_argument("--workers", type=int, default=1, help=_("server processes"))
    serve.set_defaults(func=run_serve)

    db = sub.add_parser("db", help=_("database schema"))
    db_sub = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = db_sub.add_parser("upgrade", help=_("create or migrate the tables"))
    add_db_option(upgrade)
    upgrade.set_defaults(func=run_db_upgrade)

    station = sub.add_parser("station", help=_("bench stations"))
    station_sub = station.add_subparsers(dest="station_command", metavar="COMMAND", required=True)
    add = station_sub.add_parser("add", help=_("create a station and print its token once"))
    add_db_option(add)
    add.add_argument("name")
    add.add_argument("--location", default="", help=_("where the bench stands"))
    add.set_defaults(func=run_station_add)
    listing = station_sub.add_parser("list", help=_("list the stations"))
    add_db_option(listing)
    listing.add_argument("--json", action="store_true", help=_("print JSON"))
    listing.set_defaults(func=run_station_list)
    rotate = station_sub.add_parser(
        "rotate-token", help=_("replace a station's token (the old one stops working)")
    )
    add_db_option(rotate)
    rotate.add_argument("name")
    rotate.set_defaults(func=run_station_rotate_token)
    revoke = station_sub.add_parser(
        "revoke", help=_("refuse a station's token and retire its key (a stolen bench)")
    )
    add_db_option(revoke)
    revoke.add_argument("name")
    revoke.set_defaults(func=run_station_revoke)
    reset_key = station_sub.add_parser(
        "reset-key", help=_("let a station publish a new key once (its key was lost)")
    )
    add_db_option(reset_key)
    reset_key.add_argument("name")
    reset_key.set_defaults(func=run_station_reset_key)

    user = sub.add_parser("user", help=_("supervisors and admins"))
    user_sub = user.add_subparsers(dest="user_command", metavar="COMMAND", required=True)
    user_add = user_sub.add_parser(
        "add", help=_("create a user (password from a prompt, or from stdin when piped)")
    )
    add_db_option(user_add)
    user_add.add_argument("name")
    user_add.add_argument("--role", choices=["supervisor", "admin"], default="supervisor")
    user_add.set_defaults(func=run_user_add)
    unlock = user_sub.add_parser("unlock", help=_("lift a lockout after too many wrong passwords"))
    add_db_option(unlock)
    unlock.add_argument("name")
    unlock.set_defaults(func=run_user_unlock)
    disable = user_sub.add_parser("disable", help=_("disable a user and close their sessions"))
    add_db_option(disable)
    disable.add_argument("name")
    disable.add_argument("--enable", action="store_true", help=_("enable the user again"))
    disable.set_defaults(func=run_user_disable)
    reset = user_sub.add_parser(
        "reset-password", help=_("set a new password (prompt or stdin) and close the sessions")
    )
    add_db_option(reset)
    reset.add_argument("name")
    reset.set_defaults(func=run_user_reset_password)

    lot = sub.add_parser("lot", help=_("donor lots"))
    lot_sub = lot.add_subparsers(dest="lot_command", metavar="COMMAND", required=True)
    lot_add = lot_sub.add_parser("add", help=_("create a donor lot"))
    add_db_option(lot_add)
    lot_add.add_argument("code")
    lot_add.add_argument("--donor", default="", help=_("the donor company"))
    lot_add.add_argument("--received", default=None, help=_("date received (YYYY-MM-DD)"))
    lot_add.add_argument("--note", default="")
    lot_add.set_defaults(func=run_lot_add)

    event = sub.add_parser("event", help=_("lifecycle events"))
    event_sub = event.add_subparsers(dest="event_command", metavar="COMMAND", required=True)
    erase = event_sub.add_parser(
        "erase-beneficiary",
        help=_("erase a beneficiary's pseudonym on request (a tombstone replaces it)"),
    )
    add_db_option(erase)
    erase.add_argument("ref")
    erase.set_defaults(func=run_event_erase)

    audit = sub.add_parser("audit", help=_("the audit hash chain"))
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    verify = audit_sub.add_parser("verify", help=_("check that no record or event was altered"))
    add_db_option(verify)
    verify.add_argument(
        "--checkpoint",
        metavar="FILE",
        help=_("also check that the chain still holds this checkpoint (no rollback)"),
    )
    verify.set_defaults(func=run_audit_verify)
    point = audit_sub.add_parser(
        "checkpoint",
        help=_("write the chain's head, signed by the ledger's key, to keep elsewhere"),
    )
    add_db_option(point)
    point.add_argument("--out", metavar="FILE", help=_("file to write (default: print it)"))
    point.set_defaults(func=run_audit_checkpoint)


def run_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    import uvicorn

    from bench_agent.ledger.app import create_app
    from bench_agent.ledger.db import Store

    store = Store(args.db)
    store.check_connection()
    from bench_agent.ledger.migrations import current_revision

    if store.is_empty() or current_revision(store.engine) is None:
        print(_("Creating the ledger tables in {url}", url=store.display_url), file=sys.stderr)
        store.upgrade()
    print(
        _(
            "Ledger on http://{host}:{port} (database {url})",
            host=args.host,
            port=args.port,
            url=store.display_url,
        ),
        file=sys.stderr,
    )
    try:
        if args.workers > 1:
            # Each process builds its own app (and engine) from the environment.
            os.environ["BENCH_LEDGER_DB"] = store.url
            if args.images:
                os.environ["BENCH_LEDGER_IMAGES"] = str(Path(args.images).resolve())
            os.environ["BENCH_LEDGER_MAX_RECORD_BYTES"] = str(args.max_record_mb * 1024 * 1024)
            store.dispose()
            uvicorn.run(
                "bench_agent.ledger.app:app_from_env",
                factory=True,
                workers=args.workers,
                host=args.host,
                port=args.port,
                log_level="warning",
                access_log=False,
                # Open dashboard streams must not hold a stop for their whole lifetime.
                timeout_graceful_shutdown=5,
            )
        else:
            app = create_app(
                store,
                images_dir=Path(args.images) if args.images else None,
                max_record_bytes=args.max_record_mb * 1024 * 1024,
            )
            # Start-up objects never die: keep the collector from walking them at every pass
            # (long pauses show as heartbeat latency).
            gc.collect()
            gc.freeze()
            uvicorn.run(
                app,
                host=args.host,
                port=args.port,
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=5,
            )
    except OSError as exc:
        raise BenchError(
            _("Cannot listen on {host}:{port}: {error}", host=args.host, port=args.port, error=exc),
            _("Choose another port with --port, or stop the program using it."),
        ) from exc
    return EXIT_OK


def run_db_upgrade(args: argparse.Namespace) -> int:
    from bench_agent.ledger.migrations import current_revision

    store = open_store(args, upgrade=True)
    print(
        _(
            "Database {url} is at revision {revision}.",
            url=store.display_url,
            revision=current_revision(store.engine),
        )
    )
    return EXIT_OK


def _station_row(session: Any, name: str) -> Any:
    from sqlalchemy import select

    from bench_agent.ledger.models import Station

    row = session.scalar(select(Station).where(Station.name == name))
    if row is None:
        raise InputError(
            _("No station '{name}'.", name=name),
            _("List the stations with 'bench-ledger station list'."),
        )
    return row


def _retire_keys(session: Any, row: Any) -> None:
    from bench_agent.ledger import audit
    from bench_agent.ledger.models import utcnow

    now = utcnow()
    for key in row.keys:
        if key.retired_at is None:
            key.retired_at = now
            audit.append(session, key, cli_actor())
    row.public_key = None
    row.key_id = None


def _print_token(token: str, name: str) -> None:
    """A station's new token on stdout, and how to enrol the bench with it on stderr."""
    print(token)
    print(
        _(
            "On the bench: bench-agent enroll --ledger URL --token {token} --station {name}",
            token=token,
            name=name,
        ),
        file=sys.stderr,
    )


def run_station_rotate_token(args: argparse.Namespace) -> int:
    from bench_agent.ledger.auth import hash_token, new_station_token

    token = new_station_token()
    store = open_store(args)
    with store.write() as session:
        row = _station_row(session, args.name)
        row.token_hash = hash_token(token)
        row.disabled = False
    print(_("New token of station '{name}' (shown only now):", name=args.name))
    _print_token(token, args.name)
    return EXIT_OK


def run_station_revoke(args: argparse.Namespace) -> int:
    store = open_store(args)
    with store.write() as session:
        row = _station_row(session, args.name)
        row.disabled = True
        _retire_keys(session, row)
    print(
        _(
            "Station '{name}' revoked: its token is refused and its key signs nothing new.",
            name=args.name,
        )
    )
    return EXIT_OK


def run_station_reset_key(args: argparse.Namespace) -> int:
    store = open_store(args)
    with store.write() as session:
        _retire_keys(session, _station_row(session, args.name))
    print(
        _(
            "Station '{name}' may now publish a new key (bench-agent enroll).",
            name=args.name,
        )
    )
    return EXIT_OK


def run_station_add(args: argparse.Namespace) -> int:
    import re

    from bench_agent.ledger.api import create_station
    from bench_agent.ledger.schemas import NAME_PATTERN

    if not re.match(NAME_PATTERN, args.name):
        raise InputError(
            _("Invalid station name '{name}'.", name=args.name),
            _("Use letters, digits, dot, dash or underscore (at most 64)."),
        )
    store = open_store(args)
    token = create_station(store, args.name, args.location, cli_actor())
    print(_("Station '{name}' created. Its token (shown only now):", name=args.name))
    _print_token(token, args.name)
    return EXIT_OK


def run_station_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from bench_agent.cli.output import print_json, print_table
    from bench_agent.ledger.api import station_out
    from bench_agent.ledger.models import Station

    store = open_store(args)
    with store.session() as session:
        stations = [
            station_out(s)
            for s in session.scalars(
                select(Station).options(selectinload(Station.heartbeat)).order_by(Station.name)
            )
        ]
    if args.json:
        print_json([s.model_dump(mode="json") for s in stations])
        return EXIT_OK
    print_table(
        [_("station"), _("location"), _("key"), _("last seen"), _("online")],
        [
            (
                s.name,
                s.location,
                s.key_id or "-",
                s.last_seen_at.strftime("%Y-%m-%d %H:%M:%S") if s.last_seen_at else "-",
                _("yes") if s.online else _("no"),
            )
            for s in stations
        ],
    )
    return EXIT_OK


def read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(_("Password: "))
        second = getpass.getpass(_("Password again: "))
        if first != second:
            raise InputError(_("The two passwords differ."), _("Type the same password twice."))
        return first
    return sys.stdin.readline().rstrip("\r\n")


def check_password(password: str, name: str) -> None:
    from bench_agent.ledger.throttle import password_problem

    problem = password_problem(password, name)
    if problem:
        raise InputError(problem, _("Choose a longer password, e.g. a sentence of several words."))


def _user_row(session: Any, name: str) -> Any:
    from sqlalchemy import select

    from bench_agent.ledger.models import User

    row = session.scalar(select(User).where(User.name == name))
    if row is None:
        raise InputError(
            _("No user '{name}'.", name=name), _("List the users in the database first.")
        )
    return row


def _chain(session: Any, row: Any) -> None:
    from bench_agent.ledger import audit

    audit.append(session, row, cli_actor())


def _end_sessions(session: Any, user_id: int) -> None:
    from sqlalchemy import delete

    from bench_agent.ledger.models import UserSession

    session.execute(delete(UserSession).where(UserSession.user_id == user_id))


def run_user_unlock(args: argparse.Namespace) -> int:
    """Lift a lockout after too many wrong passwords (works for the last admin too)."""
    store = open_store(args)
    with store.write() as session:
        row = _user_row(session, args.name)
        row.failed_logins = 0
        row.locked_at = None
    print(_("User '{name}' unlocked.", name=args.name))
    return EXIT_OK


def run_user_disable(args: argparse.Namespace) -> int:
    store = open_store(args)
    with store.write() as session:
        row = _user_row(session, args.name)
        row.disabled = not args.enable
        _end_sessions(session, row.id)
        _chain(session, row)
    message = (
        _("User '{name}' enabled.", name=args.name)
        if args.enable
        else _("User '{name}' disabled; their sessions are closed.", name=args.name)
    )
    print(message)
    return EXIT_OK


def run_user_reset_password(args: argparse.Namespace) -> int:
    from bench_agent.ledger.auth import hash_password

    password = read_password()
    check_password(password, args.name)
    store = open_store(args)
    with store.write() as session:
        row = _user_row(session, args.name)
        row.password_hash = hash_password(password)
        row.failed_logins = 0
        row.locked_at = None
        _end_sessions(session, row.id)
        _chain(session, row)
    print(_("Password of '{name}' changed; their sessions are closed.", name=args.name))
    return EXIT_OK


def run_user_add(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from bench_agent.ledger.auth import hash_password
    from bench_agent.ledger.models import User

    password = read_password()
    check_password(password, args.name)
    store = open_store(args)
    with store.write() as session:
        if session.scalar(select(User.id).where(User.name == args.name)) is not None:
            raise InputError(
                _("User '{name}' already exists.", name=args.name), _("Choose another name.")
            )
        user = User(
            name=args.name,
            role=args.role,
            password_hash=hash_password(password),
            created_by=cli_actor(),
        )
        session.add(user)
        _chain(session, user)
    print(_("User '{name}' created ({role}).", name=args.name, role=args.role))
    return EXIT_OK


def run_lot_add(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from bench_agent.ledger.api import create_lot
    from bench_agent.ledger.schemas import LotIn

    try:
        body = LotIn(code=args.code, donor=args.donor, received_on=args.received, note=args.note)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(
            _(
                "Invalid lot field '{field}': {error}",
                field=".".join(str(p) for p in first["loc"]),
                error=first["msg"],
            ),
            _("Codes use letters, digits, dot, dash or underscore; dates are YYYY-MM-DD."),
        ) from exc
    store = open_store(args)
    lot = create_lot(store, body, cli_actor())
    print(_("Lot '{code}' created.", code=lot.code))
    return EXIT_OK


def run_event_erase(args: argparse.Namespace) -> int:
    """The right to erasure: the pseudonym disappears from every event; the audit chain
    records the tombstone, so ``audit verify`` stays intact."""
    from sqlalchemy import select

    from bench_agent.ledger import audit
    from bench_agent.ledger.models import LifecycleEvent
    from bench_agent.ledger.schemas import ERASED_PSEUDONYM

    store = open_store(args)
    with store.write() as session:
        rows = session.scalars(
            select(LifecycleEvent).where(LifecycleEvent.beneficiary_ref == args.ref)
        ).all()
        for row in rows:
            row.beneficiary_ref = ERASED_PSEUDONYM
            audit.append(session, row, cli_actor())
    print(
        _(
            "{count} event(s) of beneficiary {ref} erased: the pseudonym is replaced by "
            "'{tombstone}' and the change is chained in the audit log.",
            count=len(rows),
            ref=args.ref,
            tombstone=ERASED_PSEUDONYM,
        )
    )
    return EXIT_OK


def _ledger_key(create: bool) -> Any:
    """The ledger's own signing key (audit checkpoints); its public half printed at creation."""
    from bench_agent.ledger.audit import ledger_key_path
    from bench_agent.signing import load_or_create_key, public_key_text

    path = ledger_key_path()
    if not path.exists() and not create:
        return None
    existed = path.exists()
    key = load_or_create_key(path)
    if not existed:
        print(
            _(
                "Created the ledger's audit key {path}; its public key (note it down):",
                path=path,
            ),
            file=sys.stderr,
        )
        print(public_key_text(key.public_key()), file=sys.stderr)
    return key


def run_audit_checkpoint(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from bench_agent.ledger.audit import checkpoint

    store = open_store(args)
    key = _ledger_key(create=True)
    with store.session() as session:
        document = checkpoint(session, key, store.display_url)
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(
            _(
                "Checkpoint of entry {seq} written to {path}: keep it away from the ledger's "
                "server.",
                seq=document["seq"],
                path=args.out,
            )
        )
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _read_checkpoint(path: str) -> dict[str, Any]:
    import json
    from pathlib import Path

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(_("must be a JSON object"))
    except (OSError, ValueError) as exc:
        raise InputError(
            _("Cannot read the checkpoint {path}: {error}", path=path, error=exc),
            _("Give the file 'bench-ledger audit checkpoint --out' wrote."),
        ) from exc
    return data


def run_audit_verify(args: argparse.Namespace) -> int:
    from bench_agent.ledger.audit import check_checkpoint, verify_chain
    from bench_agent.signing import public_key_text

    store = open_store(args)
    with store.session() as session:
        count, problems = verify_chain(session)
        if getattr(args, "checkpoint", None):
            key = _ledger_key(create=False)
            public = public_key_text(key.public_key()) if key is not None else None
            problems += check_checkpoint(session, _read_checkpoint(args.checkpoint), public)
    if problems:
        for problem in problems:
            print(_("error: {message}", message=problem.message), file=sys.stderr)
        print(
            _(
                "hint: {hint}",
                hint=_("Restore the database from a backup, or investigate who changed it."),
            ),
            file=sys.stderr,
        )
        return EXIT_FAILURE
    print(_("Audit chain intact: {count} entries checked.", count=count))
    return EXIT_OK


# ----------------------------------------------------------------------------------- entry
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench-ledger",
        description=_("Central ledger of the refurbishment benches."),
    )
    parser.add_argument("--version", action="version", version=f"bench-ledger {__version__}")
    parser.add_argument("--debug", action="store_true", help=_("show tracebacks on errors"))
    parser.add_argument("--lang", choices=["en", "fr"], help=_("language of the output"))
    add_db_option(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = sys.modules[__name__] if name == __name__ else importlib.import_module(name)
        module.register(sub)
    return parser


def _database_error(exc: Exception) -> BenchError | None:
    """A database error the commands did not foresee (server gone, disk full): one line."""
    if not type(exc).__module__.startswith(("sqlalchemy", "psycopg", "sqlite3")):
        return None
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return BenchError(
        _("database error: {detail}", detail=detail),
        _("Check the database URL and that the server runs."),
        exit_code=EXIT_FAILURE,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    apply_language_option(args_list)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    return run_command(args, _database_error)


if __name__ == "__main__":
    sys.exit(main())
