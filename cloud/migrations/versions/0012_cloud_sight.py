"""The cloud's own sight: ingest workers' presence, and alarms about the cloud itself
(`cloud_blind`, station_id NULL).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_presence",
        sa.Column("worker", sa.String(length=80), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("worker"),
    )
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.alter_column("station_id", existing_type=sa.String(length=40), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM alarm WHERE station_id IS NULL")
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.alter_column("station_id", existing_type=sa.String(length=40), nullable=False)
    op.drop_table("ingest_presence")
