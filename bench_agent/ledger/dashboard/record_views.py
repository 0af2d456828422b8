"""The dashboard's lots, machines, certificates, exports, distribution and report pages."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)

from bench_agent.errors import BenchError
from bench_agent.ledger import asset_queries as machines
from bench_agent.ledger import board_queries as queries
from bench_agent.ledger.auth import (
    Principal,
)
from bench_agent.ledger.dashboard.pages import (
    AssetId,
    PageUser,
    render,
    request_language,
    state_of,
    store_of,
)
from bench_agent.ledger.lang import _, language
from bench_agent.ledger.revocation import FAILED_VALIDATION, revoked_message

router = APIRouter(prefix="/dashboard", include_in_schema=False)


# ----------------------------------------------------------------------------------- lots
@router.get("/lots", response_class=HTMLResponse)
def lots_page(request: Request, user: Principal = PageUser) -> HTMLResponse:
    lots = machines.lot_summaries(store_of(request))
    return render(request, "lots.html", user=user, page="lots", lots=lots)


def _lot_or_404(request: Request, code: str) -> machines.LotSummary:
    found = machines.lot_summaries(store_of(request), [code])
    if not found:
        raise HTTPException(404, detail=_("No lot {lot}.", lot=code))
    return found[0]


@router.get("/lots/{code}", response_class=HTMLResponse)
def lot_page(request: Request, code: str, user: Principal = PageUser) -> HTMLResponse:
    with language(request_language(request)):
        lot = _lot_or_404(request, code)
    assets = machines.lot_assets(store_of(request), code)
    return render(request, "lot.html", user=user, page="lots", lot=lot, assets=assets)


@router.get("/lots/{code}/certificates.zip")
def lot_certificates(request: Request, code: str, user: Principal = PageUser) -> Response:
    """Every wipe certificate of the lot, JSON and PDF, in one zip for the donor."""
    from bench_agent.ledger.certificates import render_pdf
    from bench_agent.ledger.glpi import csv_cell

    with language(request_language(request)):
        _lot_or_404(request, code)
    certificates = machines.lot_certificates(store_of(request), code)
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
        with language(request_language(request)):
            archive.writestr("summary.txt", _environment_summary(request, code))
    filename = f"certificates-{re.sub(r'[^A-Za-z0-9._-]', '_', code)}.zip"
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _environment_summary(request: Request, code: str) -> str:
    """The donor's line: the lot's machines reused, weight and emissions avoided, with sources."""
    from bench_agent.ledger.environment import load_account, source_lines, summary_line

    try:
        account = load_account(store_of(request), lot=code)
    except BenchError as exc:
        return _("Environmental account not computed: {error}", error=exc.message) + "\n"
    return "\n".join([summary_line(account, code), "", *source_lines(account)]) + "\n"


# --------------------------------------------------------------------------------- assets
@router.get("/assets", response_class=HTMLResponse)
def assets_page(request: Request, q: str = "", user: Principal = PageUser) -> HTMLResponse:
    assets = machines.find_assets(store_of(request), q)
    return render(request, "assets.html", user=user, page="assets", assets=assets, q=q)


def _asset_or_404(request: Request, asset_id: int) -> machines.AssetPage:
    page = machines.asset_page(store_of(request), asset_id)
    if page is None:
        with language(request_language(request)):
            raise HTTPException(404, detail=_("No machine #{id}.", id=asset_id))
    return page


def _no_record_yet(request: Request, page: machines.AssetPage) -> HTTPException:
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


def _label_info(request: Request, page: machines.AssetPage) -> Any:
    from bench_agent.ledger.labels import label_info

    if page.latest is None:
        return None
    return label_info(
        page.latest,
        verify_url=verify_url(request, page.asset.asset_tag, page.asset.id),
        packed_on=machines.packed_on(page),
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
    if cert.status == FAILED_VALIDATION:  # never a printable proof of a disk that failed
        raise HTTPException(410, detail=revoked_message())
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
    from bench_agent.ledger.exports import asset_rows
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
    dist = machines.distribution(store_of(request))
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


def _report_site(request: Request, user: Principal) -> tuple[str, list[Any], str]:
    """The programme administrator's site filter (``?site=CODE``; none: the programme): the
    chosen site scopes this request's queries. A supervisor's reports are their site's anyway.
    Returns (code, the sites to choose from, error)."""
    from bench_agent.ledger.sites import list_sites, set_site, site_by_code

    if user.role != "admin":
        return "", [], ""
    code = request.query_params.get("site", "").strip().upper()
    store = store_of(request)
    sites = list_sites(store)
    if code:
        try:
            with store.session() as session:
                set_site(site_by_code(session, code).id)
        except BenchError as exc:
            return code, sites, exc.message
    return code, sites, ""


@router.get("/report", response_class=HTMLResponse)
def report_page(request: Request, user: Principal = PageUser) -> HTMLResponse:
    from bench_agent.ledger.reports import headline_figures, report_sections
    from bench_agent.ledger.validation import load_coverage

    with language(request_language(request)):
        site, sites, site_error = _report_site(request, user)
        start, end, lot, error = _period(request)
        error = error or site_error
        try:
            report = None if error else queries.load_report(store_of(request), start, end, lot)
        except BenchError as exc:  # the workshop's environment factors file is wrong
            report, error = None, f"{exc.message} {exc.hint}"
        # The validation programme over the same period (and lot): coverage, failures.
        validation = (
            None if error else load_coverage(store_of(request), start=start, end=end, lot=lot)
        )
        headline = headline_figures(report) if report else []
        sections = report_sections(report) if report else []
        environment = _environment_view(report)
    query = urlencode(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            **({"lot": lot} if lot else {}),
            **({"site": site} if site else {}),
        }
    )
    return render(
        request,
        "report.html",
        user=user,
        page="report",
        start=start.isoformat(),
        end=end.isoformat(),
        lot=lot,
        site=site,
        sites=sites if len(sites) > 1 else [],
        error=error,
        report=report,
        headline=headline,
        sections=sections,
        environment=environment,
        validation=validation,
        query=query,
    )


def _environment_view(report: Any) -> dict[str, Any] | None:
    """The report page's environmental account: title, (title, value) lines, sources."""
    from bench_agent.ledger.environment import account_lines, source_lines

    if report is None or report.environment is None:
        return None
    return {
        "title": _("Environmental account"),
        "lines": account_lines(report.environment),
        "sources_title": _("Factors and sources"),
        "sources": source_lines(report.environment),
    }


@router.get("/report.{fmt}")
def report_download(request: Request, fmt: str, user: Principal = PageUser) -> Response:
    from bench_agent.ledger.reports import render_csv, render_json, render_pdf

    if fmt not in ("pdf", "csv", "json"):
        raise HTTPException(404)
    with language(request_language(request)):
        _site, _sites, site_error = _report_site(request, user)
        start, end, lot, error = _period(request)
        error = error or site_error
        if error:
            raise HTTPException(400, detail=error)
        try:
            report = queries.load_report(store_of(request), start, end, lot)
        except BenchError as exc:  # the workshop's environment factors file is wrong
            raise HTTPException(400, detail=f"{exc.message} {exc.hint}") from exc
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
