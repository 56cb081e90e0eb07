"""Station health: status history for uptime, the newest heartbeat and alarm level on the
live state, and the alarm table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOT_CLEARED = sa.text("state != 'cleared'")


def upgrade() -> None:
    with op.batch_alter_table("station_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telemetry", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("alarm_level", sa.String(length=16), nullable=False, server_default="none")
        )
        batch_op.add_column(
            sa.Column("attention", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("history_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("health", sa.String(length=16), nullable=True))

    op.create_table(
        "station_status_history",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("station_id", sa.String(length=40), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sess", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("station_status_history", schema=None) as batch_op:
        batch_op.create_index("ix_status_history_at", ["at"], unique=False)
        batch_op.create_index("ix_status_history_station_at", ["station_id", "at"], unique=False)

    op.create_table(
        "alarm",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("station_id", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("blocks_open", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=True),
        sa.Column("clearing_since", UTCDateTime(), nullable=True),
        sa.Column("cleared_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.create_index("ix_alarm_state_raised", ["state", "raised_at"], unique=False)
        batch_op.create_index("ix_alarm_station_raised", ["station_id", "raised_at"], unique=False)
        batch_op.create_index(
            "uq_alarm_open",
            ["station_id", "rule"],
            unique=True,
            sqlite_where=NOT_CLEARED,
            postgresql_where=NOT_CLEARED,
        )


def downgrade() -> None:
    op.drop_table("alarm")
    op.drop_table("station_status_history")
    with op.batch_alter_table("station_state", schema=None) as batch_op:
        batch_op.drop_column("health")
        batch_op.drop_column("history_status")
        batch_op.drop_column("attention")
        batch_op.drop_column("alarm_level")
        batch_op.drop_column("telemetry")
