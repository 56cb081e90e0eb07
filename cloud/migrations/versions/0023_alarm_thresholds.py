"""Per-station overrides of the sensor alarm thresholds (`cloud.alarms.thresholds`): judged by
the cloud's monitor, never pushed to the station. NULL fields keep the rule's default.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if "alarm_threshold" in sa.inspect(op.get_bind()).get_table_names():
        return  # a development database made it before this migration existed
    op.create_table(
        "alarm_threshold",
        sa.Column("station_id", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("raise_above", sa.Float(), nullable=True),
        sa.Column("clear_below", sa.Float(), nullable=True),
        sa.Column("raise_after_s", sa.Float(), nullable=True),
        sa.Column("clear_after_s", sa.Float(), nullable=True),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"]),
        sa.PrimaryKeyConstraint("station_id", "rule"),
    )


def downgrade() -> None:
    op.drop_table("alarm_threshold")
