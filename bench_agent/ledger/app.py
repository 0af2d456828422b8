"""The ledger's ASGI app: ``create_app(store)`` wires the API, the dashboard and the store.

``app.state.store`` is the :class:`~bench_agent.ledger.db.Store`; ``app.state.images_dir`` the
folder of image files served to benches; ``app.state.max_record_bytes`` the body limit of
``POST /api/v1/records``; ``app.state.writer`` the queue that group-commits records and
heartbeats, ``app.state.heartbeats`` the coalescing buffer of the latest heartbeats
(:mod:`bench_agent.ledger.writer`). Routes find them through ``request.app.state``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bench_agent import __version__
from bench_agent.errors import BenchError
from bench_agent.ledger.db import Store, ledger_home
from bench_agent.ledger.ingest import write_heartbeat
from bench_agent.ledger.writer import HeartbeatBuffer, WriteQueue
from bench_agent.models.record import BenchRecord


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
    store.start_checkpointer()
    app.include_router(router)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # A body that is not even text/JSON: answer like any invalid body (422, loc "body").
        if exc.status_code == 400 and request.url.path.startswith("/api/"):
            return JSONResponse(
                {"detail": [{"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}]},
                status_code=422,
            )
        return await http_exception_handler(request, exc)

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
    ``BENCH_LEDGER_MAX_RECORD_BYTES``)."""
    import os

    images = os.environ.get("BENCH_LEDGER_IMAGES")
    max_bytes = os.environ.get("BENCH_LEDGER_MAX_RECORD_BYTES")
    return create_app(
        Store(os.environ.get("BENCH_LEDGER_DB")),
        images_dir=Path(images) if images else None,
        max_record_bytes=int(max_bytes) if max_bytes else None,
    )
