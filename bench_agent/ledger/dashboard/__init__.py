"""Supervisor dashboard (server-rendered pages, SSE board, reports, labels, GLPI export).

``mount(app)`` adds the pages under ``/dashboard`` to the ledger app. Its settings (offline and
stuck delays, poll interval, stream life, public URL) come from
``bench_agent.ledger.settings.LedgerSettings`` (or the ``settings`` argument).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the package stays light: its modules load when mount() runs
    from bench_agent.ledger.board_queries import BoardSettings


def settings_from_env() -> BoardSettings:
    from bench_agent.ledger.board_queries import BoardSettings
    from bench_agent.ledger.settings import ledger_settings

    settings = ledger_settings()
    return BoardSettings(
        offline_after_s=settings.offline_after_s,
        stuck_after_s=settings.stuck_after_s,
        poll_interval_s=settings.poll_s,
        public_url=settings.public_url,
        stream_max_s=settings.stream_max_s,
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

    from bench_agent.ledger.sites import site_scope

    # The one poller reads every site's stations (whoever subscribed first); each stream shows
    # its own site's rows only (board_views.events).
    def load() -> list[queries.StationView]:
        with site_scope(None):
            return queries.board(app.state.store, settings, tracker)

    def stats_key() -> Any:
        with site_scope(None):
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
