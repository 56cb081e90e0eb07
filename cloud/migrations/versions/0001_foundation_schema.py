"""The foundation's schema, exactly as `SQLModel.metadata.create_all` made it.

Databases created before migrations existed are stamped at this revision by
`cloud.migrate.upgrade`, so this file must never change.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.sql.types import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("topic", sa.String(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("station_id", sa.String(length=40), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.create_index("ix_dead_letter_received", ["received_at"], unique=False)
        batch_op.create_index("ix_dead_letter_station_seq", ["station_id", "seq"], unique=False)

    op.create_table(
        "received_seq",
        sa.Column("station_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "seq"),
    )
    op.create_table(
        "station",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("amenities", sa.JSON(), nullable=False),
        sa.Column("opening_hours", sa.String(length=255), nullable=False),
        sa.Column("operator", sa.String(length=120), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("city", sa.String(length=60), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("maintenance", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("station", schema=None) as batch_op:
        batch_op.create_index("ix_station_lat_lon", ["lat", "lon"], unique=False)

    op.create_table(
        "event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("station_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("historical", sa.Boolean(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("credential", sa.String(length=8), nullable=True),
        sa.Column("kid", sa.String(length=16), nullable=True),
        sa.Column("serial", sa.String(length=24), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("cause", sa.String(length=40), nullable=True),
        sa.Column("alarm", sa.String(length=40), nullable=True),
        sa.Column("alarm_state", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("station_id", "event_id", name="uq_event_station_event_id"),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_station_seq", ["station_id", "seq"], unique=False)
        batch_op.create_index("ix_event_station_ts", ["station_id", "ts"], unique=False)

    op.create_table(
        "footfall_interval",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("station_id", sa.String(length=40), nullable=False),
        sa.Column("interval_start", UTCDateTime(), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("exits", sa.Integer(), nullable=False),
        sa.Column("occupancy", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("historical", sa.Boolean(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("station_id", "interval_start", name="uq_footfall_station_start"),
    )
    op.create_table(
        "station_state",
        sa.Column("station_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sess", sa.BigInteger(), nullable=True),
        sa.Column("status_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("last_seen", UTCDateTime(), nullable=True),
        sa.Column("last_heartbeat", UTCDateTime(), nullable=True),
        sa.Column("heartbeat_interval_s", sa.Float(), nullable=True),
        sa.Column("door", sa.String(length=16), nullable=True),
        sa.Column("lock", sa.String(length=16), nullable=True),
        sa.Column("occupancy", sa.Integer(), nullable=True),
        sa.Column("config_version", sa.BigInteger(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("acked_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("station_id"),
    )
    op.create_table(
        "telemetry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("station_id", sa.String(length=40), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("uptime_s", sa.Float(), nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("door", sa.String(length=16), nullable=False),
        sa.Column("lock", sa.String(length=16), nullable=False),
        sa.Column("occupancy", sa.Integer(), nullable=True),
        sa.Column("config_version", sa.BigInteger(), nullable=True),
        sa.Column("journal_backlog", sa.Integer(), nullable=False),
        sa.Column("cpu_temp_c", sa.Float(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("telemetry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_telemetry_station_received", ["station_id", "received_at"], unique=False
        )


def downgrade() -> None:
    for name, indexes in (
        ("telemetry", ["ix_telemetry_station_received"]),
        ("station_state", []),
        ("footfall_interval", []),
        ("event", ["ix_event_station_ts", "ix_event_station_seq"]),
        ("station", ["ix_station_lat_lon"]),
        ("received_seq", []),
        ("dead_letter", ["ix_dead_letter_station_seq", "ix_dead_letter_received"]),
    ):
        for index in indexes:
            op.drop_index(index, table_name=name)
        op.drop_table(name)
