"""``bench-agent schema``: print the JSON Schemas of the documents the bench produces."""

from __future__ import annotations

import argparse
from typing import Any

from bench_agent.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("schema", help=_("print the JSON Schema of the bench documents"))
    parser.add_argument(
        "name",
        nargs="?",
        help=_("one document: Inventory, Verdict, WipeReport, ImageReport or BenchRecord"),
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bench_agent.console.output import print_json
    from bench_agent.errors import InputError
    from bench_agent.models import json_schemas

    schemas = json_schemas()
    if args.name:
        if args.name not in schemas:
            raise InputError(
                _("Unknown document '{name}'.", name=args.name),
                _("Choose one of: {names}.", names=", ".join(schemas)),
            )
        print_json(schemas[args.name])
    else:
        print_json(schemas)
    return 0
