"""The audit hash chain over accepted records and lifecycle events.

Each accepted row gets an ``audit_chain`` entry holding the SHA-256 of the row's canonical JSON
(every column) and ``hash = SHA-256(prev_hash | seq | table | row id | row_sha256)``. Editing a
row changes its digest; deleting a row leaves an entry pointing at nothing; editing or deleting
an entry breaks the links; a row added by hand has no entry. ``verify_chain`` finds all of them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from bench_agent.i18n import _
from bench_agent.ledger.models import (
    AuditEntry,
    AuditHead,
    Base,
    LifecycleEvent,
    Record,
    utcnow,
)

GENESIS = "0" * 64
CHAINED: dict[str, type[Base]] = {
    Record.__tablename__: Record,
    LifecycleEvent.__tablename__: LifecycleEvent,
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def values_digest(values: dict[str, Any]) -> str:
    """SHA-256 of a row given as {column: value} (every column)."""
    data = json.dumps(
        {k: _plain(v) for k, v in values.items()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def row_digest(row: Base) -> str:
    """SHA-256 of the row's canonical JSON: every column, by name."""
    return values_digest({c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs})


def link_hash(prev_hash: str, seq: int, table: str, row_id: int, row_sha256: str) -> str:
    text = f"{prev_hash}|{seq}|{table}|{row_id}|{row_sha256}"
    return hashlib.sha256(text.encode("ascii")).hexdigest()


_SELECT_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
_INSERT_ENTRY = insert(AuditEntry)
_UPDATE_HEAD = (
    update(AuditHead).where(AuditHead.id == 1).values(seq=bindparam("s"), hash=bindparam("h"))
)


def append_digest(conn: Connection, table: str, row_id: int, digest: str, actor: str) -> str:
    """Chain one row by its digest. Locks the chain head until the transaction ends."""
    head = conn.execute(_SELECT_HEAD).first()
    if head is None:
        conn.execute(insert(AuditHead).values(id=1, seq=0, hash=GENESIS))
        seq, prev = 1, GENESIS
    else:
        seq, prev = head.seq + 1, head.hash
    entry_hash = link_hash(prev, seq, table, row_id, digest)
    conn.execute(
        _INSERT_ENTRY,
        {
            "seq": seq,
            "table_name": table,
            "row_id": row_id,
            "row_sha256": digest,
            "prev_hash": prev,
            "hash": entry_hash,
            "at": utcnow(),
            "actor": actor,
        },
    )
    conn.execute(_UPDATE_HEAD, {"s": seq, "h": entry_hash})
    return entry_hash


def append(session: Session, row: Base, actor: str) -> str:
    """Chain an ORM row (flushed, so it has its id) in the session's transaction."""
    row_id = int(row.id)  # type: ignore[attr-defined]
    return append_digest(session.connection(), row.__tablename__, row_id, row_digest(row), actor)


@dataclass
class AuditProblem:
    table: str
    row_id: int | None
    seq: int | None
    message: str

    def __str__(self) -> str:
        return self.message


def verify_chain(session: Session) -> tuple[int, list[AuditProblem]]:
    """Check the whole chain; return (entries checked, problems found)."""
    problems: list[AuditProblem] = []
    prev = GENESIS
    expected_seq = 1
    seen: dict[str, set[int]] = {name: set() for name in CHAINED}
    count = 0
    rows: dict[str, dict[int, Base]] = {}
    for name, model in CHAINED.items():
        rows[name] = {int(r.id): r for r in session.scalars(select(model))}  # type: ignore[attr-defined]
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
        count += 1
        if entry.seq != expected_seq:
            problems.append(
                AuditProblem(
                    entry.table_name,
                    entry.row_id,
                    entry.seq,
                    _(
                        "audit entries {first}..{last} are missing (deleted from the chain)",
                        first=expected_seq,
                        last=entry.seq - 1,
                    ),
                )
            )
        expected_seq = entry.seq + 1
        if entry.prev_hash != prev or entry.hash != link_hash(
            entry.prev_hash, entry.seq, entry.table_name, entry.row_id, entry.row_sha256
        ):
            problems.append(
                AuditProblem(
                    entry.table_name,
                    entry.row_id,
                    entry.seq,
                    _("audit entry {seq} was altered (its hash link is broken)", seq=entry.seq),
                )
            )
        prev = entry.hash
        table_rows = rows.get(entry.table_name)
        if table_rows is None:
            problems.append(
                AuditProblem(
                    entry.table_name,
                    entry.row_id,
                    entry.seq,
                    _("audit entry {seq} names an unknown table", seq=entry.seq),
                )
            )
            continue
        seen[entry.table_name].add(entry.row_id)
        row = table_rows.get(entry.row_id)
        if row is None:
            problems.append(
                AuditProblem(
                    entry.table_name,
                    entry.row_id,
                    entry.seq,
                    _(
                        "{table} row {row_id} was deleted (audit entry {seq})",
                        table=entry.table_name,
                        row_id=entry.row_id,
                        seq=entry.seq,
                    ),
                )
            )
        elif row_digest(row) != entry.row_sha256:
            problems.append(
                AuditProblem(
                    entry.table_name,
                    entry.row_id,
                    entry.seq,
                    _(
                        "{table} row {row_id} was altered after it was recorded (audit entry {seq})",
                        table=entry.table_name,
                        row_id=entry.row_id,
                        seq=entry.seq,
                    ),
                )
            )
    head = session.get(AuditHead, 1)
    head_hash = head.hash if head is not None else GENESIS
    if head_hash != prev:
        problems.append(
            AuditProblem(
                "audit_chain",
                None,
                None,
                _("the last audit entries were deleted (the chain head does not match)"),
            )
        )
    for name, table_rows in rows.items():
        for row_id in sorted(set(table_rows) - seen[name]):
            problems.append(
                AuditProblem(
                    name,
                    row_id,
                    None,
                    _(
                        "{table} row {row_id} is not in the audit chain (added by hand)",
                        table=name,
                        row_id=row_id,
                    ),
                )
            )
    return count, problems
