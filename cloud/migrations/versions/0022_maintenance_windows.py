"""Maintenance windows (`cloud.stations.maintenance`): planned or immediate, with a reason shown
to workers. The registry's boolean `station.maintenance` stays as it is (immediate and
open-ended); nothing is moved from it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if "maintenance_window" in sa.inspect(op.get_bind()).get_table_names():
        return  # a development database made it before this migration existed
    op.create_table(
        "maintenance_window",
        sa.Column("id", BigId, nullable=False),
        sa.Column("station_id", sa.String(length=40), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("planned_end", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_maintenance_window_station", "maintenance_window", ["station_id", "starts_at"]
    )
    op.create_index("ix_maintenance_window_updated", "maintenance_window", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_maintenance_window_updated", table_name="maintenance_window")
    op.drop_index("ix_maintenance_window_station", table_name="maintenance_window")
    op.drop_table("maintenance_window")
