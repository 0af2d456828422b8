"""The supervisor's page for a call for help (``/dashboard/help/{station}``): see it, answer it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bench_agent.ledger.auth import Principal
from bench_agent.ledger.dashboard.pages import page_user, render, request_language, store_of
from bench_agent.ledger.help import desk_of
from bench_agent.ledger.lang import _, language

StationName = Annotated[str, FastAPIPath(min_length=1, max_length=64)]
Supervisor = Annotated[Principal, Depends(page_user)]
router = APIRouter(prefix="/dashboard/help", include_in_schema=False)


def _visible(request: Request, station: str) -> bool:
    """The station is in the caller's site (the calls are kept in memory, not in the ledger's
    tables, so they are scoped here: another site's call is "no call", 404)."""
    from sqlalchemy import select

    from bench_agent.ledger.models import Station

    with store_of(request).session() as session:
        return session.scalar(select(Station.id).where(Station.name == station)) is not None


@router.get("/{station}", response_class=HTMLResponse)
def help_page(request: Request, station: StationName, user: Supervisor) -> HTMLResponse:
    call = desk_of(store_of(request)).get(station) if _visible(request, station) else None
    if call is None:
        with language(request_language(request)):
            raise HTTPException(404, detail=_("No call for help from this station."))
    return render(request, "help.html", user=user, page="board", call=call)


@router.post("/{station}")
def acknowledge(
    request: Request,
    station: StationName,
    user: Supervisor,
    nonce: str = Form(""),
) -> Response:
    if (
        not _visible(request, station)
        or desk_of(store_of(request)).acknowledge(station, nonce, user.name) is None
    ):
        with language(request_language(request)):
            raise HTTPException(
                403, detail=_("This call is no longer open or the page is out of date: reload it.")
            )
    return RedirectResponse("/dashboard/", status_code=303)
