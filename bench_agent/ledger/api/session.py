"""Health, login, logout and who am I."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from bench_agent import __version__
from bench_agent.i18n import _
from bench_agent.ledger.api.common import (
    responses,
    store_of,
)
from bench_agent.ledger.auth import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    LoginRefused,
    Principal,
    create_session,
    end_session,
)
from bench_agent.ledger.models import (
    utcnow,
)
from bench_agent.ledger.schemas import (
    Health,
    LoginRequest,
    LoginResponse,
    Me,
)

router = APIRouter(prefix="/api/v1")


# --------------------------------------------------------------------------- health & login
@router.get("/health", response_model=Health, tags=["health"])
def health() -> Health:
    """Liveness check (no database access): the benchmark's baseline."""
    return Health(version=__version__)


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def checked_login(request: Request, name: str, password: str) -> tuple[str, Principal] | None:
    """``create_session`` with the app's throttle; 429/403 when refused unchecked."""
    try:
        return create_session(
            store_of(request),
            name,
            password,
            address=client_address(request),
            throttle=request.app.state.login_throttle,
        )
    except LoginRefused as exc:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else None
        raise HTTPException(exc.status_code, detail=exc.message, headers=headers) from exc


@router.post(
    "/login", response_model=LoginResponse, tags=["auth"], responses=responses(401, 403, 429)
)
def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
    """Log a supervisor or admin in: session token in the body and as a cookie.

    Wrong passwords are throttled per account and per client address (429 with
    ``Retry-After``); an account locked after too many is refused (403) until an admin unlocks it.
    """
    result = checked_login(request, body.name, body.password)
    if result is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=_("Unknown user or wrong password."),
            headers={"WWW-Authenticate": "Bearer"},
        )
    token, principal = result
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return LoginResponse(
        token=token,
        name=principal.name,
        role=principal.role,
        expires_at=utcnow() + SESSION_LIFETIME,
    )


@router.post("/logout", status_code=204, tags=["auth"])
def logout(request: Request, response: Response) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    if token:
        end_session(store_of(request), token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/me", response_model=Me, tags=["auth"], responses=responses(401))
def me(request: Request) -> Me:
    """Who the credentials belong to (a station token or a user session)."""
    from bench_agent.ledger.auth import station_from_token

    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    token = token or request.cookies.get(SESSION_COOKIE, "")
    store = store_of(request)
    principal: Principal | None = station_from_token(store, token) if token else None
    if principal is None and token:
        from bench_agent.ledger.auth import user_from_session_token

        principal = user_from_session_token(store, token)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=_("No valid credentials."),
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Me(kind=principal.kind, name=principal.name, role=principal.role)
