"""Shared CLI output helpers: JSON on stdout, readable tables, yes/no confirmation."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from bench_agent.i18n import format_size


def print_json(data: Any) -> None:
    if isinstance(data, BaseModel):
        text = data.model_dump_json(indent=2)
    elif isinstance(data, list) and data and isinstance(data[0], BaseModel):
        text = "[" + ",".join(item.model_dump_json(indent=2) for item in data) + "]"
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(text + "\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """A plain aligned table (no colour needed to read it)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if title:
        print(title)
    for n, row in enumerate(cells):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def human_bytes(n: int | float | None) -> str:
    """A size in the chosen language's units and decimal mark (one formatter with the app)."""
    return format_size(n)


def terminal_columns(stream: Any) -> int:
    """How wide the terminal ``stream`` writes to is; 80 (the Linux text console) when it cannot
    be asked. A progress bar cut to it never wraps, so it can be redrawn in place."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 80
