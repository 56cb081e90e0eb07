"""Refusals are never silent: per-station refusal and seq-gap accounting on the live state.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("station_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refused", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("refused_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("refused_reason", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("skipped", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("gap_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("gap_since", UTCDateTime(), nullable=True))
        batch_op.create_index("ix_station_state_gap_since", ["gap_since"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("station_state", schema=None) as batch_op:
        batch_op.drop_index("ix_station_state_gap_since")
        batch_op.drop_column("gap_since")
        batch_op.drop_column("gap_at")
        batch_op.drop_column("skipped")
        batch_op.drop_column("refused_reason")
        batch_op.drop_column("refused_at")
        batch_op.drop_column("refused")
