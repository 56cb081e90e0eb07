"""API clients of union app backends (`waystation members api-client add`) and the nonces
their signed requests used (`cloud.credentials.apiclients`); indexes for the members' change
feed (`cloud.credentials.changes`): certificates by issue and revocation time, members whose
last renewal was refused (partial: only those rows).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _missing(name: str) -> bool:
    """Development databases may hold the table already (made before this migration)."""
    return not sa.inspect(op.get_bind()).has_table(name)


def _no_index(table: str, name: str) -> bool:
    """Tables made plainly from the models (development) hold the indexes already."""
    return name not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(table)}


def upgrade() -> None:
    if _missing("api_client"):
        op.create_table(
            "api_client",
            sa.Column("client_id", sa.String(length=40), nullable=False),
            sa.Column("scopes", sa.String(length=80), nullable=False),
            sa.Column("public_key", sa.String(length=64), nullable=False),
            sa.Column("rate_per_min", sa.Integer(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("disabled_at", UTCDateTime(), nullable=True),
            sa.PrimaryKeyConstraint("client_id"),
        )
    if _missing("api_nonce"):
        op.create_table(
            "api_nonce",
            sa.Column("client_id", sa.String(length=40), nullable=False),
            sa.Column("nonce", sa.String(length=64), nullable=False),
            sa.Column("expires_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("client_id", "nonce"),
        )

    if _no_index("member_certificate", "ix_member_certificate_issued"):
        op.create_index("ix_member_certificate_issued", "member_certificate", ["issued_at"])
    if _no_index("member_certificate", "ix_member_certificate_revoked"):
        op.create_index(
            "ix_member_certificate_revoked", "member_certificate", ["revoked_at"],
            sqlite_where=sa.text("revoked_at IS NOT NULL"),
            postgresql_where=sa.text("revoked_at IS NOT NULL"),
        )  # fmt: skip
    if _no_index("member", "ix_member_renewal_refused"):
        op.create_index(
            "ix_member_renewal_refused", "member", ["last_renewal_at"],
            sqlite_where=sa.text("last_renewal_error IS NOT NULL"),
            postgresql_where=sa.text("last_renewal_error IS NOT NULL"),
        )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_member_renewal_refused", table_name="member")
    op.drop_index("ix_member_certificate_revoked", table_name="member_certificate")
    op.drop_index("ix_member_certificate_issued", table_name="member_certificate")
    op.drop_table("api_nonce")
    op.drop_table("api_client")
