"""``bench-ledger report | export | label``: the supervisor's commands.

(``bench-ledger board``, the terminal board, is a Textual app: bench_agent/cli/ledger_board.py.)

- ``report --from DATE --to DATE [--lot LOT] [--format json|csv|pdf] [--output FILE]``;
- ``export glpi ASSET [--output FILE]`` and ``export csv [--output FILE]``;
- ``label ASSET... [--size 62x100|4x6|a4] [--output FILE] [--public-url URL]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench_agent.errors import EXIT_OK, BenchError, InputError
from bench_agent.i18n import _
from bench_agent.ledger.cli_base import add_db_option, open_store, option_date
from bench_agent.ledger.settings import ledger_settings


def _add_db(parser: argparse.ArgumentParser) -> None:
    add_db_option(parser)


def register(sub: Any) -> None:
    report = sub.add_parser("report", help=_("the programme's report for a period"))
    _add_db(report)
    report.add_argument("--from", dest="start", required=True, metavar="DATE", help="YYYY-MM-DD")
    report.add_argument("--to", dest="end", required=True, metavar="DATE", help="YYYY-MM-DD")
    report.add_argument("--lot", help=_("only this donor lot"))
    report.add_argument("--site", metavar="CODE", help=_("only this site (default: every site)"))
    report.add_argument("--format", choices=["json", "csv", "pdf"], default="json")
    report.add_argument("--output", "-o", metavar="FILE", help=_("write here (default: stdout)"))
    report.set_defaults(func=run_report)

    export = sub.add_parser("export", help=_("export machines for other tools"))
    export_sub = export.add_subparsers(dest="export_kind", metavar="KIND", required=True)
    glpi = export_sub.add_parser("glpi", help=_("a machine's inventory in GLPI's format (JSON)"))
    _add_db(glpi)
    glpi.add_argument("asset", help=_("asset tag, serial number or #id"))
    glpi.add_argument("--output", "-o", metavar="FILE")
    glpi.set_defaults(func=run_export_glpi)
    assets = export_sub.add_parser("csv", help=_("every machine as CSV"))
    _add_db(assets)
    assets.add_argument("--output", "-o", metavar="FILE")
    assets.set_defaults(func=run_export_csv)

    label = sub.add_parser("label", help=_("print labels for packed machines (PDF)"))
    _add_db(label)
    label.add_argument("assets", nargs="+", metavar="ASSET", help=_("asset tag, serial or #id"))
    label.add_argument("--size", choices=["62x100", "4x6", "a4"], default="62x100")
    label.add_argument("--output", "-o", metavar="FILE", required=True)
    label.add_argument(
        "--public-url",
        default=None,
        help=_("public address of the ledger, for the QR code (default: $BENCH_LEDGER_PUBLIC_URL)"),
    )
    label.set_defaults(func=run_label)


def _store(args: argparse.Namespace) -> Any:
    return open_store(args)


def _write(output: str | None, data: bytes | str) -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if output in (None, "-"):
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        return
    path = Path(str(output))
    try:
        path.write_bytes(raw)
    except OSError as exc:
        raise InputError(
            _("Cannot write {path}: {error}", path=path, error=exc.strerror or exc),
            _("Choose a folder that exists and that you may write to."),
        ) from exc
    print(_("Written to {path}.", path=path), file=sys.stderr)


def run_report(args: argparse.Namespace) -> int:
    from bench_agent.ledger.board_queries import load_report
    from bench_agent.ledger.reports import render_csv, render_json, render_pdf

    start, end = option_date(args.start, "--from"), option_date(args.end, "--to")
    if end < start:
        raise InputError(_("The end date is before the start date."), _("Swap --from and --to."))
    if args.format == "pdf" and args.output in (None, "-") and sys.stdout.isatty():
        raise InputError(_("A PDF cannot be shown in the terminal."), _("Add --output FILE.pdf."))
    bad: list[str] = []
    store = _store(args)
    from bench_agent.ledger.sites import set_site, site_by_code

    if getattr(args, "site", None):
        with store.session() as session:
            set_site(site_by_code(session, args.site).id)  # every query below is scoped
    report = load_report(store, start, end, args.lot, on_bad_record=bad.append)
    if bad:
        print(
            _("warning: {count} records could not be read and were left out.", count=len(bad)),
            file=sys.stderr,
        )
    rendered: bytes | str
    if args.format == "pdf":
        rendered = render_pdf(report)
    elif args.format == "csv":
        rendered = render_csv(report)
    else:
        rendered = render_json(report)
    _write(args.output, rendered)
    return EXIT_OK


def find_asset_id(store: Any, text: str) -> int:
    """An asset by ``#id``, asset tag, serial or UUID (exactly one, or a clear error)."""
    from sqlalchemy import or_, select

    from bench_agent.ledger.models import Asset

    with store.session() as session:
        if text.startswith("#") and text[1:].isdigit():
            found = session.scalars(select(Asset.id).where(Asset.id == int(text[1:]))).all()
        else:
            found = session.scalars(
                select(Asset.id).where(
                    or_(Asset.asset_tag == text, Asset.serial == text, Asset.uuid == text)
                )
            ).all()
    if not found:
        raise InputError(
            _("No machine '{asset}' in the ledger.", asset=text),
            _("Give its asset tag, serial number, UUID or #id."),
        )
    if len(found) > 1:
        raise InputError(
            _("'{asset}' names {count} machines.", asset=text, count=len(found)),
            _("Use the #id shown on the dashboard instead."),
        )
    return int(found[0])


def run_export_glpi(args: argparse.Namespace) -> int:
    import json

    from bench_agent.ledger.asset_queries import asset_page
    from bench_agent.ledger.glpi import to_glpi

    store = _store(args)
    page = asset_page(store, find_asset_id(store, args.asset))
    if page is None or page.latest is None:
        raise BenchError(
            _("Machine '{asset}' has no bench record yet.", asset=args.asset),
            _("Run it through a bench first."),
        )
    document = to_glpi(
        page.latest.inventory,
        deviceid=f"bench-asset-{page.asset.id}",
        asset_tag=page.asset.asset_tag,
    )
    _write(args.output, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


def run_export_csv(args: argparse.Namespace) -> int:
    from bench_agent.ledger.exports import asset_rows
    from bench_agent.ledger.glpi import assets_csv

    rows: list[dict[str, Any]] = []
    for batch in asset_rows(_store(args)):
        rows.extend(batch)
    _write(args.output, assets_csv(rows))
    return EXIT_OK


def run_label(args: argparse.Namespace) -> int:
    from bench_agent.ledger.asset_queries import asset_page, packed_on
    from bench_agent.ledger.labels import label_info, render_labels

    if args.public_url is None:
        args.public_url = ledger_settings().public_url
    if not args.public_url:
        raise InputError(
            _("The labels need the ledger's public address for their QR code."),
            _("Add --public-url https://… or set BENCH_LEDGER_PUBLIC_URL."),
        )
    store = _store(args)
    infos = []
    for text in args.assets:
        page = asset_page(store, find_asset_id(store, text))
        if page is None or page.latest is None:
            raise BenchError(
                _("Machine '{asset}' has no bench record yet.", asset=text),
                _("Run it through a bench first."),
            )
        tag = page.asset.asset_tag or str(page.asset.id)
        infos.append(
            label_info(
                page.latest,
                verify_url=f"{args.public_url.rstrip('/')}/verify/{tag}",
                packed_on=packed_on(page),
                asset_tag=page.asset.asset_tag,
            )
        )
    _write(args.output, render_labels(infos, args.size))
    return EXIT_OK
