"""Scoped ops accounts: `ops_user_scope`, the operators/partners and cities an account is
limited to (`cloud.auth.scope`); an account without rows keeps seeing every station. Indexes
on `station.operator` and `station.city`, which a scoped account's queries select by.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_user_scope",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["ops_user.username"]),
        sa.PrimaryKeyConstraint("username", "kind", "value"),
    )
    op.create_index("ix_station_operator", "station", ["operator"])
    op.create_index("ix_station_city", "station", ["city"])


def downgrade() -> None:
    op.drop_index("ix_station_city", table_name="station")
    op.drop_index("ix_station_operator", table_name="station")
    op.drop_table("ops_user_scope")
