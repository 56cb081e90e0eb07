"""Workers' feedback from the finder: problem reports on stations, suggested new stations.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _missing(name: str) -> bool:
    """Development databases may hold the tables already (made before this migration)."""
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("station_report"):
        op.create_table(
            "station_report",
            sa.Column("id", BIG_ID, nullable=False),
            sa.Column("station_id", sa.String(length=40), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("resolved_at", UTCDateTime(), nullable=True),
            sa.Column("resolved_by", sa.String(length=64), nullable=True),
            sa.Column("resolution", sa.Text(), nullable=False),
            sa.ForeignKeyConstraint(["station_id"], ["station.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_station_report_station", "station_report", ["station_id", "id"])
        op.create_index("ix_station_report_open", "station_report", ["resolved_at", "id"])
    if _missing("station_suggestion"):
        op.create_table(
            "station_suggestion",
            sa.Column("id", BIG_ID, nullable=False),
            sa.Column("lat", sa.Float(), nullable=False),
            sa.Column("lon", sa.Float(), nullable=False),
            sa.Column("name", sa.String(length=120), nullable=False),
            sa.Column("note", sa.Text(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("resolved_at", UTCDateTime(), nullable=True),
            sa.Column("resolved_by", sa.String(length=64), nullable=True),
            sa.Column("resolution", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_station_suggestion_open", "station_suggestion", ["resolved_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_station_suggestion_open", table_name="station_suggestion")
    op.drop_table("station_suggestion")
    op.drop_index("ix_station_report_open", table_name="station_report")
    op.drop_index("ix_station_report_station", table_name="station_report")
    op.drop_table("station_report")
