"""The alarm table: one row per occurrence, at most one not yet cleared per station and rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from cloud.models import BigId, table
from cloud.sql.types import UTCDateTime

# A row is `pending` while a rule's condition holds but not yet for its duration (not shown
# to ops), `raised`, then `cleared`. Acknowledgement is separate: ops may acknowledge an
# alarm that is still raised (seen, working on it) or one that cleared by itself.
PENDING, RAISED, CLEARED = "pending", "raised", "cleared"


class Alarm(SQLModel, table=True):
    __tablename__ = "alarm"
    __table_args__ = (
        # De-duplication: a second `raised` for the same open alarm updates this row.
        Index(
            "uq_alarm_open",
            "station_id",
            "rule",
            unique=True,
            sqlite_where=text("state != 'cleared'"),
            postgresql_where=text("state != 'cleared'"),
        ),
        Index("ix_alarm_state_raised", "state", "raised_at"),
        Index("ix_alarm_station_raised", "station_id", "raised_at"),
        Index("ix_alarm_updated", "updated_at"),  # cloud.notify reads changes since a cursor
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    station_id: str | None = Field(
        default=None, foreign_key="station.id", max_length=40, description="None: the cloud's own"
    )
    rule: str = Field(max_length=40, description="e.g. fridge_warm, camera_down")
    severity: str = Field(max_length=16, description="critical or warning")
    blocks_open: bool = Field(default=False, description="takes the station off the open map")
    source: str = Field(max_length=8, description="edge (its own alarm/door events) or cloud")
    state: str = Field(max_length=16, description="pending, raised or cleared")
    since: datetime = Field(sa_type=UTCDateTime, description="the condition first held")
    raised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    clearing_since: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="the clear condition first held"
    )
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=64)
    value: float | None = Field(default=None, description="the reading that decided last")
    detail: str | None = Field(default=None, max_length=200)
    occurrences: int = Field(default=1, description="raises folded into this row")
    updated_at: datetime = Field(sa_type=UTCDateTime)


TABLES = [table(Alarm)]
