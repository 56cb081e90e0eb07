"""Feedback inbox (`cloud.feedback.inbox`): who is on a report or suggestion (`assignee`,
`assigned_at`, internal), when the union last replied (`replied_at`; the reply itself is
`resolution`, which the worker's ticket page shows), and a suggestion's `city` (the nearest
registered station's, `cloud.feedback.city`), by which city-scoped accounts see it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("station_report", "station_suggestion")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("assignee", sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column("assigned_at", UTCDateTime(), nullable=True))
            batch_op.add_column(sa.Column("replied_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("station_suggestion", schema=None) as batch_op:
        batch_op.add_column(sa.Column("city", sa.String(length=60), nullable=True))
        batch_op.create_index("ix_station_suggestion_city", ["city", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("station_suggestion", schema=None) as batch_op:
        batch_op.drop_index("ix_station_suggestion_city")
        batch_op.drop_column("city")
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("replied_at")
            batch_op.drop_column("assigned_at")
            batch_op.drop_column("assignee")
