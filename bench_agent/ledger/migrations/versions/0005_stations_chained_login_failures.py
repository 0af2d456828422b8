"""Stations join the audit chain; login failure counts move to the database.

The rows of ``stations`` that exist already (public key, token hash, disabled state) are chained
once, in id order, so ``bench-ledger audit verify`` keeps passing on a migrated ledger and a
station row changed in SQL afterwards is reported. ``login_failures`` holds the login
throttle's consecutive failures per account and per client address, shared by every server
process (``bench-ledger serve --workers N``).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    from bench_agent.ledger import audit

    conn = op.get_bind()
    name = "stations"
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
    audit.append_many(conn, entries, "migration:0005")


def downgrade() -> None:
    op.drop_table("login_failures")
