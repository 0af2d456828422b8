"""ASGI middleware: the caller's site for the whole request (``ledger/sites.py`` scopes every
query with it). A supervisor's session (bearer token or cookie) gives their site, a station's
token its station's site; an admin, an unknown token or no token (the public pages) give none.
An unknown token is refused later by the route's own authentication, as before."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from bench_agent.ledger.auth import (
    SESSION_COOKIE,
    STATION_TOKEN_PREFIX,
    USER_TOKEN_PREFIX,
    hash_token,
)
from bench_agent.ledger.db import Store
from bench_agent.ledger.models import Station, User, UserSession, utcnow
from bench_agent.ledger.sites import DEFAULT_SITE_ID, set_site


def _token(scope: Any) -> str:
    cookie = ""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text: str = value.decode("latin-1").strip()
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
        elif name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _sep, val = part.strip().partition("=")
                if key == SESSION_COOKIE:
                    cookie = val.strip('"')
    return cookie


class _Cache:
    """token hash → site for a few seconds (stations send a heartbeat every second)."""

    ttl_s = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, int | None]] = {}

    def get(self, key: str) -> tuple[bool, int | None]:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: str, site_id: int | None) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl_s, site_id)


def site_of_token(store: Store, token: str) -> int | None:
    digest = hash_token(token)
    with store.session() as session:
        if token.startswith(STATION_TOKEN_PREFIX):
            site = session.scalar(select(Station.site_id).where(Station.token_hash == digest))
            return int(site) if site is not None else None
        row = session.execute(
            select(User.role, User.site_id, UserSession.expires_at)
            .join(UserSession, UserSession.user_id == User.id)
            .where(UserSession.token_hash == digest)
        ).first()
        if row is None or row.expires_at < utcnow() or row.role == "admin":
            return None
        return int(row.site_id) if row.site_id is not None else DEFAULT_SITE_ID


class SiteScope:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.cache = _Cache()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            token = _token(scope)
            site_id: int | None = None
            if token.startswith((STATION_TOKEN_PREFIX, USER_TOKEN_PREFIX)):
                key = hash_token(token)
                found, site_id = self.cache.get(key)
                if not found:
                    store: Store = scope["app"].state.store
                    site_id = await run_in_threadpool(site_of_token, store, token)
                    self.cache.put(key, site_id)
            set_site(site_id)
        await self.app(scope, receive, send)
