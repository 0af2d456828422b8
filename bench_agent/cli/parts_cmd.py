"""``bench-agent parts``: the parts bin from the bench's command line — keep the parts of a
rejected or remediated machine (from its saved record), list the stock, ask what the bin holds
for a machine, record a fitted or scrapped part, print a part's label."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench_agent.i18n import _


def register(sub: Any) -> None:
    parts = sub.add_parser("parts", help=_("the parts bin: harvest, stock, suggest, fit"))
    what = parts.add_subparsers(dest="parts_command", metavar="ACTION", required=True)

    harvest = what.add_parser("harvest", help=_("keep the parts of a rejected machine"))
    harvest.add_argument("record", type=Path, help=_("the machine's saved record (JSON)"))
    harvest.add_argument("--bin", default="", help=_("the bin the parts go in"))
    harvest.add_argument(
        "--kind",
        action="append",
        choices=["memory", "disk", "optical", "sound"],
        help=_("keep only this kind (repeatable)"),
    )
    harvest.add_argument("--psu", default="", help=_("a power supply kept too (make, model)"))
    harvest.add_argument("--watts", type=int, help=_("the power supply's rating"))
    harvest.add_argument("--dry-run", action="store_true", help=_("only list what would be kept"))
    harvest.set_defaults(func=run_harvest)

    stock = what.add_parser("stock", help=_("list the parts in stock"))
    stock.add_argument("--kind", choices=["memory", "disk", "optical", "sound", "psu"])
    stock.add_argument("--json", action="store_true", help=_("print JSON"))
    stock.set_defaults(func=run_stock)

    suggest = what.add_parser("suggest", help=_("what the bin holds for a machine lacking RAM"))
    suggest.add_argument("--asset", required=True, help=_("the machine's asset tag"))
    suggest.set_defaults(func=run_suggest)

    fit = what.add_parser("fit", help=_("a part was fitted into a machine"))
    fit.add_argument("code", help=_("the part's code (on its label)"))
    fit.add_argument("--asset", required=True, help=_("the machine's asset tag"))
    fit.set_defaults(func=run_fit)

    put = what.add_parser("put", help=_("put a harvested part in a bin"))
    put.add_argument("code", help=_("the part's code (on its label)"))
    put.add_argument("--bin", required=True, help=_("the bin the parts go in"))
    put.set_defaults(func=run_put)

    scrap = what.add_parser("scrap", help=_("a part goes to the recycler"))
    scrap.add_argument("code", help=_("the part's code (on its label)"))
    scrap.add_argument("--note", default="", help=_("why"))
    scrap.set_defaults(func=run_scrap)

    label = what.add_parser("label", help=_("write a part's label (PDF)"))
    label.add_argument("code", help=_("the part's code (on its label)"))
    label.add_argument("-o", "--output", type=Path, required=True, help=_("PDF file to write"))
    label.add_argument("--size", default="62x100", choices=["62x100", "4x6", "a4"])
    label.set_defaults(func=run_label)


def _line(part: Any) -> str:
    where = part.bin or part.fitted_asset_tag or "-"
    return f"{part.code}  {part.kind:<8} {part.description}  [{part.state}: {where}]"


def run_harvest(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.errors import InputError
    from bench_agent.inventory.parts import power_supply
    from bench_agent.models.record import BenchRecord
    from bench_agent.sync.parts import harvest
    from bench_agent.workflow.parts import harvest_proposal

    try:
        record = BenchRecord.model_validate(json.loads(args.record.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise InputError(
            _("Cannot read the record {path}: {reason}", path=args.record, reason=exc),
            _("Give the JSON record the bench saved for this machine."),
        ) from None
    parts = [p for p in harvest_proposal(record) if not args.kind or p.kind in args.kind]
    if args.psu:
        parts.append(power_supply(args.psu, args.watts))
    if not parts:
        print(
            _("Nothing to keep from {tag} (kept machine, or no such part).", tag=record.asset_tag)
        )
        return 0
    if args.dry_run:
        for part in parts:
            print(f"{part.kind:<8} {part.description}  ({part.slot or part.serial or '-'})")
        return 0
    for part in harvest(load_settings(), record.asset_tag, parts, args.bin):
        print(_line(part))
    return 0


def run_stock(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.sync.parts import list_stock

    stock = list_stock(load_settings(), args.kind)
    if args.json:
        print(json.dumps([p.model_dump(mode="json") for p in stock], indent=2, ensure_ascii=False))
    else:
        for part in stock:
            print(_line(part))
    return 0


def run_suggest(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.sync.parts import suggestion

    found = suggestion(load_settings(), args.asset)
    print(found.text or _("{tag}: its RAM is not to remediate.", tag=args.asset))
    for refused in found.refused:
        print(f"  {refused['code']}: {refused['reason']}")
    return 0


def run_fit(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.sync.parts import fit_part

    part = fit_part(load_settings(), args.code, args.asset)
    print(_line(part))
    print(_("Now re-inventory {tag} on the bench: it checks the part is seen.", tag=args.asset))
    return 0


def run_put(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.sync.parts import stock_part

    print(_line(stock_part(load_settings(), args.code, args.bin)))
    return 0


def run_scrap(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.sync.parts import scrap_part

    print(_line(scrap_part(load_settings(), args.code, args.note)))
    return 0


def run_label(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.sync.parts import part_label

    args.output.write_bytes(part_label(load_settings(), args.code, args.size))
    print(_("Label written to {path}.", path=args.output))
    return 0
