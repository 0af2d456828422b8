"""The parts bin: ``parts`` (one kept part, its state, bin and machines) and ``part_events``
(harvested, stocked, fitted, scrapped), both in the audit chain (new tables: nothing to chain
at migration time).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("identity", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("serial", sa.String(length=200), nullable=False),
        sa.Column("slot", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("mem_type", sa.String(length=32), nullable=False),
        sa.Column("form_factor", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("speed_mts", sa.Integer(), nullable=True),
        sa.Column("watts", sa.Integer(), nullable=True),
        sa.Column("certificate_id", sa.String(length=100), nullable=False),
        sa.Column("bin", sa.String(length=64), nullable=False),
        sa.Column("lot", sa.String(length=64), nullable=False),
        sa.Column("from_asset_id", sa.Integer(), nullable=True),
        sa.Column("fitted_asset_id", sa.Integer(), nullable=True),
        sa.Column("fitted_asset_tag", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["fitted_asset_id"], ["assets.id"]),
        sa.ForeignKeyConstraint(["from_asset_id"], ["assets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("identity"),
    )
    with op.batch_alter_table("parts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_parts_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_parts_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_parts_from_asset_id"), ["from_asset_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_parts_fitted_asset_id"), ["fitted_asset_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_parts_fitted_asset_tag"), ["fitted_asset_tag"], unique=False
        )
    op.create_table(
        "part_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("bin", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"]),
        sa.ForeignKeyConstraint(["part_id"], ["parts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("part_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_part_events_part_id"), ["part_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_part_events_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_part_events_at"), ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("part_events")
    op.drop_table("parts")
