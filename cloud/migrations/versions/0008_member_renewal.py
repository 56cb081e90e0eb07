"""Certificate renewal: which certificate a renewal replaced, and each member's last renewal.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sqltypes import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_renewal_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_renewal_error", sa.String(length=200), nullable=True))
    with op.batch_alter_table("member_certificate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renewed_from", sa.String(length=24), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("member_certificate", schema=None) as batch_op:
        batch_op.drop_column("renewed_from")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("last_renewal_error")
        batch_op.drop_column("last_renewal_at")
