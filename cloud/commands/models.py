"""The command table: one row per command an operator sent, with its outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel

from cloud.models import BigId, table
from cloud.sql.types import UTCDateTime

# sent: the broker has it; ok/failed: the station answered; expired: no answer before
# `expires_at` (the station would refuse it now); error: the broker never took it.
SENT, OK, FAILED, EXPIRED, ERROR = "sent", "ok", "failed", "expired", "error"


class Command(SQLModel, table=True):
    __tablename__ = "command"
    __table_args__ = (Index("ix_command_station_requested", "station_id", "requested_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    cmd_id: str = Field(max_length=64, unique=True, description="what the station answers to")
    station_id: str = Field(foreign_key="station.id", max_length=40)
    name: str = Field(max_length=16)
    args: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    state: str = Field(max_length=16)
    detail: str | None = Field(default=None, max_length=200)
    requested_by: str = Field(max_length=64)
    requested_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    result_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


TABLES = [table(Command)]
