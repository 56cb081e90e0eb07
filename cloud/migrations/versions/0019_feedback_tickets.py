"""Feedback tickets: a public ticket number and state on reports and suggestions
(`cloud.feedback.tickets`), and the station a suggestion was built as.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ticket_columns(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(sa.Column("ticket", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="received")
        )
        batch_op.add_column(sa.Column("state_at", UTCDateTime(), nullable=True))
        batch_op.create_index(f"ix_{table}_ticket", ["ticket"], unique=True)


def upgrade() -> None:
    _ticket_columns("station_report")
    _ticket_columns("station_suggestion")
    with op.batch_alter_table("station_suggestion", schema=None) as batch_op:
        batch_op.add_column(sa.Column("built_station_id", sa.String(length=40), nullable=True))
    # Rows resolved before tickets existed: resolved (reports) or closed (suggestions).
    op.execute("UPDATE station_report SET state = 'resolved' WHERE resolved_at IS NOT NULL")
    op.execute("UPDATE station_suggestion SET state = 'closed' WHERE resolved_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("station_suggestion", schema=None) as batch_op:
        batch_op.drop_column("built_station_id")
    for table in ("station_report", "station_suggestion"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_ticket")
            batch_op.drop_column("state_at")
            batch_op.drop_column("state")
            batch_op.drop_column("ticket")
