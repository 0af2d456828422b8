"""Sites: the programme's workshops on one ledger (``ledger/sites.py``).

Creates ``sites`` with the default site (id 1, code ``MAIN``) and gives stations, lots, assets
and parts a ``site_id`` (every existing row moves to the default site) and users one (today's
supervisors become supervisors of the default site; admins stay programme administrators,
``site_id`` NULL). ``site_id`` is outside the audit chain's digests (``audit.UNAUDITED``), so
the rows chained before keep verifying. Indexes serve the per-site scoping and reports.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SITE_TABLES = ("stations", "lots", "assets", "parts")


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.execute(
        sa.text(
            "INSERT INTO sites (id, code, name, created_at, created_by) "
            "VALUES (1, 'MAIN', 'Main workshop', CURRENT_TIMESTAMP, 'migration:0007')"
        )
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("SELECT setval('sites_id_seq', 1)"))
    for table in SITE_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("site_id", sa.Integer(), nullable=False, server_default="1")
            )
            batch_op.create_foreign_key(f"fk_{table}_site_id", "sites", ["site_id"], ["id"])
            batch_op.create_index(f"ix_{table}_site_id", ["site_id"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_users_site_id", "sites", ["site_id"], ["id"])
        batch_op.create_index("ix_users_site_id", ["site_id"], unique=False)
    op.execute(sa.text("UPDATE users SET site_id = 1 WHERE role = 'supervisor'"))
    # The site-year report and the board filter machines and records by site and time.
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index("ix_records_station_id_created_at", ["station_id", "created_at"])
    with op.batch_alter_table("lifecycle_events", schema=None) as batch_op:
        batch_op.create_index("ix_lifecycle_events_asset_id_at", ["asset_id", "at"])


def downgrade() -> None:
    with op.batch_alter_table("lifecycle_events", schema=None) as batch_op:
        batch_op.drop_index("ix_lifecycle_events_asset_id_at")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_station_id_created_at")
    for table in ("users", *SITE_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_site_id")
            batch_op.drop_constraint(f"fk_{table}_site_id", type_="foreignkey")
            batch_op.drop_column("site_id")
    op.drop_table("sites")
