"""Supervisor dashboard (server-rendered pages, SSE board, reports, labels, GLPI export).

``mount(app)`` adds the pages under ``/dashboard`` to the ledger app. Settings come from the
environment (or the ``settings`` argument):

- ``BENCH_DASHBOARD_OFFLINE_AFTER_S`` (60): a station is offline after this silence;
- ``BENCH_DASHBOARD_STUCK_AFTER_S`` (600): "stuck" when its progress has not moved that long;
- ``BENCH_DASHBOARD_POLL_S`` (1): how often the live board looks for changes when no write
  arrives (writes to the ledger wake it at once);
- ``BENCH_LEDGER_PUBLIC_URL``: the public base URL printed in the labels' QR codes;
- ``BENCH_DASHBOARD_STREAM_MAX_S`` (60): an event stream's longest life (the page reopens it).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the package stays light: its modules load when mount() runs
    from bench_agent.ledger.board_queries import BoardSettings


def settings_from_env() -> BoardSettings:
    from bench_agent.ledger.board_queries import BoardSettings

    def number(name: str, default: float) -> float:
        try:
            return float(os.environ.get(name, "") or default)
        except ValueError:
            return default

    return BoardSettings(
        offline_after_s=number("BENCH_DASHBOARD_OFFLINE_AFTER_S", 60.0),
        stuck_after_s=number("BENCH_DASHBOARD_STUCK_AFTER_S", 600.0),
        poll_interval_s=number("BENCH_DASHBOARD_POLL_S", 1.0),
        public_url=os.environ.get("BENCH_LEDGER_PUBLIC_URL", ""),
        stream_max_s=number("BENCH_DASHBOARD_STREAM_MAX_S", 60.0),
    )


def mount(app: Any, settings: BoardSettings | None = None) -> None:
    """Add the dashboard's routes to the ledger app (called by the ledger's app factory)."""
    from pathlib import Path

    from fastapi import Request
    from fastapi.responses import RedirectResponse, Response
    from fastapi.staticfiles import StaticFiles

    from bench_agent.ledger import board_queries as queries
    from bench_agent.ledger.dashboard import help_pages
    from bench_agent.ledger.dashboard.live import Broadcaster, WakeOnWrite
    from bench_agent.ledger.dashboard.pages import DashboardState, LoginRequired, make_env
    from bench_agent.ledger.dashboard.routes import public_router, router

    settings = settings or settings_from_env()
    tracker = queries.ProgressTracker()
    stats = queries.StatsCache()

    def load() -> list[queries.StationView]:
        return queries.board(app.state.store, settings, tracker)

    def stats_key() -> Any:
        return stats.get(app.state.store)

    broadcaster = Broadcaster(load, stats_key, settings.poll_interval_s)
    app.state.dashboard = DashboardState(settings, tracker, stats, broadcaster, make_env())
    app.include_router(router)
    app.include_router(public_router)
    app.mount(
        "/dashboard/static",
        StaticFiles(directory=str(Path(__file__).parent / "static")),
        name="dashboard-static",
    )
    app.add_middleware(WakeOnWrite, wake=broadcaster.wake)

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        from urllib.parse import quote

        return RedirectResponse(f"/dashboard/login?next={quote(exc.next_path)}", status_code=303)

    app.add_exception_handler(LoginRequired, login_required)

    def dashboard_root() -> Response:
        return RedirectResponse("/dashboard/", status_code=307)

    app.add_api_route("/dashboard", dashboard_root, include_in_schema=False)
    app.include_router(help_pages.router)
