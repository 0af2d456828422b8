"""Bounds on what the ledger accepts from the network: JSON bodies, ids and request paths.

Every body the API reads goes through :func:`load_json` before any model sees it: nesting
deeper than :data:`MAX_DEPTH`, integers outside 64 bits, ``NaN``/``Infinity``/``1e400`` and
strings holding lone UTF-16 surrogates (which no database can store) are refused with the
location of the offending value, so the API answers 422 naming the field instead of 500.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from bench_agent.i18n import _
from bench_agent.ledger.schemas import MAX_ID  # 64-bit: what a database column holds

MAX_DEPTH = 32
# Ids the ledger stores and puts in URLs and file names: no spaces, no control characters.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
CERTIFICATE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class InputProblem(Exception):
    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"

    def as_error(self, prefix: tuple[str | int, ...] = ("body",)) -> dict[str, Any]:
        return {"loc": (*prefix, *self.loc), "msg": self.msg, "type": self.type}


class _BadNumber:
    """A number JSON allows but the ledger does not store (kept to report where it was)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _parse_int(text: str) -> Any:
    digits = text.lstrip("-")
    if len(digits) > 19:
        return _BadNumber(text)
    value = int(text)
    return value if -MAX_ID - 1 <= value <= MAX_ID else _BadNumber(text)


def _parse_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _BadNumber(text)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_value(value: Any, loc: tuple[str | int, ...] = (), depth: int = 0) -> None:
    """Raise :class:`InputProblem` for the first value the ledger cannot store."""
    if depth > MAX_DEPTH:
        raise InputProblem(loc, _("is nested deeper than {depth} levels", depth=MAX_DEPTH))
    if isinstance(value, str):
        if _has_surrogate(value):
            raise InputProblem(loc, _("holds an invalid character (lone surrogate)"))
    elif isinstance(value, _BadNumber):
        raise InputProblem(
            loc, _("is not a finite number within 64 bits: {value}", value=value.text[:20])
        )
    elif isinstance(value, bool | int):
        if isinstance(value, int) and not -MAX_ID - 1 <= value <= MAX_ID:
            raise InputProblem(loc, _("is not a finite number within 64 bits: {value}", value=""))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InputProblem(
                loc, _("is not a finite number within 64 bits: {value}", value=value)
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if _has_surrogate(key):
                raise InputProblem(loc, _("holds an invalid character (lone surrogate)"))
            check_value(item, (*loc, key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_value(item, (*loc, index), depth + 1)


def _storable(document: Any) -> bool:
    """Fast check (no locations): nothing too deep, too large, non-finite or unencodable."""
    stack = [(document, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        value, depth = pop()
        if depth > MAX_DEPTH:
            return False
        kind = type(value)
        if kind is str:
            if not value.isascii() and _has_surrogate(value):
                return False
        elif kind is dict:
            for key, item in value.items():
                if not key.isascii() and _has_surrogate(key):
                    return False
                push((item, depth + 1))
        elif kind is list:
            for item in value:
                push((item, depth + 1))
        elif kind is int:
            if not -MAX_ID - 1 <= value <= MAX_ID:
                return False
        elif kind is float and not math.isfinite(value):
            return False
    return True


def load_json(raw: bytes | str) -> Any:
    """Parse a request body, refusing what the ledger cannot store (raises InputProblem).

    The common case costs one ``json.loads`` and one quick walk; only a refused body is parsed
    again, slowly, to say where the offending value is.
    """
    try:
        try:
            document = json.loads(raw)
        except UnicodeDecodeError:
            raise
        except ValueError:
            document = None  # perhaps only an integer of thousands of digits: locate it below
        else:
            if _storable(document):
                return document
        located = json.loads(
            raw, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_BadNumber
        )
    except RecursionError as exc:
        raise InputProblem(
            (), _("is nested deeper than {depth} levels", depth=MAX_DEPTH), "json_invalid"
        ) from exc
    except ValueError as exc:  # not JSON, or not UTF-8
        raise InputProblem((), _("not valid JSON: {error}", error=exc), "json_invalid") from exc
    check_value(located)
    return located if document is None else document


def check_id(value: str, *, pattern: re.Pattern[str] = ID_PATTERN) -> str:
    """An id the ledger stores, shows in URLs and uses in file names (raise ValueError)."""
    if not pattern.match(value):
        raise ValueError(
            _(
                "must be 1 to {length} letters, digits or . _ : - (no spaces or control "
                "characters)",
                length=64 if pattern is ID_PATTERN else 100,
            )
        )
    return value


MAX_SEGMENT = 255  # no file name, id or code is longer


def bad_path(path: str) -> bool:
    """A request path no route may see: control characters (NUL, CR, LF), lone surrogates, or
    a segment longer than any name the ledger stores (the file system refuses them anyway)."""
    return (
        bool(_CONTROL.search(path))
        or _has_surrogate(path)
        or any(len(part.encode("utf-8", "replace")) > MAX_SEGMENT for part in path.split("/"))
    )


def header_safe(text: str) -> str:
    """Text for a header value such as a download file name (no quotes, no control chars)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:100] or "file"
