"""The public-holiday calendar years an admin loaded (`stations holidays load`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _missing(name: str) -> bool:
    """Development databases may hold the table already (made before this migration)."""
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("holiday_year"):
        op.create_table(
            "holiday_year",
            sa.Column("year", sa.Integer(), nullable=False),
            sa.Column("holidays", sa.JSON(), nullable=False),
            sa.Column("workdays", sa.JSON(), nullable=False),
            sa.Column("source", sa.String(length=200), nullable=False),
            sa.Column("loaded_by", sa.String(length=64), nullable=False),
            sa.Column("loaded_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("year"),
        )


def downgrade() -> None:
    op.drop_table("holiday_year")
