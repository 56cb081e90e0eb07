"""Member credentials: issuer keys (sealed), signed lists, members and their certificates.

These tables existed before this migration in development databases (created plainly while
the feature had no migration), so each create is skipped when the table is already there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("issuer_key"):
        op.create_table(
            "issuer_key",
            sa.Column("kid", sa.String(length=16), nullable=False),
            sa.Column("role", sa.String(length=8), nullable=False),
            sa.Column("public_key", sa.String(length=64), nullable=False),
            sa.Column("sealed", sa.Text(), nullable=False),
            sa.Column("not_before", UTCDateTime(), nullable=False),
            sa.Column("not_after", UTCDateTime(), nullable=False),
            sa.Column("retired_at", UTCDateTime(), nullable=True),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("kid"),
        )
    if _missing("signed_list"):
        op.create_table(
            "signed_list",
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("issued_at", UTCDateTime(), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("kind"),
        )
    if _missing("member"):
        op.create_table(
            "member",
            sa.Column("member_id", sa.String(length=40), nullable=False),
            sa.Column("branch", sa.String(length=60), nullable=False),
            sa.Column("status", sa.String(length=12), nullable=False),
            sa.Column("enrol_code_hash", sa.String(length=64), nullable=True),
            sa.Column("enrol_code_expires", UTCDateTime(), nullable=True),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("member_id"),
        )
    if _missing("member_certificate"):
        op.create_table(
            "member_certificate",
            sa.Column("serial", sa.String(length=24), nullable=False),
            sa.Column("member_id", sa.String(length=40), nullable=False),
            sa.Column("kid", sa.String(length=16), nullable=False),
            sa.Column("device_public", sa.String(length=64), nullable=False),
            sa.Column("valid_from", sa.Date(), nullable=False),
            sa.Column("valid_until", sa.Date(), nullable=False),
            sa.Column("flags", sa.Integer(), nullable=False),
            sa.Column("issued_at", UTCDateTime(), nullable=False),
            sa.Column("revoked_at", UTCDateTime(), nullable=True),
            sa.ForeignKeyConstraint(["member_id"], ["member.member_id"]),
            sa.PrimaryKeyConstraint("serial"),
        )
        op.create_index("ix_member_certificate_member", "member_certificate", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_member_certificate_member", table_name="member_certificate")
    op.drop_table("member_certificate")
    op.drop_table("member")
    op.drop_table("signed_list")
    op.drop_table("issuer_key")
