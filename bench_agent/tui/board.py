"""Terminal station board for supervisors: ``bench-ledger board --ledger URL``.

Polls the ledger's board API (``GET /dashboard/api/board``) and shows the same table as the web
board: station, state (symbol and word), operator, machine, step, progress, rate, time left and
last heartbeat, then today's and this week's figures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from bench_agent.i18n import _, format_duration
from bench_agent.models.heartbeat import STATUS_WORDS

SYMBOLS = {"working": "▶", "idle": "■", "stuck": "⚠", "offline": "✖", "never": "○"}
BAR_CELLS = 10


def help_mark(state: str) -> str:
    """A station's call for help (none | called | acknowledged), in the current language."""
    if state == "called":
        return " · ! " + _("HELP ASKED")
    if state == "acknowledged":
        return " · ✔ " + _("help on its way")
    return ""


def progress_bar(progress: float | None) -> str:
    if progress is None:
        return "—"
    filled = round(max(0.0, min(progress, 1.0)) * BAR_CELLS)
    return "█" * filled + "░" * (BAR_CELLS - filled) + f" {round(progress * 100):3d} %"


def rate_text(rate: float | None) -> str:
    if not rate:
        return "—"
    return _("{value} MB/s", value=f"{rate / 1e6:.1f}")


def age_text(last_seen: str | None, now: datetime) -> str:
    if not last_seen:
        return _("never")
    seen = datetime.fromisoformat(last_seen)
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    seconds = max(0, int((now - seen).total_seconds()))
    local = seen.astimezone().strftime("%H:%M:%S")
    return f"{local} ({seconds} s)" if seconds < 120 else f"{local} ({seconds // 60} min)"


def status_text(status: str) -> str:
    word = _(STATUS_WORDS[status]) if status in STATUS_WORDS else status
    return f"{SYMBOLS.get(status, '?')} {word}"


class StationBoardApp(App[None]):
    """The station board, refreshed every ``interval`` seconds from the ledger."""

    TITLE = "Bench ledger"
    CSS = """
    Screen { background: $background; }
    #summary { padding: 0 1; height: auto; text-style: bold; }
    #figures { padding: 0 1; height: auto; }
    #problem { padding: 0 1; height: auto; color: $error; text-style: bold; }
    DataTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r,f5", "refresh_now", _("refresh"), id="board.refresh"),
        Binding("t", "toggle_theme", _("theme"), id="board.theme"),
        Binding("q,escape", "quit", _("quit"), id="board.quit"),
    ]
    COLUMNS = ("station", "status", "operator", "asset", "step", "progress", "rate", "eta", "seen")

    def __init__(
        self,
        ledger_url: str,
        token: str,
        *,
        interval: float = 1.0,
        theme: str = "bench-contrast-dark",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__()
        self.ledger_url = ledger_url.rstrip("/")
        self.token = token
        self.interval = interval
        self._theme_name = theme
        self._transport = transport
        self.stations: list[dict[str, Any]] = []
        self.calling: set[str] = set()  # stations whose call for help is not answered yet
        self.last_error = ""
        self.fetches = 0

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        yield Static("", id="summary")
        yield Static("", id="problem")
        table: DataTable[str] = DataTable(id="board", zebra_stripes=True, cursor_type="row")
        yield table
        yield Static("", id="figures")
        yield Footer()

    def on_mount(self) -> None:
        from bench_agent.tui.themes import BENCH_THEMES

        for theme in BENCH_THEMES:
            self.register_theme(theme)
        self.theme = self._theme_name
        self.sub_title = self.ledger_url
        table = self.query_one("#board", DataTable)
        headings = (
            _("Station"), _("State"), _("Operator"), _("Asset"), _("Step"), _("Progress"),
            _("Rate"), _("Time left"), _("Last heartbeat"),
        )  # fmt: skip
        for key, heading in zip(self.COLUMNS, headings, strict=True):
            table.add_column(heading, key=key)
        self.client = httpx.AsyncClient(
            base_url=self.ledger_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
            transport=self._transport,
        )
        self.set_interval(self.interval, self.refresh_board)
        self.call_later(self.refresh_board)

    async def on_unmount(self) -> None:
        await self.client.aclose()

    async def action_refresh_now(self) -> None:
        await self.refresh_board()

    def action_toggle_theme(self) -> None:
        self.theme = (
            "bench-contrast-light" if self.theme == "bench-contrast-dark" else "bench-contrast-dark"
        )

    async def refresh_board(self) -> None:
        try:
            response = await self.client.get("/dashboard/api/board")
        except httpx.HTTPError as exc:
            self.show_problem(
                _("Cannot reach the ledger at {url}: {error}", url=self.ledger_url, error=exc)
            )
            return
        if response.status_code in (401, 403):
            self.show_problem(
                _("The ledger refused the session: log in again (bench-ledger board --user NAME).")
            )
            return
        if response.status_code != 200:
            self.show_problem(_("The ledger answered {status}.", status=response.status_code))
            return
        self.show_problem("")
        self.fetches += 1
        self.update_board(response.json())

    def show_problem(self, message: str) -> None:
        self.last_error = message
        self.query_one("#problem", Static).update(("✖ " + message) if message else "")

    def update_board(self, data: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        table = self.query_one("#board", DataTable)
        self.stations = list(data.get("stations", []))
        wanted = [s["name"] for s in self.stations]
        for key in [str(k.value) for k in list(table.rows)]:
            if key not in wanted:
                table.remove_row(key)
        calling = {s["name"] for s in self.stations if s.get("help") == "called"}
        if calling - self.calling:
            self.bell()  # a technician asks for help: heard even when nobody looks
        self.calling = calling
        for station in self.stations:
            cells = (
                station["name"],
                status_text(station["status"])
                + (" · " + _("training") if station.get("training") else "")
                + help_mark(str(station.get("help", "none"))),
                station.get("operator") or "—",
                station.get("asset_tag") or "—",
                station.get("step") or station.get("state") or "—",
                progress_bar(station.get("progress")),
                rate_text(station.get("rate")),
                format_duration(station.get("eta_s")),
                age_text(station.get("last_seen"), now),
            )
            if station["name"] in {str(k.value) for k in table.rows}:
                for column, value in zip(self.COLUMNS, cells, strict=True):
                    table.update_cell(station["name"], column, value)
            else:
                table.add_row(*cells, key=station["name"])
        counts: dict[str, int] = {}
        for station in self.stations:
            counts[station["status"]] = counts.get(station["status"], 0) + 1
        summary = "   ".join(
            f"{status_text(status)}: {counts[status]}" for status in SYMBOLS if counts.get(status)
        )
        self.query_one("#summary", Static).update(summary or _("No station yet."))
        today, week = data.get("today", {}), data.get("week", {})
        self.query_one("#figures", Static).update(
            _(
                "Today: {tested} tested, {kept} kept, {rejected} rejected, {wiped} disks wiped. "
                "This week: {wtested} tested, {wkept} kept, {wrejected} rejected, {wwiped} disks wiped.",
                tested=today.get("tested", 0),
                kept=today.get("kept", 0),
                rejected=today.get("rejected", 0),
                wiped=today.get("wiped", 0),
                wtested=week.get("tested", 0),
                wkept=week.get("kept", 0),
                wrejected=week.get("rejected", 0),
                wwiped=week.get("wiped", 0),
            )
        )

    def status_of(self, station: str) -> str:
        for entry in self.stations:
            if entry["name"] == station:
                return str(entry["status"])
        return ""
