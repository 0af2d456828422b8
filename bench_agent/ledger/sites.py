"""Sites: several workshops of one programme on one ledger, and the ONE place that scopes data.

A site supervisor sees and changes only their site; a programme administrator (role ``admin``,
no site) and the ledger's own tools (CLI, migrations, the public ``/verify`` page) see every
site. The scope is a context variable, set once per request by :class:`SiteScope` (the ASGI
middleware resolves the caller's token or cookie) or by ``bench-ledger report --site``; every
ORM query of a session then gets the site's criteria (``with_loader_criteria``, added by the
``do_orm_execute`` hook below), so an API endpoint, a dashboard page, an export, a zip or a
label never filters by hand: another site's row is simply not found (404, the same answer as a
missing id, so ids do not leak). New rows written in a scoped request are stamped with the
caller's site (``before_flush``).

Site-owned tables: stations, lots, assets, parts (``site_id``) and users (NULL for admins;
users are not filtered: logging in and sessions need them, and only admins manage accounts).
Records and heartbeats belong to their station's site, certificates and lifecycle events to
their machine's, part events to their part's. On SQLite one site exists (the default site,
``MAIN``, created by migration 0007) and a second one is refused: several sites are for
PostgreSQL.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from bench_agent.errors import InputError
from bench_agent.i18n import _
from bench_agent.ledger.db import Store
from bench_agent.ledger.models import (
    Asset,
    Certificate,
    Heartbeat,
    LifecycleEvent,
    Lot,
    Part,
    PartEvent,
    Record,
    Site,
    Station,
    StationKey,
)

DEFAULT_SITE_ID = 1
SITE_CODE = re.compile(r"^[A-Z0-9]{2,16}$")

# The site the current request (or command) is restricted to; None: every site.
_current_site: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "bench_ledger_site", default=None
)

_OWNED: tuple[type[Any], ...] = (Station, Lot, Asset, Part)


def current_site() -> int | None:
    return _current_site.get()


def set_site(site_id: int | None) -> None:
    """Restrict what follows in this context (request, thread, command) to one site."""
    _current_site.set(site_id)


@contextmanager
def site_scope(site_id: int | None) -> Iterator[None]:
    token = _current_site.set(site_id)
    try:
        yield
    finally:
        _current_site.reset(token)


def _criteria(site_id: int) -> list[Any]:
    stations = select(Station.id).where(Station.site_id == site_id).scalar_subquery()
    assets = select(Asset.id).where(Asset.site_id == site_id).scalar_subquery()
    parts = select(Part.id).where(Part.site_id == site_id).scalar_subquery()
    options: list[Any] = [
        with_loader_criteria(model, model.site_id == site_id, include_aliases=True)
        for model in _OWNED
    ]
    options += [
        with_loader_criteria(Record, Record.station_id.in_(stations), include_aliases=True),
        with_loader_criteria(Heartbeat, Heartbeat.station_id.in_(stations)),
        with_loader_criteria(StationKey, StationKey.station_id.in_(stations)),
        with_loader_criteria(Certificate, Certificate.asset_id.in_(assets)),
        with_loader_criteria(LifecycleEvent, LifecycleEvent.asset_id.in_(assets)),
        with_loader_criteria(PartEvent, PartEvent.part_id.in_(parts)),
    ]
    return options


@event.listens_for(Session, "do_orm_execute")
def _scope_query(state: ORMExecuteState) -> None:
    site_id = _current_site.get()
    if site_id is None or state.is_column_load or state.is_relationship_load:
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(*_criteria(site_id))


@event.listens_for(Session, "before_flush")
def _stamp_site(session: Session, _context: Any, _instances: Any) -> None:
    site_id = _current_site.get()
    if site_id is None:
        return
    for row in session.new:
        if isinstance(row, _OWNED) and row.site_id is None:
            row.site_id = site_id


def programme_wide(session: Session, statement: Any) -> Any:
    """The first value of ``statement`` across every site: names and codes (stations, lots,
    parts) are unique in the whole programme, so a uniqueness check must see them all."""
    with site_scope(None):
        return session.scalar(statement)


def other_site_has(session: Session, asset_tag: str) -> bool:
    """Whether a machine with this tag exists in a site the caller does not see."""
    site_id = _current_site.get()
    if site_id is None:
        return False
    with site_scope(None):
        return (
            session.scalar(
                select(Asset.id).where(Asset.asset_tag == asset_tag, Asset.site_id != site_id)
            )
            is not None
        )


# --- the programme's sites (bench-ledger site add|list, user add --site) --------------------


def site_by_code(session: Session, code: str) -> Site:
    site = session.scalar(select(Site).where(Site.code == code.strip().upper()))
    if site is None:
        raise InputError(
            _("There is no site '{code}'.", code=code),
            _("List the sites with: bench-ledger site list"),
        )
    return site


def add_site(store: Store, code: str, name: str, actor: str) -> Site:
    """A new site (PostgreSQL only: on SQLite the default site is the only one)."""
    code = code.strip().upper()
    if not SITE_CODE.match(code):
        raise InputError(
            _("Invalid site code '{code}'.", code=code),
            _("Use 2 to 16 capital letters or digits, e.g. POITIERS."),
        )
    if store.is_sqlite:
        raise InputError(
            _("Several sites need the ledger on PostgreSQL; this ledger is a SQLite file."),
            _("Move the ledger to PostgreSQL (bench-ledger --db postgresql://…) first."),
        )
    with store.write() as session:
        if session.scalar(select(Site).where(Site.code == code)) is not None:
            raise InputError(
                _("The site '{code}' already exists.", code=code),
                _("List the sites with: bench-ledger site list"),
            )
        site = Site(code=code, name=name.strip()[:200], created_by=actor)
        session.add(site)
        session.flush()
    return site


def list_sites(store: Store) -> list[dict[str, Any]]:
    from sqlalchemy import func

    with store.session() as session:
        counts = dict(
            session.execute(select(Station.site_id, func.count()).group_by(Station.site_id)).all()
        )
        return [
            {"code": s.code, "name": s.name, "id": s.id, "stations": counts.get(s.id, 0)}
            for s in session.scalars(select(Site).order_by(Site.id))
        ]


__all__ = [
    "DEFAULT_SITE_ID",
    "add_site",
    "current_site",
    "list_sites",
    "set_site",
    "site_by_code",
    "site_scope",
]
