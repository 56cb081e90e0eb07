"""Station entrance hint and contact phone (shown on the workers' station page), and the
time a station was retired from the map (`cloud.stations.edit`).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("station", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("entrance_hint", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("contact_phone", sa.String(length=32), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("retired_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("station", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("contact_phone")
        batch_op.drop_column("entrance_hint")
