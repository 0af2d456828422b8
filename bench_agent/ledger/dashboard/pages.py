"""What every dashboard page shares: templates and their filters, language, CSRF, the page user."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import (
    HTMLResponse,
)
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bench_agent.i18n import N_, SUPPORTED, format_duration
from bench_agent.ledger import board_queries as queries
from bench_agent.ledger.auth import (
    Principal,
    current_user_from_cookie,
)
from bench_agent.ledger.board_queries import BoardSettings, ProgressTracker, StatsCache
from bench_agent.ledger.dashboard.live import Broadcaster
from bench_agent.ledger.dashboard.strings import (
    CATEGORY_WORDS,
    EVENT_WORDS,
    OUTCOME_WORDS,
    STATE_WORDS,
    STATUS_WORDS,
    WIPE_STATUS_WORDS,
)
from bench_agent.ledger.db import Store
from bench_agent.ledger.lang import _, language
from bench_agent.ledger.schemas import MAX_ID

HERE = Path(__file__).parent
LANG_COOKIE = "bench_lang"
SYMBOLS = {"working": "▶", "idle": "■", "stuck": "⚠", "offline": "✖", "never": "○"}


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
def domid(name: str) -> str:
    """A unique HTML id per station: letters, digits and "-" kept, anything else "_xx" (hex),
    so "bench.05" and "bench_05" stay two rows."""
    return "station-" + re.sub(
        r"[^A-Za-z0-9-]", lambda m: "".join(f"_{b:02x}" for b in m.group().encode()), name
    )


def to_local(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone()


def _clock(when: datetime | None) -> str:
    local = to_local(when)
    return local.strftime("%H:%M:%S") if local else "—"


def _when(when: datetime | None) -> str:
    local = to_local(when)
    return local.strftime("%Y-%m-%d %H:%M") if local else "—"


def format_day(when: datetime | date | None) -> str:
    if when is None:
        return "—"
    if isinstance(when, datetime):
        local = to_local(when)
        return local.date().isoformat() if local else "—"
    return when.isoformat()


def _rate(value: float | None) -> str:
    if not value:
        return "—"
    return _("{value} MB/s", value=f"{value / 1e6:.1f}" if value < 1e8 else f"{value / 1e6:.0f}")


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
        domid=domid,
        clock=_clock,
        when=_when,
        day=format_day,
        rate=_rate,
        duration=format_duration,
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
OTHER_ERROR = N_("Something went wrong")


def error_page(
    request: Request, status_code: int, detail: str, headers: Any = None
) -> HTMLResponse:
    """An HTTP error as a page of the dashboard (never raw JSON in a browser)."""
    with language(request_language(request)):
        title = _(ERROR_TITLES.get(status_code, OTHER_ERROR))
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
