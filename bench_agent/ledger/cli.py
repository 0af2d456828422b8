"""``bench-ledger``: run and administer the central ledger.

Every subcommand takes ``--db URL`` (default: ``BENCH_LEDGER_DB``, else the embedded SQLite file
in the data directory, ``BENCH_LEDGER_HOME``). Other parts add their command groups to
``COMMAND_MODULES``: a module exposes ``register(sub)`` adding subparsers with
``set_defaults(func=run)``; ``run(args) -> int``; ``open_store(args)`` gives the database.
This module registers ``serve``, ``db`` and ``audit``; ``cli_admin`` the administration groups.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from bench_agent import __version__
from bench_agent.console.runner import apply_language_option, run_command
from bench_agent.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, BenchError, InputError
from bench_agent.i18n import _
from bench_agent.ledger import board_cmd, cli_admin, validation_cmd
from bench_agent.ledger.cli_base import add_db_option, cli_actor, open_store
from bench_agent.ledger.settings import env_name

# Command groups after this module's own (in the order of the help).
COMMAND_MODULES = (board_cmd, validation_cmd)
__all__ = ["COMMAND_MODULES", "add_db_option", "cli_actor", "main", "open_store"]


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
    cli_admin.register(sub)

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
    from bench_agent.ledger.environment import configured_override, load_factors

    load_factors(configured_override())  # a wrong factors file stops here, naming file and field
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
            # (app_from_env reads them back through LedgerSettings)
            os.environ[env_name("db")] = store.url
            if args.images:
                os.environ[env_name("images")] = str(Path(args.images).resolve())
            os.environ[env_name("max_record_bytes")] = str(args.max_record_mb * 1024 * 1024)
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
def build_parser(extra_groups: Sequence[ModuleType] = ()) -> argparse.ArgumentParser:
    """The parser of this module's commands, then ``extra_groups``', then COMMAND_MODULES'."""
    parser = argparse.ArgumentParser(
        prog="bench-ledger",
        description=_("Central ledger of the refurbishment benches."),
    )
    parser.add_argument("--version", action="version", version=f"bench-ledger {__version__}")
    parser.add_argument("--debug", action="store_true", help=_("show tracebacks on errors"))
    parser.add_argument("--lang", choices=["en", "fr"], help=_("language of the output"))
    add_db_option(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    register(sub)
    for module in (*extra_groups, *COMMAND_MODULES):
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


def main(argv: Sequence[str] | None = None, extra_groups: Sequence[ModuleType] = ()) -> int:
    """``bench-ledger`` (its entry point, bench_agent.cli.ledger_board, adds ``board``)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    apply_language_option(args_list)
    parser = build_parser(extra_groups)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    return run_command(args, _database_error)


if __name__ == "__main__":
    sys.exit(main())
