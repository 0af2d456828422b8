"""``bench-ledger validation report --from DATE --to DATE [--json]``: the validation
programme's coverage over a period, failures listed (bench_agent.ledger.validation computes it;
this module is only the command line over it, beside the other command groups)."""

from __future__ import annotations

import argparse
from typing import Any

from bench_agent.errors import EXIT_FAILURE, EXIT_OK
from bench_agent.i18n import _
from bench_agent.ledger.cli_base import add_db_option, open_store, option_date


def register(sub: Any) -> None:
    group = sub.add_parser("validation", help=_("the validation programme (re-checked wipes)"))
    group_sub = group.add_subparsers(dest="validation_command", required=True)
    report = group_sub.add_parser(
        "report", help=_("validation coverage over a period, failures listed")
    )
    add_db_option(report)
    report.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
    report.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD")
    report.add_argument("--json", action="store_true", help=_("print JSON"))
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from bench_agent.console.output import print_json
    from bench_agent.ledger.validation import load_coverage

    start, end = option_date(args.start, "--from"), option_date(args.end, "--to")
    coverage = load_coverage(open_store(args), start=start, end=end)
    if args.json:
        print_json(coverage.model_dump(mode="json"))
    else:
        print(
            _(
                "Validation {start} to {end}: {validated} of {certified} certified disks "
                "validated ({percent} %; published rate {rate}), {passed} passed, {failed} "
                "FAILED; drawn {drawn} (offline {offline}), not checked {unchecked}, by another "
                "operator {independent}.",
                start=coverage.period_from,
                end=coverage.period_to,
                validated=coverage.validated,
                certified=coverage.disks_certified,
                percent=coverage.coverage_percent,
                rate=f"{coverage.rate:.1%}",
                passed=coverage.passed,
                failed=coverage.failed,
                drawn=coverage.drawn,
                offline=coverage.drawn_offline,
                unchecked=coverage.not_checked,
                independent=coverage.independent,
            )
        )
        for failure in coverage.failures:
            print(
                _(
                    "FAILED: certificate {id} (disk {serial}, station {station}, wiped by "
                    "{wiped_by}): {detail}",
                    id=failure.certificate_id,
                    serial=failure.serial or "-",
                    station=failure.station,
                    wiped_by=failure.wiped_by or "-",
                    detail=failure.detail,
                )
            )
    return EXIT_FAILURE if coverage.failed or coverage.unverifiable else EXIT_OK
