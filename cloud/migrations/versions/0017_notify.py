"""Alarm notifications (cloud.notify): channels, routing rules, daily digests, and the outbox
of events, deliveries and attempts (the delivery log); an index on `alarm.updated_at` for the
poller that reads alarm changes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _missing(name: str) -> bool:
    """Development databases may hold the tables already (made before this migration)."""
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("notify_channel"):
        op.create_table(
            "notify_channel",
            sa.Column("id", BIG_ID, nullable=False),
            sa.Column("name", sa.String(length=80), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("target", sa.Text(), nullable=False),
            sa.Column("secret", sa.String(length=200), nullable=False),
            sa.Column("tz", sa.String(length=64), nullable=False),
            sa.Column("quiet_start", sa.String(length=5), nullable=True),
            sa.Column("quiet_end", sa.String(length=5), nullable=True),
            sa.Column("quiet_bypass_critical", sa.Boolean(), nullable=False),
            sa.Column("timeout_s", sa.Float(), nullable=False),
            sa.Column("enabled", sa.Boolean(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("name"),
        )
    if _missing("notify_rule"):
        op.create_table(
            "notify_rule",
            sa.Column("id", BIG_ID, nullable=False),
            sa.Column("name", sa.String(length=80), nullable=False),
            sa.Column("channel_id", BIG_ID, nullable=False),
            sa.Column("min_severity", sa.String(length=16), nullable=False),
            sa.Column("rules", sa.JSON(), nullable=False),
            sa.Column("cities", sa.JSON(), nullable=False),
            sa.Column("operators", sa.JSON(), nullable=False),
            sa.Column("stations", sa.JSON(), nullable=False),
            sa.Column("notify_clear", sa.Boolean(), nullable=False),
            sa.Column("escalate_after_min", sa.Float(), nullable=True),
            sa.Column("escalate_channel_id", BIG_ID, nullable=True),
            sa.Column("enabled", sa.Boolean(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.ForeignKeyConstraint(["channel_id"], ["notify_channel.id"]),
            sa.ForeignKeyConstraint(["escalate_channel_id"], ["notify_channel.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
    if _missing("notify_digest"):
        op.create_table(
            "notify_digest",
            sa.Column("id", BIG_ID, nullable=False),
            sa.Column("name", sa.String(length=80), nullable=False),
            sa.Column("channel_id", BIG_ID, nullable=False),
            sa.Column("city", sa.String(length=60), nullable=True),
            sa.Column("operator", sa.String(length=120), nullable=True),
            sa.Column("hour", sa.Integer(), nullable=False),
            sa.Column("enabled", sa.Boolean(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.ForeignKeyConstraint(["channel_id"], ["notify_channel.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
    if _missing("notify_event"):
        op.create_table(
            "notify_event",
            sa.Column("id", BIG_ID, nullable=False),
            sa.Column("key", sa.String(length=120), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("alarm_id", BIG_ID, nullable=True),
            sa.Column("severity", sa.String(length=16), nullable=False),
            sa.Column("facts", sa.JSON(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("key"),
        )
        op.create_index("ix_notify_event_created", "notify_event", ["created_at"])
    if _missing("notify_delivery"):
        op.create_table(
            "notify_delivery",
            sa.Column("id", BIG_ID, nullable=False),
            sa.Column("event_id", BIG_ID, nullable=False),
            sa.Column("channel_id", BIG_ID, nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("next_at", UTCDateTime(), nullable=False),
            sa.Column("lease_until", UTCDateTime(), nullable=True),
            sa.Column("last_status", sa.Integer(), nullable=True),
            sa.Column("last_error", sa.String(length=300), nullable=True),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("sent_at", UTCDateTime(), nullable=True),
            sa.ForeignKeyConstraint(["event_id"], ["notify_event.id"]),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("event_id", "channel_id", name="uq_notify_delivery_event_channel"),
        )
        op.create_index("ix_notify_delivery_due", "notify_delivery", ["status", "next_at"])
        op.create_index("ix_notify_delivery_channel", "notify_delivery", ["channel_id", "id"])
    if _missing("notify_attempt"):
        op.create_table(
            "notify_attempt",
            sa.Column("id", BIG_ID, nullable=False),
            sa.Column("delivery_id", BIG_ID, nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False),
            sa.Column("ok", sa.Boolean(), nullable=False),
            sa.Column("status", sa.Integer(), nullable=True),
            sa.Column("error", sa.String(length=300), nullable=True),
            sa.Column("ms", sa.Float(), nullable=False),
            sa.ForeignKeyConstraint(["delivery_id"], ["notify_delivery.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_notify_attempt_delivery", "notify_attempt", ["delivery_id"])
    if _missing("notify_cursor"):
        op.create_table(
            "notify_cursor",
            sa.Column("name", sa.String(length=32), nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("alarm")}
    if "ix_alarm_updated" not in indexes:
        op.create_index("ix_alarm_updated", "alarm", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_alarm_updated", table_name="alarm")
    op.drop_table("notify_cursor")
    op.drop_index("ix_notify_attempt_delivery", table_name="notify_attempt")
    op.drop_table("notify_attempt")
    op.drop_index("ix_notify_delivery_channel", table_name="notify_delivery")
    op.drop_index("ix_notify_delivery_due", table_name="notify_delivery")
    op.drop_table("notify_delivery")
    op.drop_index("ix_notify_event_created", table_name="notify_event")
    op.drop_table("notify_event")
    op.drop_table("notify_digest")
    op.drop_table("notify_rule")
    op.drop_table("notify_channel")
