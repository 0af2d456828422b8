"""``bench-agent enroll``, ``sync`` and ``outbox``: the station's link to the ledger."""

from __future__ import annotations

import argparse
from typing import Any

from bench_agent.i18n import _


def register(sub: Any) -> None:
    enroll = sub.add_parser("enroll", help=_("enrol this station with a ledger"))
    enroll.add_argument("--ledger", required=True, metavar="URL", help=_("ledger address"))
    enroll.add_argument(
        "--token", required=True, help=_("the token 'bench-ledger station add' printed")
    )
    enroll.add_argument("--station", help=_("expected station name (checked against the token)"))
    enroll.set_defaults(func=run_enroll)

    sync = sub.add_parser("sync", help=_("send the records waiting in the outbox"))
    sync.add_argument("--once", action="store_true", help=_("one pass, then exit"))
    sync.add_argument("--poll", type=float, default=5.0, help=_("seconds between passes"))
    sync.set_defaults(func=run_sync)

    outbox = sub.add_parser("outbox", help=_("show the records waiting to be sent"))
    outbox.add_argument("--json", action="store_true", help=_("print JSON"))
    outbox.add_argument("--all", action="store_true", help=_("include the records already sent"))
    outbox.add_argument("--retry", metavar="RECORD_ID", help=_("queue a quarantined record again"))
    outbox.set_defaults(func=run_outbox)


def run_enroll(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.sync.enroll import enroll

    result = enroll(args.ledger, args.token, args.station, settings=load_settings())
    print(
        _(
            "Station '{station}' enrolled with {url} (key {key_id}).",
            station=result["station"],
            url=result["ledger_url"],
            key_id=result["key_id"],
        )
    )
    return 0


def _print_report(report: Any) -> None:
    print(
        _(
            "sent {sent}, already stored {already}, quarantined {quarantined}, waiting {remaining}",
            sent=report.sent,
            already=report.already_stored,
            quarantined=report.quarantined,
            remaining=report.remaining,
        ),
        flush=True,
    )
    if report.error:
        print(_("warning: {message}", message=report.error), flush=True)
    for record_id in report.quarantined_ids:
        print(
            _(
                "warning: record {record_id} was quarantined; see 'bench-agent outbox'.",
                record_id=record_id,
            ),
            flush=True,
        )


def run_sync(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.sync.outbox import Outbox
    from bench_agent.sync.sender import Sender, require_enrolled

    settings = load_settings()
    require_enrolled(settings)
    with Outbox(settings.outbox_path) as outbox:
        sender = Sender(settings, outbox)
        try:
            if args.once:
                report = sender.run_pass()
                _print_report(report)
                return 0 if not report.remaining and not report.quarantined else 1
            sender.run_forever(poll_s=args.poll, on_report=_print_report)
        finally:
            sender.close()
    return 0


def run_outbox(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bench_agent.config import load_settings
    from bench_agent.console.output import print_json, print_table
    from bench_agent.errors import InputError
    from bench_agent.sync.outbox import Outbox

    settings = load_settings()
    if not settings.outbox_path.exists() and not args.retry:
        # Nothing was ever queued: do not create the file just to say so.
        if args.json:
            print_json({"counts": {"pending": 0, "sent": 0, "quarantined": 0}, "records": []})
        else:
            print(
                _(
                    "{pending} waiting, {quarantined} quarantined, {sent} sent ({path})",
                    pending=0,
                    quarantined=0,
                    sent=0,
                    path=settings.outbox_path,
                )
            )
        return 0
    with Outbox(settings.outbox_path) as outbox:
        if args.retry:
            if not outbox.requeue(args.retry):
                raise InputError(
                    _("No quarantined record {record_id} in the outbox.", record_id=args.retry),
                    _("List them with 'bench-agent outbox'."),
                )
            print(_("Record {record_id} queued again.", record_id=args.retry))
            return 0
        states = ("pending", "quarantined", "sent") if args.all else ("pending", "quarantined")
        entries = outbox.entries(states)
        counts = outbox.counts()
    if args.json:
        print_json({"counts": counts, "records": [e.as_dict() for e in entries]})
        return 0

    def when(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"

    print(
        _(
            "{pending} waiting, {quarantined} quarantined, {sent} sent ({path})",
            pending=counts["pending"],
            quarantined=counts["quarantined"],
            sent=counts["sent"],
            path=settings.outbox_path,
        )
    )
    if entries:
        print_table(
            [_("record"), _("state"), _("queued at"), _("attempts"), _("last error")],
            [
                (e.record_id, e.state, when(e.created_at), e.attempts, e.last_error[:80])
                for e in entries
            ],
        )
    return 0
