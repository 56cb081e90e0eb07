"""The door mode a station reports (`station_state.door_mode`: free, members or closed by its
own schedule), read with the liveness columns: a door closed by its schedule is not open on
the map, whatever the registry's hours say.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("station_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("door_mode", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("station_state", schema=None) as batch_op:
        batch_op.drop_column("door_mode")
