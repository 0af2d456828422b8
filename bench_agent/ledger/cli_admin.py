"""``bench-ledger station|user|lot|event``: administer stations, users, lots and events."""

import argparse
import getpass
import sys
from typing import Any

from bench_agent.errors import EXIT_OK, InputError
from bench_agent.i18n import _
from bench_agent.ledger.cli_base import add_db_option, cli_actor, open_store


def register(sub: Any) -> None:
    station = sub.add_parser("station", help=_("bench stations"))
    station_sub = station.add_subparsers(dest="station_command", metavar="COMMAND", required=True)
    add = station_sub.add_parser("add", help=_("create a station and print its token once"))
    add_db_option(add)
    add.add_argument("name")
    add.add_argument("--location", default="", help=_("where the bench stands"))
    add.add_argument("--site", metavar="CODE", help=_("the site the bench belongs to"))
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
    user_add.add_argument(
        "--site", metavar="CODE", help=_("the supervisor's site (default: the default site)")
    )
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

    site = sub.add_parser("site", help=_("the programme's sites (several need PostgreSQL)"))
    site_sub = site.add_subparsers(dest="site_command", metavar="COMMAND", required=True)
    site_add = site_sub.add_parser("add", help=_("create a site (a workshop of the programme)"))
    add_db_option(site_add)
    site_add.add_argument("code", help=_("2 to 16 capital letters or digits, e.g. POITIERS"))
    site_add.add_argument("--name", default="", help=_("the workshop's name"))
    site_add.set_defaults(func=run_site_add)
    site_list = site_sub.add_parser("list", help=_("list the sites"))
    add_db_option(site_list)
    site_list.set_defaults(func=run_site_list)

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
    audit.append(session, row, cli_actor())  # the station row is chained too


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
        _chain(session, row)
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
    if args.site:
        from bench_agent.ledger.sites import set_site, site_by_code

        with store.session() as session:
            set_site(site_by_code(session, args.site).id)  # the station is stamped with it
    token = create_station(store, args.name, args.location, cli_actor())
    print(_("Station '{name}' created. Its token (shown only now):", name=args.name))
    _print_token(token, args.name)
    return EXIT_OK


def run_station_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from bench_agent.console.output import print_json, print_table
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
    from bench_agent.ledger.sites import DEFAULT_SITE_ID, site_by_code

    password = read_password()
    check_password(password, args.name)
    store = open_store(args)
    with store.write() as session:
        if session.scalar(select(User.id).where(User.name == args.name)) is not None:
            raise InputError(
                _("User '{name}' already exists.", name=args.name), _("Choose another name.")
            )
        site_id = None  # an admin: the programme administrator, every site
        if args.role == "supervisor":
            site_id = site_by_code(session, args.site).id if args.site else DEFAULT_SITE_ID
        elif args.site:
            raise InputError(
                _("An admin administers every site: --site is for supervisors."),
                _("Drop --site, or use --role supervisor."),
            )
        user = User(
            name=args.name,
            role=args.role,
            password_hash=hash_password(password),
            created_by=cli_actor(),
            site_id=site_id,
        )
        session.add(user)
        _chain(session, user)
    print(_("User '{name}' created ({role}).", name=args.name, role=args.role))
    return EXIT_OK


def run_site_add(args: argparse.Namespace) -> int:
    from bench_agent.ledger.sites import add_site

    site = add_site(open_store(args), args.code, args.name, cli_actor())
    print(_("Site '{code}' created.", code=site.code))
    return EXIT_OK


def run_site_list(args: argparse.Namespace) -> int:
    from bench_agent.ledger.sites import list_sites

    for row in list_sites(open_store(args)):
        print(f"{row['code']}\t{row['stations']}\t{row['name']}")
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
