"""The ledger's ASGI app: ``create_app(store)`` wires the API, the dashboard and the store.

``app.state.store`` is the :class:`~bench_agent.ledger.db.Store`; ``app.state.images_dir`` the
folder of image files served to benches; ``app.state.max_record_bytes`` the body limit of
``POST /api/v1/records``; ``app.state.writer`` the queue that group-commits records and
heartbeats, ``app.state.heartbeats`` the coalescing buffer of the latest heartbeats
(:mod:`bench_agent.ledger.writer`). Routes find them through ``request.app.state``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from bench_agent import __version__
from bench_agent.errors import BenchError
from bench_agent.i18n import _
from bench_agent.ledger.db import Store, ledger_home
from bench_agent.ledger.ingest import write_heartbeat
from bench_agent.ledger.inputs import InputProblem, bad_path, load_json
from bench_agent.ledger.site_scope import SiteScope
from bench_agent.ledger.throttle import TARPIT_S, LoginThrottle
from bench_agent.ledger.writer import HeartbeatBuffer, WriteQueue
from bench_agent.models.record import BenchRecord

OTHER_BODY_LIMIT = 1024 * 1024  # every API body but a record is small


class BodyLimit:
    """ASGI middleware: 413 for an API body over 1 MiB (records have their own, larger limit).

    Checks ``Content-Length`` first, then counts a streamed (chunked) body as it arrives.
    """

    def __init__(self, app: Any, limit: int = OTHER_BODY_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/api/") or path == "/api/v1/records":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._reject(send)
                return
        # Small bodies only: read the whole body first, then hand it to the app.
        messages: list[Any] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > self.limit:
                await self._reject(send)
                return
            if not message.get("more_body", False):
                break

        problem = _json_problem(scope, messages)
        if problem is not None:
            await _send_json(send, 422, {"detail": [problem.as_error()]})
            return

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Any) -> None:
        await _send_json(
            send, 413, {"detail": _("The body is larger than {limit} bytes.", limit=self.limit)}
        )


def _json_problem(scope: Any, messages: list[Any]) -> InputProblem | None:
    """What the ledger cannot store in a JSON body (depth, huge or non-finite numbers, …)."""
    content_type = b""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            content_type = value.lower()
    if b"json" not in content_type:
        return None
    raw = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    if not raw.strip():
        return None
    try:
        load_json(raw)
    except InputProblem as problem:
        return problem
    return None


async def _send_json(
    send: Any, status: int, content: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(content).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Pages (dashboard, /verify, error pages): only this origin's scripts and styles, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The interactive API docs load their scripts from a CDN: no CSP there.
NO_CSP_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware: nosniff, no framing, same-origin referrer and a CSP on every answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(SECURITY_HEADERS)
        if not scope.get("path", "").startswith(NO_CSP_PATHS):
            extra.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _value in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((n, v) for n, v in extra if n not in present),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


LOGIN_PATHS = ("/api/v1/login", "/dashboard/login")


class LoginGate:
    """ASGI middleware: a client address inside its login delay waits, then gets 429 from the
    API (the dashboard's form shows it as a page), without its body being read or parsed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and scope.get("path") in LOGIN_PATHS
        ):
            throttle: LoginThrottle = scope["app"].state.login_throttle
            address = (scope.get("client") or ("", 0))[0]
            # A read of the shared counts (the database): off the event loop.
            wait = await run_in_threadpool(throttle.address_wait, address)
            if wait > 0:
                await asyncio.sleep(min(wait, TARPIT_S))
                if scope["path"].startswith("/api/"):
                    await _send_json(
                        send,
                        429,
                        {
                            "detail": _(
                                "Too many wrong passwords: try again in {seconds} s.",
                                seconds=max(1, round(wait)),
                            )
                        },
                        [(b"retry-after", str(max(1, round(wait))).encode())],
                    )
                    return
        await self.app(scope, receive, send)


class PathGuard:
    """ASGI middleware: 404 for a path with control characters (NUL, CR, LF) before any route."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and bad_path(scope.get("path", "")):
            await _send_json(send, 404, {"detail": _("No such page.")})
            return
        await self.app(scope, receive, send)


def _html_page(request: Request) -> bool:
    """An error on a page people read (dashboard, /verify): answered as an HTML page."""
    path = request.url.path
    return getattr(request.app.state, "dashboard", None) is not None and not path.startswith(
        ("/api/", "/openapi.json", "/docs", "/redoc", "/dashboard/api/", "/dashboard/events")
    )


def default_images_dir() -> Path:
    return ledger_home() / "images"


def create_app(
    store: Store,
    *,
    images_dir: Path | None = None,
    max_record_bytes: int | None = None,
    mount_dashboard: bool = True,
) -> FastAPI:
    from bench_agent.ledger.api import DEFAULT_MAX_RECORD_BYTES, router
    from bench_agent.ledger.help import router as help_router
    from bench_agent.ledger.parts import PartRefused, as_http_error
    from bench_agent.ledger.parts import router as parts_router
    from bench_agent.ledger.validation import router as validation_router

    app = FastAPI(
        title="Bench Agent ledger",
        version=__version__,
        description="Central ledger of the refurbishment benches: records, certificates, "
        "machines, lots, lifecycle events, station heartbeats.",
    )
    app.state.store = store
    app.state.images_dir = images_dir or default_images_dir()
    app.state.max_record_bytes = max_record_bytes or DEFAULT_MAX_RECORD_BYTES
    app.state.writer = WriteQueue(store)
    app.state.heartbeats = HeartbeatBuffer(app.state.writer, write_heartbeat)
    # Failure counts in the database: every server process (serve --workers N) sees them.
    app.state.login_throttle = LoginThrottle(store)
    store.start_checkpointer()
    app.include_router(router)
    app.include_router(validation_router)  # the validation programme (issue 15)
    app.include_router(help_router)  # a technician calls the supervisor
    app.include_router(parts_router)  # the parts bin (issue 16 item 2)
    app.add_middleware(BodyLimit)
    app.add_middleware(LoginGate)
    app.add_middleware(PathGuard)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(SiteScope)  # the caller's site: every query is scoped to it (sites.py)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # A body that is not even text/JSON: answer like any invalid body (422, loc "body").
        if exc.status_code == 400 and request.url.path.startswith("/api/"):
            return JSONResponse(
                {"detail": [{"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}]},
                status_code=422,
            )
        if _html_page(request):
            from bench_agent.ledger.dashboard.pages import error_page

            return error_page(request, exc.status_code, str(exc.detail), exc.headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(PartRefused)
    async def part_refused(request: Request, exc: PartRefused) -> Response:
        # The parts bin's refusals (404, 409, 422): answered as the HTTP error they name.
        return await http_error(request, as_http_error(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if _html_page(request):
            from bench_agent.ledger.dashboard.pages import error_page

            in_path = any(e.get("loc", ("",))[0] == "path" for e in exc.errors())
            return error_page(request, 404 if in_path else 422, "")
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(BenchError)
    async def bench_error(_request: Request, exc: BenchError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "hint": exc.hint}, status_code=400)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        record_schema = BenchRecord.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in record_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components["BenchRecord"] = record_schema
        # A path with control characters answers 404 before any route (PathGuard); an
        # operation behind credentials may answer 401 (none or bad) and 403 (not allowed).
        problem = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        }
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                if not isinstance(operation, dict):
                    continue
                if operation.get("security"):
                    answers = operation.setdefault("responses", {})
                    answers.setdefault(
                        "401", {"description": _("no or invalid credentials"), **problem}
                    )
                    answers.setdefault(
                        "403", {"description": _("not allowed for this caller"), **problem}
                    )
                parameters = operation.get("parameters", [])
                if any(p.get("in") == "path" for p in parameters):
                    operation.setdefault("responses", {}).setdefault(
                        "404",
                        {
                            "description": _("not found"),
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Problem"}
                                }
                            },
                        },
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    if mount_dashboard:
        from bench_agent.ledger.dashboard import mount

        mount(app)
    return app


def app_from_env() -> FastAPI:
    """App factory for several server processes (``serve --workers N``): reads the options
    ``serve`` put in the environment (``BENCH_LEDGER_DB``, ``BENCH_LEDGER_IMAGES``,
    ``BENCH_LEDGER_MAX_RECORD_BYTES``), through ``LedgerSettings``."""
    from bench_agent.ledger.settings import ledger_settings

    settings = ledger_settings()
    return create_app(
        Store(settings.db),
        images_dir=settings.images,
        max_record_bytes=settings.max_record_bytes,
    )
