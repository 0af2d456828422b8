"""The audit hash chain over every row that matters, and signed checkpoints of its head.

Chained tables: records, lifecycle events, certificates, lots, assets, station keys, users
(roles), stations (public key, token hash, disabled state), and the parts bin's parts and
part events. Each write appends an
``audit_chain`` entry holding the SHA-256 of the row's audited columns (every column, except the
few that change on their own: an asset's or a station's last-seen time, a user's failed-login
count) and ``hash = SHA-256(prev_hash | seq | table | row id |
row_sha256)``. A row that changes legitimately (a lot corrected, a key retired, an erased
pseudonym) gets a new entry; a deleted lot gets a deletion entry. ``verify_chain`` checks the
links and that every row matches its latest entry: editing a row, deleting it, adding one by
hand or editing/deleting an entry in the middle is reported.

Deleting the LAST entries together with their rows (and moving ``audit_head`` back) leaves a
consistent shorter chain: only a copy of the head kept elsewhere can show it. ``checkpoint``
signs the head (seq and hash) with the ledger's own Ed25519 key (``ledger-audit.key`` in the
ledger's data directory; its public half is printed at creation), and ``check_checkpoint``
reports any truncation or rewrite since a checkpoint.
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
    Asset,
    AuditEntry,
    AuditHead,
    Base,
    Certificate,
    LifecycleEvent,
    Lot,
    Part,
    PartEvent,
    Record,
    Station,
    StationKey,
    User,
    utcnow,
)

GENESIS = "0" * 64
DELETED = "deleted"  # the row_sha256 of a deletion entry
CHAINED: dict[str, type[Base]] = {
    Record.__tablename__: Record,
    LifecycleEvent.__tablename__: LifecycleEvent,
    Certificate.__tablename__: Certificate,
    Lot.__tablename__: Lot,
    Asset.__tablename__: Asset,
    StationKey.__tablename__: StationKey,
    User.__tablename__: User,
    Station.__tablename__: Station,
    Part.__tablename__: Part,
    PartEvent.__tablename__: PartEvent,
}
# Columns that change on their own, outside what the chain vouches for.
# ``site_id`` (migration 0007, ``ledger/sites.py``) is outside it too: rows chained before the
# programme had sites keep their digests.
UNAUDITED: dict[str, frozenset[str]] = {
    Asset.__tablename__: frozenset({"first_seen_at", "last_seen_at", "site_id"}),
    Lot.__tablename__: frozenset(
        {"updated_at", "updated_by", "created_at", "created_by", "site_id"}
    ),
    User.__tablename__: frozenset(
        {"failed_logins", "locked_at", "created_at", "created_by", "site_id"}
    ),
    Station.__tablename__: frozenset({"last_seen_at", "site_id"}),
    Part.__tablename__: frozenset({"site_id"}),
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


def audited(table: str, values: dict[str, Any]) -> dict[str, Any]:
    skip = UNAUDITED.get(table, frozenset())
    return {k: v for k, v in values.items() if k not in skip}


def table_digest(table: str, values: dict[str, Any]) -> str:
    """SHA-256 of a row of ``table`` given as {column: value} (its audited columns)."""
    return values_digest(audited(table, values))


def row_digest(row: Base) -> str:
    """SHA-256 of the row's canonical JSON: its audited columns, by name."""
    return table_digest(
        row.__tablename__, {c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs}
    )


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
    return append_many(conn, [(table, row_id, digest)], actor)


def append_many(conn: Connection, entries: list[tuple[str, int, str]], actor: str) -> str:
    """Chain several rows (table, row id, digest) at once: one head read, one head write."""
    head = conn.execute(_SELECT_HEAD).first()
    if head is None:
        conn.execute(insert(AuditHead).values(id=1, seq=0, hash=GENESIS))
        seq, prev = 0, GENESIS
    else:
        seq, prev = head.seq, head.hash
    if not entries:
        return str(prev)
    now = utcnow()
    rows = []
    for table, row_id, digest in entries:
        seq += 1
        entry_hash = link_hash(prev, seq, table, row_id, digest)
        rows.append(
            {
                "seq": seq,
                "table_name": table,
                "row_id": row_id,
                "row_sha256": digest,
                "prev_hash": prev,
                "hash": entry_hash,
                "at": now,
                "actor": actor,
            }
        )
        prev = entry_hash
    conn.execute(_INSERT_ENTRY, rows)
    conn.execute(_UPDATE_HEAD, {"s": seq, "h": prev})
    return str(prev)


def append(session: Session, row: Base, actor: str) -> str:
    """Chain an ORM row (new or changed; flushed) in the session's transaction."""
    session.flush()
    row_id = int(row.id)  # type: ignore[attr-defined]
    return append_digest(session.connection(), row.__tablename__, row_id, row_digest(row), actor)


def append_deleted(session: Session, row: Base, actor: str) -> str:
    """Chain the deletion of a row (a lot created by mistake)."""
    row_id = int(row.id)  # type: ignore[attr-defined]
    return append_digest(session.connection(), row.__tablename__, row_id, DELETED, actor)


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
    count = 0
    # (table, row id) → (seq, row_sha256) of the row's latest entry
    latest: dict[tuple[str, int], tuple[int, str]] = {}
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
        if entry.table_name not in CHAINED:
            problems.append(
                AuditProblem(
                    entry.table_name,
                    entry.row_id,
                    entry.seq,
                    _("audit entry {seq} names an unknown table", seq=entry.seq),
                )
            )
            continue
        latest[(entry.table_name, entry.row_id)] = (entry.seq, entry.row_sha256)
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
    for name, model in CHAINED.items():
        present: set[int] = set()
        for row in session.scalars(select(model)):
            row_id = int(row.id)  # type: ignore[attr-defined]
            present.add(row_id)
            known = latest.get((name, row_id))
            if known is None or known[1] == DELETED:
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
            elif row_digest(row) != known[1]:
                problems.append(
                    AuditProblem(
                        name,
                        row_id,
                        known[0],
                        _(
                            "{table} row {row_id} was altered after it was recorded (audit entry {seq})",
                            table=name,
                            row_id=row_id,
                            seq=known[0],
                        ),
                    )
                )
        for (table, row_id), (seq, digest) in sorted(latest.items()):
            if table == name and row_id not in present and digest != DELETED:
                problems.append(
                    AuditProblem(
                        table,
                        row_id,
                        seq,
                        _(
                            "{table} row {row_id} was deleted (audit entry {seq})",
                            table=table,
                            row_id=row_id,
                            seq=seq,
                        ),
                    )
                )
    return count, problems


# ------------------------------------------------------------------------------ checkpoints
CHECKPOINT_KIND = "bench-ledger/audit-checkpoint"


def ledger_key_path() -> Any:
    from bench_agent.ledger.db import ledger_home

    return ledger_home() / "ledger-audit.key"


def checkpoint(session: Session, key: Any, database: str) -> dict[str, Any]:
    """The chain's head (seq, hash), signed with the ledger's key: keep it elsewhere."""
    from bench_agent.signing import sign_document

    head = session.get(AuditHead, 1)
    document = {
        "kind": CHECKPOINT_KIND,
        "seq": head.seq if head is not None else 0,
        "hash": head.hash if head is not None else GENESIS,
        "at": utcnow().isoformat(timespec="seconds"),
        "database": database,
    }
    signed: dict[str, Any] = sign_document(document, key)
    return signed


def check_checkpoint(
    session: Session, document: dict[str, Any], public_key: str | None
) -> list[AuditProblem]:
    """What changed in the chain since this checkpoint: a truncation or a rewrite."""
    from bench_agent.errors import BenchError
    from bench_agent.signing import public_key_from_text, verify_document

    try:
        if document.get("kind") != CHECKPOINT_KIND:
            raise BenchError(_("This is not an audit checkpoint."), "")
        verify_document(document, public_key_from_text(public_key) if public_key else None)
        seq, expected = int(document["seq"]), str(document["hash"])
    except (BenchError, KeyError, TypeError, ValueError) as exc:
        message = exc.message if isinstance(exc, BenchError) else str(exc)
        return [
            AuditProblem(
                "audit_chain",
                None,
                None,
                _("the checkpoint is not valid: {reason}", reason=message),
            )
        ]
    if seq == 0:
        return []
    entry = session.get(AuditEntry, seq)
    head = session.get(AuditHead, 1)
    at = str(document.get("at", ""))
    if entry is None or head is None or head.seq < seq:
        problem = _(
            "the audit chain was cut back since the checkpoint of {at}: entry {seq} is gone",
            at=at,
            seq=seq,
        )
    elif entry.hash != expected:
        problem = _(
            "the audit chain was rewritten since the checkpoint of {at}: entry {seq} differs",
            at=at,
            seq=seq,
        )
    else:
        return []
    return [AuditProblem("audit_chain", None, seq, problem)]
