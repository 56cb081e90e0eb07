"""Certificate renewal: which certificate a renewal replaced, and each member's last renewal.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _missing(table: str, column: str) -> bool:
    """Development databases may have the columns already: credential tables made plainly
    from the models before their migration (0003 adopts those as they are)."""
    return column not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    for table, column in (
        ("member", sa.Column("last_renewal_at", UTCDateTime(), nullable=True)),
        ("member", sa.Column("last_renewal_error", sa.String(length=200), nullable=True)),
        ("member_certificate", sa.Column("renewed_from", sa.String(length=24), nullable=True)),
    ):
        if _missing(table, column.name):
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("member_certificate", schema=None) as batch_op:
        batch_op.drop_column("renewed_from")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("last_renewal_error")
        batch_op.drop_column("last_renewal_at")
