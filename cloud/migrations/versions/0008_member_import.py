"""Members at union scale: flags and membership end on the member (set by bulk import and
carried into every certificate), and the kind of a certificate row (`device` or a printed
`pass`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _has(table: str, column: str) -> bool:
    """Development databases may have the column already (made before this migration)."""
    return column in {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    if not _has("member", "flags"):
        op.add_column(
            "member", sa.Column("flags", sa.Integer(), nullable=False, server_default="0")
        )
    if not _has("member", "valid_until"):
        op.add_column("member", sa.Column("valid_until", sa.Date(), nullable=True))
    if not _has("member_certificate", "kind"):
        op.add_column(
            "member_certificate",
            sa.Column("kind", sa.String(length=8), nullable=False, server_default="device"),
        )


def downgrade() -> None:
    with op.batch_alter_table("member_certificate") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("member") as batch:
        batch.drop_column("valid_until")
        batch.drop_column("flags")
