"""The dashboard's pages, downloads, live events and board API (mounted under ``/dashboard``)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hmac
import io
import json
import re
import secrets
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from bench_agent.i18n import N_, SUPPORTED
from bench_agent.ledger.auth import (
    SESSION_COOKIE,
    LoginRefused,
    Principal,
    SupervisorPrincipal,
    create_session,
    current_user_from_cookie,
    end_session,
)
from bench_agent.ledger.dashboard import queries
from bench_agent.ledger.dashboard.lang import _, language
from bench_agent.ledger.dashboard.live import Broadcaster, Message
from bench_agent.ledger.dashboard.queries import BoardSettings, ProgressTracker, StatsCache
from bench_agent.ledger.dashboard.strings import (
    CATEGORY_WORDS,
    EVENT_WORDS,
    OUTCOME_WORDS,
    STATE_WORDS,
    STATUS_WORDS,
    WIPE_STATUS_WORDS,
)
from bench_agent.ledger.db import Store
from bench_agent.ledger.schemas import MAX_ID

HERE = Path(__file__).parent
LANG_COOKIE = "bench_lang"
SYMBOLS = {"working": "▶", "idle": "■", "stuck": "⚠", "offline": "✖", "never": "○"}

router = APIRouter(prefix="/dashboard", include_in_schema=False)


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


@dataclass
class DashboardState:
    settings: BoardSettings
    tracker: ProgressTracker
    stats: StatsCache
    broadcaster: Broadcaster
    env: Environment


def state_of(request: Request) -> DashboardState:
    dashboard: DashboardState = request.app.state.dashboard
    return dashboard


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


# ------------------------------------------------------------------------------ templates
def _domid(name: str) -> str:
    """A unique HTML id per station: letters, digits and "-" kept, anything else "_xx" (hex),
    so "bench.05" and "bench_05" stay two rows."""
    return "station-" + re.sub(
        r"[^A-Za-z0-9-]", lambda m: "".join(f"_{b:02x}" for b in m.group().encode()), name
    )


def _local(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone()


def _clock(when: datetime | None) -> str:
    local = _local(when)
    return local.strftime("%H:%M:%S") if local else "—"


def _when(when: datetime | None) -> str:
    local = _local(when)
    return local.strftime("%Y-%m-%d %H:%M") if local else "—"


def _day(when: datetime | date | None) -> str:
    if when is None:
        return "—"
    if isinstance(when, datetime):
        local = _local(when)
        return local.date().isoformat() if local else "—"
    return when.isoformat()


def _rate(value: float | None) -> str:
    if not value:
        return "—"
    return _("{value} MB/s", value=f"{value / 1e6:.1f}" if value < 1e8 else f"{value / 1e6:.0f}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("{h} h {m:02d} min", h=hours, m=minutes)
    if minutes:
        return _("{m} min {s:02d} s", m=minutes, s=secs)
    return _("{s} s", s=secs)


def _word(words: dict[str, str]) -> Any:
    def translate(key: str | None) -> str:
        if not key:
            return "—"
        return _(words[key]) if key in words else key

    return translate


def _reason(key: str) -> str:
    from bench_agent.ledger.dashboard.strings import reason_text

    return reason_text(key)


def _report_label(key: str) -> str:
    from bench_agent.ledger.reports import label

    return label(key)


def _step(value: str | None) -> str:
    """A bench's step or state in the page's language ("wipe sda" → "Effacement sda")."""
    from bench_agent.workflow.state import STEP_TITLES, Step

    text = (value or "").strip()
    if not text:
        return "—"
    first, _sep, rest = text.partition(" ")
    key = first.lower()
    if key in {s.value for s in Step}:
        word = _(STEP_TITLES[Step(key)])
    elif key in STATUS_WORDS:
        word = _(STATUS_WORDS[key])
    elif key in STATE_WORDS:
        word = _(STATE_WORDS[key])
    else:
        return text
    return f"{word} {rest}".strip()


def make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,  # templates ship with the package; no stat() per include
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.globals["_"] = _
    env.globals["symbols"] = SYMBOLS
    env.globals["statuses"] = queries.STATUSES
    env.globals["static"] = lambda name: f"/dashboard/static/{name}"
    env.filters.update(
        step=_step,
        domid=_domid,
        clock=_clock,
        when=_when,
        day=_day,
        rate=_rate,
        duration=_duration,
        outcome=_word(OUTCOME_WORDS),
        event_kind=_word(EVENT_WORDS),
        category=_word(CATEGORY_WORDS),
        wipe_status=_word(WIPE_STATUS_WORDS),
        reason=_reason,
        reportlabel=_report_label,
    )
    return env


def request_language(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE, "")
    if asked[:2] in SUPPORTED:
        return asked[:2]
    for part in request.headers.get("accept-language", "").split(","):
        code = part.strip()[:2].lower()
        if code in SUPPORTED:
            return code
    return "en"


NAV = (
    ("board", "/dashboard/", "b"),
    ("lots", "/dashboard/lots", "l"),
    ("assets", "/dashboard/assets", "m"),
    ("distribution", "/dashboard/distribution", "d"),
    ("report", "/dashboard/report", "r"),
)


def _nav(current: str) -> list[dict[str, Any]]:
    from bench_agent.ledger.dashboard.strings import NAV_WORDS

    return [
        {"href": href, "key": key, "label": _(NAV_WORDS[name]), "current": name == current}
        for name, href, key in NAV
    ]


def render(
    request: Request,
    template: str,
    *,
    user: Principal | None,
    page: str = "",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    dashboard = state_of(request)
    lang = request_language(request)
    with language(lang):
        other = "fr" if lang == "en" else "en"
        params = dict(request.query_params)
        params["lang"] = other
        html = dashboard.env.get_template(template).render(
            lang=lang,
            user=user,
            nav=_nav(page),
            lang_switch={
                "code": other,
                "href": f"{request.url.path}?{urlencode(params)}",
                "label": "Français" if other == "fr" else "English",
            },
            status_words={k: _(v) for k, v in STATUS_WORDS.items()},
            settings=dashboard.settings,
            csrf=csrf_token(request),
            **context,
        )
    response = HTMLResponse(html, status_code=status_code)
    new_token = getattr(request.state, "csrf_new", "")
    if new_token:
        response.set_cookie(
            CSRF_COOKIE,
            new_token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    if request.query_params.get("lang", "")[:2] in SUPPORTED:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


ERROR_TITLES = {
    403: N_("Not allowed"),
    404: N_("Page not found"),
    422: N_("Invalid request"),
    429: N_("Too many attempts"),
}


def error_page(
    request: Request, status_code: int, detail: str, headers: Any = None
) -> HTMLResponse:
    """An HTTP error as a page of the dashboard (never raw JSON in a browser)."""
    with language(request_language(request)):
        title = _(ERROR_TITLES.get(status_code, N_("Something went wrong")))
    response = render(
        request,
        "error.html",
        user=None,
        title=title,
        message=detail or title,
        status_code=status_code,
    )
    for name, value in (headers or {}).items():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


# ----------------------------------------------------------------------------------- CSRF
CSRF_COOKIE = "bench_csrf"


def csrf_token(request: Request) -> str:
    """This browser's anti-forgery token (double submit: cookie and hidden form field)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{32,64}", token):
        token = getattr(request.state, "csrf_new", "") or secrets.token_urlsafe(32)
        request.state.csrf_new = token
    return token


def check_csrf(request: Request, submitted: str) -> None:
    """A POST from one of our own forms: its hidden token matches this browser's cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        with language(request_language(request)):
            message = _("The form is out of date or came from another site: reload the page.")
        raise HTTPException(403, detail=message)


def page_user(request: Request) -> Principal:
    """The logged-in supervisor of an HTML page; otherwise off to the login page."""
    user = current_user_from_cookie(request)
    if user is None or not user.is_supervisor:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        raise LoginRequired(target)
    return user


PageUser = Depends(page_user)
# A machine number the database can hold (larger ones answer 422, not a database error).
AssetId = Annotated[int, FastAPIPath(ge=1, le=MAX_ID)]


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


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


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


def render_message(dashboard: DashboardState, store: Store, message: Message, lang: str) -> str:
    env = dashboard.env
    with language(lang):
        status_words = {k: _(v) for k, v in STATUS_WORDS.items()}
        if message.kind == "station" and message.view is not None:
            view = message.view
            row = row_html(dashboard, view, lang)
            return _sse("station", {"id": _domid(view.name), "html": str(row)})
        if message.kind == "summary":
            counts = _counts(list(dashboard.broadcaster.views.values()))
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
    queue = await dashboard.broadcaster.subscribe()

    async def stream() -> Any:
        try:
            yield "retry: 2000\n\n"
            # A (re)connecting page first gets every row, so it converges whatever it missed.
            for view in list(dashboard.broadcaster.views.values()):
                yield render_message(dashboard, store, Message("station", view), lang)
            yield render_message(dashboard, store, Message("summary"), lang)
            end = time.monotonic() + dashboard.settings.stream_max_s
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    yield "event: bye\ndata: {}\n\n"
                    return
                try:
                    message = await asyncio.wait_for(queue.get(), min(15.0, left))
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if message.kind == "stats":
                    text = await run_in_threadpool(render_message, dashboard, store, message, lang)
                else:
                    text = render_message(dashboard, store, message, lang)
                yield text
        finally:
            dashboard.broadcaster.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# ----------------------------------------------------------------------------------- lots
@router.get("/lots", response_class=HTMLResponse)
def lots_page(request: Request, user: Principal = PageUser) -> HTMLResponse:
    lots = queries.lot_summaries(store_of(request))
    return render(request, "lots.html", user=user, page="lots", lots=lots)


def _lot_or_404(request: Request, code: str) -> queries.LotSummary:
    found = queries.lot_summaries(store_of(request), [code])
    if not found:
        raise HTTPException(404, detail=_("No lot {lot}.", lot=code))
    return found[0]


@router.get("/lots/{code}", response_class=HTMLResponse)
def lot_page(request: Request, code: str, user: Principal = PageUser) -> HTMLResponse:
    with language(request_language(request)):
        lot = _lot_or_404(request, code)
    assets = queries.lot_assets(store_of(request), code)
    return render(request, "lot.html", user=user, page="lots", lot=lot, assets=assets)


@router.get("/lots/{code}/certificates.zip")
def lot_certificates(request: Request, code: str, user: Principal = PageUser) -> Response:
    """Every wipe certificate of the lot, JSON and PDF, in one zip for the donor."""
    from bench_agent.ledger.certificates import render_pdf
    from bench_agent.ledger.glpi import csv_cell

    with language(request_language(request)):
        _lot_or_404(request, code)
    certificates = queries.lot_certificates(store_of(request), code)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        index = io.StringIO()
        writer = csv.writer(index, lineterminator="\r\n")
        writer.writerow(["certificate_id", "disk_serial", "method", "status", "issued_at"])
        for cert in certificates:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", cert.certificate_id)
            archive.writestr(f"{name}.json", cert.body)
            # A malformed old certificate still ships, as JSON only.
            with contextlib.suppress(Exception):
                archive.writestr(f"{name}.pdf", render_pdf(cert.document))
            writer.writerow(
                [
                    csv_cell(cert.certificate_id),
                    csv_cell(cert.disk_serial),
                    csv_cell(cert.method),
                    csv_cell(cert.status),
                    cert.issued_at.isoformat(),
                ]
            )
        archive.writestr("index.csv", index.getvalue())
    filename = f"certificates-{re.sub(r'[^A-Za-z0-9._-]', '_', code)}.zip"
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --------------------------------------------------------------------------------- assets
@router.get("/assets", response_class=HTMLResponse)
def assets_page(request: Request, q: str = "", user: Principal = PageUser) -> HTMLResponse:
    assets = queries.find_assets(store_of(request), q)
    return render(request, "assets.html", user=user, page="assets", assets=assets, q=q)


def _asset_or_404(request: Request, asset_id: int) -> queries.AssetPage:
    page = queries.asset_page(store_of(request), asset_id)
    if page is None:
        with language(request_language(request)):
            raise HTTPException(404, detail=_("No machine #{id}.", id=asset_id))
    return page


def _no_record_yet(request: Request, page: queries.AssetPage) -> HTTPException:
    with language(request_language(request)):
        return HTTPException(
            404,
            detail=_(
                "Machine '{asset}' has no bench record yet.",
                asset=page.asset.asset_tag or f"#{page.asset.id}",
            ),
        )


def verify_url(request: Request, asset_tag: str, asset_id: int) -> str:
    base = state_of(request).settings.public_url or str(request.base_url).rstrip("/")
    return f"{base.rstrip('/')}/verify/{quote(asset_tag or str(asset_id))}"


def _label_info(request: Request, page: queries.AssetPage) -> Any:
    from bench_agent.ledger.labels import label_info

    if page.latest is None:
        return None
    return label_info(
        page.latest,
        verify_url=verify_url(request, page.asset.asset_tag, page.asset.id),
        packed_on=queries.packed_on(page),
        asset_tag=page.asset.asset_tag,
    )


@router.get("/assets/{asset_id}", response_class=HTMLResponse)
def asset_view(request: Request, asset_id: AssetId, user: Principal = PageUser) -> HTMLResponse:
    page = _asset_or_404(request, asset_id)
    return render(
        request,
        "asset.html",
        user=user,
        page="assets",
        title=page.asset.asset_tag or f"#{page.asset.id}",
        label=_label_info(request, page),
        ap=page,
    )


@router.get("/assets/{asset_id}/glpi.json")
def asset_glpi(request: Request, asset_id: AssetId, user: Principal = PageUser) -> JSONResponse:
    from bench_agent.ledger.glpi import to_glpi

    page = _asset_or_404(request, asset_id)
    if page.latest is None:
        raise _no_record_yet(request, page)
    document = to_glpi(
        page.latest.inventory,
        deviceid=f"bench-asset-{page.asset.id}",
        asset_tag=page.asset.asset_tag,
    )
    return JSONResponse(
        document,
        headers={"Content-Disposition": f'attachment; filename="glpi-{page.asset.id}.json"'},
    )


@router.get("/assets/{asset_id}/label.pdf")
def asset_label(
    request: Request, asset_id: AssetId, size: str = "62x100", user: Principal = PageUser
) -> Response:
    from bench_agent.ledger.labels import render_label

    page = _asset_or_404(request, asset_id)
    info = _label_info(request, page)
    if info is None:
        raise _no_record_yet(request, page)
    with language(request_language(request)):
        pdf = render_label(info, size)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="label-{page.asset.id}.pdf"'},
    )


@router.get("/certificates/{certificate_id}.json")
def certificate_json(request: Request, certificate_id: str, user: Principal = PageUser) -> Response:
    cert = _certificate(request, certificate_id)
    return Response(cert.body, media_type="application/json")


@router.get("/certificates/{certificate_id}.pdf")
def certificate_pdf(request: Request, certificate_id: str, user: Principal = PageUser) -> Response:
    from bench_agent.ledger.certificates import render_pdf

    cert = _certificate(request, certificate_id)
    return Response(render_pdf(cert.document), media_type="application/pdf")


def _certificate(request: Request, certificate_id: str) -> Any:
    from sqlalchemy import select

    from bench_agent.ledger.models import Certificate

    with store_of(request).session() as session:
        cert = session.scalar(
            select(Certificate).where(Certificate.certificate_id == certificate_id)
        )
    if cert is None:
        with language(request_language(request)):
            raise HTTPException(
                404, detail=_("No certificate {certificate_id}.", certificate_id=certificate_id)
            )
    return cert


@router.get("/records/{record_id}.json")
def record_json(request: Request, record_id: str, user: Principal = PageUser) -> JSONResponse:
    document = queries.record_document(store_of(request), record_id)
    if document is None:
        with language(request_language(request)):
            raise HTTPException(404, detail=_("No record {record_id}.", record_id=record_id))
    return JSONResponse(document)


@router.get("/export/assets.csv")
def assets_csv(request: Request, user: Principal = PageUser) -> StreamingResponse:
    from bench_agent.ledger.dashboard.exports import asset_rows
    from bench_agent.ledger.glpi import assets_csv as to_csv

    store = store_of(request)
    settings = state_of(request).settings

    def chunks() -> Iterator[str]:
        header = True
        for batch in asset_rows(store, settings):
            text = to_csv(batch)
            yield text if header else text.split("\n", 1)[1]
            header = False
        if header:
            yield to_csv([])

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="assets.csv"'},
    )


# --------------------------------------------------------------------------- distribution
@router.get("/distribution", response_class=HTMLResponse)
def distribution_page(request: Request, user: Principal = PageUser) -> HTMLResponse:
    dist = queries.distribution(store_of(request))
    return render(request, "distribution.html", user=user, page="distribution", dist=dist)


# --------------------------------------------------------------------------------- report
def _period(request: Request) -> tuple[date, date, str | None, str]:
    today = date.today()
    raw_from = request.query_params.get("from", "")
    raw_to = request.query_params.get("to", "")
    lot = request.query_params.get("lot", "").strip() or None
    error = ""
    try:
        start = date.fromisoformat(raw_from) if raw_from else date(today.year, 1, 1)
        end = date.fromisoformat(raw_to) if raw_to else today
    except ValueError:
        start, end = date(today.year, 1, 1), today
        error = _("Dates are written YYYY-MM-DD.")
    if end < start:
        error = _("The end date is before the start date.")
    return start, end, lot, error


@router.get("/report", response_class=HTMLResponse)
def report_page(request: Request, user: Principal = PageUser) -> HTMLResponse:
    from bench_agent.ledger.reports import _headline, _sections

    with language(request_language(request)):
        start, end, lot, error = _period(request)
        report = None if error else queries.load_report(store_of(request), start, end, lot)
        headline = _headline(report) if report else []
        sections = _sections(report) if report else []
    query = urlencode(
        {"from": start.isoformat(), "to": end.isoformat(), **({"lot": lot} if lot else {})}
    )
    return render(
        request,
        "report.html",
        user=user,
        page="report",
        start=start.isoformat(),
        end=end.isoformat(),
        lot=lot,
        error=error,
        report=report,
        headline=headline,
        sections=sections,
        query=query,
    )


@router.get("/report.{fmt}")
def report_download(request: Request, fmt: str, user: Principal = PageUser) -> Response:
    from bench_agent.ledger.reports import render_csv, render_json, render_pdf

    if fmt not in ("pdf", "csv", "json"):
        raise HTTPException(404)
    with language(request_language(request)):
        start, end, lot, error = _period(request)
        if error:
            raise HTTPException(400, detail=error)
        report = queries.load_report(store_of(request), start, end, lot)
        name = f"report-{start.isoformat()}-{end.isoformat()}{'-' + lot if lot else ''}.{fmt}"
        name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "pdf":
            return Response(render_pdf(report), media_type="application/pdf", headers=headers)
        if fmt == "csv":
            return Response(
                render_csv(report), media_type="text/csv; charset=utf-8", headers=headers
            )
        return Response(render_json(report), media_type="application/json", headers=headers)


# ------------------------------------------------------------------------- public verification
public_router = APIRouter(include_in_schema=False)


@dataclass
class PublicCertificate:
    id: str
    method: str
    status: str
    issued: datetime | None
    valid: bool
    station: str = ""
    reason: str = ""


def _check_signature(session: Any, cert: Any) -> tuple[bool, str, str]:
    """(valid, station, reason) for a stored certificate: the key of the station that sent
    it, valid when the ledger received it (``ingest.judge_certificate``)."""
    from bench_agent.ledger.ingest import judge_certificate

    judged = judge_certificate(
        session, cert.document, station_id=cert.record.station_id, received_at=cert.issued_at
    )
    reasons = {
        "unsigned": _("not signed"),
        "unknown-key": _("signed by an unknown key"),
        "retired-key": _("signed by a key retired before this ledger received it"),
    }
    return judged.valid, judged.station, judged.message or reasons.get(judged.reason, "")


@public_router.get("/verify/{tag}", response_class=HTMLResponse)
def verify_page(request: Request, tag: str) -> HTMLResponse:
    """Public page behind a label's QR code: the machine and its signed wipe certificates.

    Shows no beneficiary, operator or donor detail: only what proves the disks were wiped.
    """
    from sqlalchemy import select

    from bench_agent.ledger.labels import maintenance_end
    from bench_agent.ledger.models import Asset, Certificate, LifecycleEvent

    lang = request_language(request)
    with language(lang), store_of(request).session() as session:
        asset = session.scalar(select(Asset).where(Asset.asset_tag == tag).order_by(Asset.id))
        if asset is None:
            raise HTTPException(404, detail=_("No machine {asset}.", asset=tag))
        packed_at = session.scalar(
            select(LifecycleEvent.at)
            .where(LifecycleEvent.asset_id == asset.id, LifecycleEvent.kind == "packed")
            .order_by(LifecycleEvent.at.desc())
        )
        certificates = []
        for cert in session.scalars(
            select(Certificate)
            .where(Certificate.asset_id == asset.id)
            .order_by(Certificate.issued_at)
        ):
            valid, station, reason = _check_signature(session, cert)
            certificates.append(
                PublicCertificate(
                    cert.certificate_id,
                    cert.method,
                    cert.status,
                    cert.issued_at,
                    valid,
                    station,
                    reason,
                )
            )
        model = f"{asset.vendor} {asset.product}".strip()
    packed = _day(packed_at) if packed_at else ""
    return render(
        request,
        "verify.html",
        user=None,
        tag=tag,
        model=model,
        packed=packed,
        maintenance_end=maintenance_end(_local(packed_at).date()).isoformat() if packed_at else "",  # type: ignore[union-attr]
        certificates=certificates,
    )
