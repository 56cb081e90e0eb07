"""Ops authentication: accounts, browser sessions, API tokens, login throttling, audit log.

Development databases may already hold these tables (created plainly before this migration
existed), so each create is skipped when the table is there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("ops_user"):
        op.create_table(
            "ops_user",
            sa.Column("username", sa.String(length=64), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.Column("password_hash", sa.Text(), nullable=False),
            sa.Column("disabled", sa.Boolean(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("last_login_at", UTCDateTime(), nullable=True),
            sa.PrimaryKeyConstraint("username"),
        )
    if _missing("ops_session"):
        op.create_table(
            "ops_session",
            sa.Column("id_hash", sa.String(length=64), nullable=False),
            sa.Column("username", sa.String(length=64), nullable=False),
            sa.Column("csrf_token", sa.String(length=64), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("expires_at", UTCDateTime(), nullable=False),
            sa.Column("last_seen_at", UTCDateTime(), nullable=False),
            sa.Column("ip", sa.String(length=64), nullable=True),
            sa.Column("user_agent", sa.String(length=255), nullable=True),
            sa.ForeignKeyConstraint(["username"], ["ops_user.username"]),
            sa.PrimaryKeyConstraint("id_hash"),
        )
        op.create_index("ix_ops_session_username", "ops_session", ["username"])
    if _missing("api_token"):
        op.create_table(
            "api_token",
            sa.Column("id", BIG_ID, nullable=False),
            sa.Column("token_hash", sa.String(length=64), nullable=False),
            sa.Column("name", sa.String(length=64), nullable=False),
            sa.Column("username", sa.String(length=64), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("last_used_at", UTCDateTime(), nullable=True),
            sa.Column("expires_at", UTCDateTime(), nullable=True),
            sa.Column("revoked_at", UTCDateTime(), nullable=True),
            sa.ForeignKeyConstraint(["username"], ["ops_user.username"]),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("token_hash"),
        )
        op.create_index("ix_api_token_username", "api_token", ["username"])
    if _missing("login_throttle"):
        op.create_table(
            "login_throttle",
            sa.Column("key", sa.String(length=64), nullable=False),
            sa.Column("failures", sa.Integer(), nullable=False),
            sa.Column("last_failure_at", UTCDateTime(), nullable=False),
            sa.Column("locked_until", UTCDateTime(), nullable=True),
            sa.PrimaryKeyConstraint("key"),
        )
    if _missing("audit_log"):
        op.create_table(
            "audit_log",
            sa.Column("id", BIG_ID, nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False),
            sa.Column("username", sa.String(length=64), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.Column("action", sa.String(length=64), nullable=False),
            sa.Column("target", sa.String(length=255), nullable=False),
            sa.Column("detail", sa.JSON(), nullable=False),
            sa.Column("ip", sa.String(length=64), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("login_throttle")
    op.drop_index("ix_api_token_username", table_name="api_token")
    op.drop_table("api_token")
    op.drop_index("ix_ops_session_username", table_name="ops_session")
    op.drop_table("ops_session")
    op.drop_table("ops_user")
