"""The dashboard's login, the station board, its JSON and its live event stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from markupsafe import Markup
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from bench_agent.ledger import board_queries as queries
from bench_agent.ledger.auth import (
    SESSION_COOKIE,
    LoginRefused,
    Principal,
    SupervisorPrincipal,
    create_session,
    current_user_from_cookie,
    end_session,
)
from bench_agent.ledger.dashboard.live import Message
from bench_agent.ledger.dashboard.pages import (
    DashboardState,
    PageUser,
    check_csrf,
    domid,
    render,
    request_language,
    state_of,
    store_of,
)
from bench_agent.ledger.dashboard.strings import (
    STATUS_WORDS,
)
from bench_agent.ledger.db import Store
from bench_agent.ledger.lang import _, language

router = APIRouter(prefix="/dashboard", include_in_schema=False)


# ---------------------------------------------------------------------------------- login
def _safe_next(value: str) -> str:
    # Only local dashboard paths: never an open redirect to another site.
    if value.startswith("/dashboard") and not value.startswith("//"):
        return value
    return "/dashboard/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/dashboard/") -> HTMLResponse:
    return render(request, "login.html", user=None, next=_safe_next(next), error="", name="")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    next: str = Form("/dashboard/"),
    csrf: str = Form(""),
) -> Response:
    check_csrf(request, csrf)
    status_code = 401
    try:
        result = create_session(
            store_of(request),
            name.strip(),
            password,
            address=request.client.host if request.client is not None else "",
            throttle=request.app.state.login_throttle,
        )
    except LoginRefused as exc:
        result, status_code = None, exc.status_code
        with language(request_language(request)):
            error = (
                _(
                    "Too many wrong passwords: try again in {seconds} s.",
                    seconds=max(1, round(exc.retry_after)),
                )
                if exc.status_code == 429
                else _("This account is locked after too many wrong passwords: ask an admin.")
            )
    else:
        with language(request_language(request)):
            error = _("Wrong user name or password.")
    if result is None or not result[1].is_supervisor:
        return render(
            request,
            "login.html",
            user=None,
            next=_safe_next(next),
            error=error,
            name=name,
            status_code=status_code,
        )
    token, _principal = result
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    check_csrf(request, csrf)
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        end_session(store_of(request), token)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# ---------------------------------------------------------------------------------- board
@router.get("/", response_class=HTMLResponse)
def board_page(request: Request, user: Principal = PageUser) -> HTMLResponse:
    dashboard = state_of(request)
    store = store_of(request)
    views = queries.board(store, dashboard.settings, dashboard.tracker)
    lang = request_language(request)
    return render(
        request,
        "board.html",
        user=user,
        page="board",
        views=views,
        rows=[row_html(dashboard, view, lang) for view in views],
        counts=_counts(views),
        stats=dashboard.stats.get(store),
    )


def _counts(views: list[queries.StationView]) -> dict[str, int]:
    counts = dict.fromkeys(queries.STATUSES, 0)
    for view in views:
        counts[view.status] += 1
    return counts


@router.get("/api/board")
def board_json(request: Request, user: SupervisorPrincipal) -> JSONResponse:
    """The board as JSON, for the terminal board (``bench-ledger board``)."""
    dashboard = state_of(request)
    store = store_of(request)
    views = queries.board(store, dashboard.settings, dashboard.tracker)
    stats = dashboard.stats.get(store)
    return JSONResponse(
        {
            "generated_at": datetime.now(UTC).isoformat(),
            "offline_after_s": dashboard.settings.offline_after_s,
            "stuck_after_s": dashboard.settings.stuck_after_s,
            "stations": [v.to_json() for v in views],
            "today": stats.today.__dict__,
            "week": stats.week.__dict__,
            "reasons": stats.reasons,
            "methods": stats.methods,
        }
    )


SEP = "\n"  # one LF ends a line, as the pages and the benchmark read the stream
STREAM_PING_S = 15  # a comment this often keeps proxies from closing a quiet stream


def _sse(event: str, data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(json.dumps(data, ensure_ascii=False), event=event, sep=SEP)


class _RowCache:
    """Rendered rows by (station, signature, language): one render per change, not per page."""

    def __init__(self) -> None:
        self._rows: dict[tuple[Any, ...], str] = {}

    def get(self, key: tuple[Any, ...]) -> str | None:
        return self._rows.get(key)

    def put(self, key: tuple[Any, ...], html: str) -> None:
        if len(self._rows) > 5000:
            self._rows.clear()
        self._rows[key] = html


_rows = _RowCache()


def row_html(dashboard: DashboardState, view: queries.StationView, lang: str) -> Markup:
    """One board row, rendered once per change and language (pages and streams share it)."""
    key = (view.name, view.signature(), lang)
    html = _rows.get(key)
    if html is None:
        with language(lang):
            html = dashboard.env.get_template("_station_row.html").render(
                v=view, status_words={k: _(w) for k, w in STATUS_WORDS.items()}, lang=lang
            )
        _rows.put(key, html)
    return Markup(html)


def visible_stations(store: Store) -> set[str] | None:
    """The station names the caller's site scope shows (None: every site)."""
    from sqlalchemy import select

    from bench_agent.ledger.models import Station
    from bench_agent.ledger.sites import current_site

    if current_site() is None:
        return None
    with store.session() as session:
        return set(session.scalars(select(Station.name)))


def render_message(
    dashboard: DashboardState,
    store: Store,
    message: Message,
    lang: str,
    visible: set[str] | None = None,
) -> ServerSentEvent:
    env = dashboard.env
    with language(lang):
        status_words = {k: _(v) for k, v in STATUS_WORDS.items()}
        if message.kind == "station" and message.view is not None:
            view = message.view
            row = row_html(dashboard, view, lang)
            return _sse("station", {"id": domid(view.name), "html": str(row)})
        if message.kind == "summary":
            views = dashboard.broadcaster.views.values()
            counts = _counts([v for v in views if visible is None or v.name in visible])
            key = ("#summary", tuple(counts.items()), lang)
            cached = _rows.get(key)
            if cached is None:
                cached = env.get_template("_summary.html").render(
                    counts=counts, status_words=status_words
                )
                _rows.put(key, cached)
            return _sse("summary", {"id": "summary", "html": cached})
        stats = dashboard.stats.get(store)
        figures = env.get_template("_stats.html").render(stats=stats)
        return _sse("stats", {"id": "stats", "html": figures})


@router.get("/events")
async def events(request: Request) -> Response:
    user = await run_in_threadpool(current_user_from_cookie, request)
    if user is None or not user.is_supervisor:
        raise HTTPException(401, detail="log in first")
    dashboard = state_of(request)
    store = store_of(request)
    lang = request_language(request)
    # This caller's stations (its site's; None: an admin sees every site): the one poller
    # reads them all, the stream passes on only these.
    visible = await run_in_threadpool(visible_stations, store)
    queue = await dashboard.broadcaster.subscribe()

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            yield ServerSentEvent(retry=2000, sep=SEP)
            # A (re)connecting page first gets every row, so it converges whatever it missed.
            for view in list(dashboard.broadcaster.views.values()):
                if visible is None or view.name in visible:
                    yield render_message(dashboard, store, Message("station", view), lang)
            yield render_message(dashboard, store, Message("summary"), lang, visible)
            end = time.monotonic() + dashboard.settings.stream_max_s
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    yield ServerSentEvent("{}", event="bye", sep=SEP)
                    return
                try:
                    message = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    continue  # the stream's life is over: say bye
                if message.kind == "stats":
                    yield await run_in_threadpool(render_message, dashboard, store, message, lang)
                elif message.view is None or visible is None or message.view.name in visible:
                    yield render_message(dashboard, store, message, lang, visible)
        finally:
            dashboard.broadcaster.unsubscribe(queue)

    # sse-starlette frames the events, pings a quiet stream (": keep-alive" comments) and ends
    # the stream when the browser goes or the server shuts down.
    return EventSourceResponse(
        stream(),
        headers={"Cache-Control": "no-cache"},
        ping=STREAM_PING_S,
        ping_message_factory=lambda: ServerSentEvent(comment="keep-alive", sep=SEP),
        sep=SEP,
    )
