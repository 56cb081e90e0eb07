"""Footfall roll-ups per station and UTC hour / day (`cloud.jobs.rollup`), and the time indexes
roll-ups and retention (`cloud.jobs.retention`) scan.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "footfall_day",
        sa.Column("station_id", sa.String(length=40), nullable=False),
        sa.Column("bucket_start", UTCDateTime(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("exits", sa.BigInteger(), nullable=False),
        sa.Column("max_occupancy", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("station_id", "bucket_start"),
    )
    with op.batch_alter_table("footfall_day", schema=None) as batch_op:
        batch_op.create_index("ix_footfall_day_start", ["bucket_start"], unique=False)

    op.create_table(
        "footfall_hour",
        sa.Column("station_id", sa.String(length=40), nullable=False),
        sa.Column("bucket_start", UTCDateTime(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("exits", sa.BigInteger(), nullable=False),
        sa.Column("max_occupancy", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("station_id", "bucket_start"),
    )
    with op.batch_alter_table("footfall_hour", schema=None) as batch_op:
        batch_op.create_index("ix_footfall_hour_start", ["bucket_start"], unique=False)

    op.create_index("ix_footfall_interval_start", "footfall_interval", ["interval_start"])
    op.create_index("ix_telemetry_received", "telemetry", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_telemetry_received", table_name="telemetry")
    op.drop_index("ix_footfall_interval_start", table_name="footfall_interval")
    for name in ("footfall_day", "footfall_hour"):
        op.drop_index(f"ix_{name}_start", table_name=name)
        op.drop_table(name)
