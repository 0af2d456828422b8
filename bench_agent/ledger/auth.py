"""Who is calling: station tokens, user passwords and sessions, and the FastAPI dependencies.

- Stations send ``Authorization: Bearer <station token>``. Tokens are 256-bit random strings
  shown once by ``bench-ledger station add``; only their SHA-256 is stored (a high-entropy token
  needs no slow hash) and the lookup result is compared with ``hmac.compare_digest``.
- Users (supervisor, admin) log in with a password (argon2id hash) at ``POST /api/v1/login`` and
  get a session token, returned in the body and as the ``bench_session`` cookie (HttpOnly,
  SameSite=Strict); either one authenticates them afterwards.

Dependencies for routes (the dashboard reuses them): ``require_station``,
``require_supervisor`` (supervisor or admin), ``require_admin``, and
``current_user_from_cookie`` (``None`` when nobody is logged in, for HTML pages that redirect).
Each returns a :class:`Principal` whose ``actor`` string is what the ledger writes in the
``created_by`` columns.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import delete, select

from bench_agent.i18n import _
from bench_agent.ledger.db import Store
from bench_agent.ledger.models import Station, User, UserSession, utcnow
from bench_agent.ledger.throttle import LOCKOUT_FAILURES, LoginThrottle, hash_slots

SESSION_COOKIE = "bench_session"
SESSION_LIFETIME = timedelta(hours=12)
STATION_TOKEN_PREFIX = "bst_"
USER_TOKEN_PREFIX = "bus_"
ROLES = ("supervisor", "admin")

bearer_scheme = HTTPBearer(auto_error=False, description="Station token or user session token")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_station_token() -> str:
    return STATION_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_token() -> str:
    return USER_TOKEN_PREFIX + secrets.token_urlsafe(32)


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    result: str = _hasher().hash(password)
    return result


def verify_password(password_hash: str, password: str) -> bool:
    """Check a password; at most ``throttle.HASH_SLOTS`` checks run at once (CPU bound)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    with hash_slots:
        try:
            return bool(_hasher().verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False


# A hash to verify against when the user does not exist, so timing does not reveal names.
_DUMMY_HASH: str | None = None


def dummy_password_check(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    verify_password(_DUMMY_HASH, password)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    kind: str  # "station" | "user"
    name: str
    role: str  # "station" | "supervisor" | "admin"
    station_id: int | None = None
    user_id: int | None = None

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def is_supervisor(self) -> bool:
        return self.role in ROLES


class _StationCache:
    """token hash → station for a few seconds: heartbeats arrive every second per bench."""

    ttl_s = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, token_hash: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(token_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token_hash: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[token_hash] = (time.monotonic() + self.ttl_s, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


station_cache = _StationCache()


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"}
    )


def station_from_token(store: Store, token: str) -> Principal | None:
    if not token.startswith(STATION_TOKEN_PREFIX):
        return None
    digest = hash_token(token)
    cached = station_cache.get(digest)
    if cached is not None:
        return cached
    with store.session() as session:
        station = session.scalar(select(Station).where(Station.token_hash == digest))
        if station is None or station.disabled:
            return None
        if not hmac.compare_digest(station.token_hash, digest):
            return None
        principal = Principal("station", station.name, "station", station_id=station.id)
    station_cache.put(digest, principal)
    return principal


def user_from_session_token(store: Store, token: str) -> Principal | None:
    if not token.startswith(USER_TOKEN_PREFIX):
        return None
    digest = hash_token(token)
    with store.session() as session:
        row = session.get(UserSession, digest)
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        if row.expires_at < utcnow() or row.user.disabled:
            return None
        return Principal("user", row.user.name, row.user.role, user_id=row.user.id)


class LoginRefused(Exception):
    """A login not even checked: throttled (429, ``retry_after`` seconds) or locked (403)."""

    def __init__(self, status_code: int, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.retry_after = retry_after


def create_session(
    store: Store,
    name: str,
    password: str,
    *,
    address: str = "",
    throttle: LoginThrottle | None = None,
) -> tuple[str, Principal] | None:
    """Check a password; on success store a new session and return its token.

    The hash is checked outside any transaction (it takes ~200 ms): the user is read, the
    password checked, then the session (or the failure count) written in a short transaction.
    With a ``throttle``, repeated failures are delayed and a locked account is refused
    (:class:`LoginRefused`) before any hash is computed.
    """
    if throttle is not None:
        wait = throttle.begin(name, address)
        if wait > 0:
            raise LoginRefused(
                429,
                _(
                    "Too many wrong passwords: try again in {seconds} s.",
                    seconds=max(1, round(wait)),
                ),
                wait,
            )
    try:
        result = _check_and_open(store, name, password)
    except BaseException:
        if throttle is not None:
            throttle.abandon(name, address)
        raise
    if throttle is not None:
        if result is None:
            throttle.failed(name, address)
        else:
            throttle.succeeded(name, address)
    return result


def _check_and_open(store: Store, name: str, password: str) -> tuple[str, Principal] | None:
    with store.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        found = (
            None
            if user is None or user.disabled
            else (user.id, user.name, user.role, user.password_hash, user.locked_at)
        )
    if found is None:
        dummy_password_check(password)
        return None
    user_id, user_name, role, password_hash, locked_at = found
    if locked_at is not None:
        raise LoginRefused(
            403,
            _(
                "Account '{name}' is locked after too many wrong passwords: an admin unlocks it "
                "(bench-ledger user unlock {name}).",
                name=user_name,
            ),
        )
    if not verify_password(password_hash, password):
        _count_failure(store, user_id)
        return None
    token = new_session_token()
    with store.write() as session:
        row = session.get(User, user_id)
        if row is None or row.disabled or row.locked_at is not None:
            return None
        if row.failed_logins:
            row.failed_logins = 0
        session.execute(delete(UserSession).where(UserSession.expires_at < utcnow()))
        session.add(
            UserSession(
                token_hash=hash_token(token),
                user_id=user_id,
                expires_at=utcnow() + SESSION_LIFETIME,
            )
        )
    return token, Principal("user", user_name, role, user_id=user_id)


def _count_failure(store: Store, user_id: int) -> None:
    """One more consecutive wrong password; the account locks at ``LOCKOUT_FAILURES``."""
    with store.write() as session:
        row = session.get(User, user_id)
        if row is None:
            return
        row.failed_logins = (row.failed_logins or 0) + 1
        if row.failed_logins >= LOCKOUT_FAILURES and row.locked_at is None:
            row.locked_at = utcnow()


def end_session(store: Store, token: str) -> None:
    with store.write() as session:
        row = session.get(UserSession, hash_token(token))
        if row is not None:
            session.delete(row)


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        return ""
    return credentials.credentials.strip()


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
CookieToken = Annotated[str | None, Depends(cookie_scheme)]


async def require_station(request: Request, credentials: BearerCredentials) -> Principal:
    """A station authenticated by its bearer token (401 otherwise)."""
    token = _bearer_token(credentials)
    if not token:
        await _refuse_users(request, request.cookies.get(SESSION_COOKIE, ""))
        raise unauthorized(_("A station token is required (Authorization: Bearer …)."))
    # Heartbeats come every second from every bench: answer from the cache when possible.
    principal = station_cache.get(hash_token(token))
    if principal is None:
        principal = await run_in_threadpool(station_from_token, get_store(request), token)
    if principal is None:
        await _refuse_users(request, token)
        raise unauthorized(_("The station token is not valid (unknown, revoked or mistyped)."))
    return principal


async def _refuse_users(request: Request, token: str) -> None:
    """A logged-in supervisor or admin is known but not allowed here: 403, not 401."""
    if token.startswith(USER_TOKEN_PREFIX):
        user = await run_in_threadpool(user_from_session_token, get_store(request), token)
        if user is not None:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=_("Only a station may send this (supervisors and admins may not)."),
            )


def current_user_from_cookie(request: Request) -> Principal | None:
    """The logged-in user of an HTML page (session cookie), or None."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    return user_from_session_token(get_store(request), token)


def optional_user(
    request: Request, credentials: BearerCredentials, cookie: CookieToken
) -> Principal | None:
    token = _bearer_token(credentials) or (cookie or "")
    if not token:
        return None
    return user_from_session_token(get_store(request), token)


def require_supervisor(
    request: Request, credentials: BearerCredentials, cookie: CookieToken
) -> Principal:
    """A supervisor or admin, by bearer session token or session cookie."""
    token = _bearer_token(credentials) or (cookie or "")
    if not token:
        raise unauthorized(_("Log in first (POST /api/v1/login)."))
    principal = user_from_session_token(get_store(request), token)
    if principal is None:
        if station_from_token(get_store(request), token) is not None:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=_("Stations cannot read or change this.")
            )
        raise unauthorized(_("The session has expired or is not valid: log in again."))
    return principal


def require_admin(
    principal: Annotated[Principal, Depends(require_supervisor)],
) -> Principal:
    if principal.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=_("Only an admin may do this."))
    return principal


StationPrincipal = Annotated[Principal, Depends(require_station)]
SupervisorPrincipal = Annotated[Principal, Depends(require_supervisor)]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]
