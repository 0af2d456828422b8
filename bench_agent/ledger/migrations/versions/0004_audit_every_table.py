"""The audit chain covers certificates, lots, assets, station keys and users too.

A row may now have several entries (a lot corrected, a key retired): the unique index on
(table_name, row_id) becomes a plain one. Rows of the newly chained tables that exist already
are chained once, in table and id order, so ``bench-ledger audit verify`` keeps passing on a
migrated ledger.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NEWLY_CHAINED = ("certificates", "lots", "assets", "station_keys", "users")


def upgrade() -> None:
    with op.batch_alter_table("audit_chain", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_chain_row")
        batch_op.create_index("ix_audit_chain_row", ["table_name", "row_id"], unique=False)
    from bench_agent.ledger import audit

    conn = op.get_bind()
    for name in NEWLY_CHAINED:
        # The table as it is at this revision (later revisions add columns to the models).
        table = sa.Table(name, sa.MetaData(), autoload_with=conn)
        chained = {
            row_id
            for (row_id,) in conn.execute(
                sa.text("SELECT row_id FROM audit_chain WHERE table_name = :t"), {"t": name}
            )
        }
        entries = [
            (name, int(row["id"]), audit.table_digest(name, dict(row)))
            for row in conn.execute(sa.select(table).order_by(table.c.id)).mappings()
            if row["id"] not in chained
        ]
        audit.append_many(conn, entries, "migration:0004")  # one head read and write per table


def downgrade() -> None:
    with op.batch_alter_table("audit_chain", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_chain_row")
        batch_op.create_index("ix_audit_chain_row", ["table_name", "row_id"], unique=True)
