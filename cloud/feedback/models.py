"""Tables of workers' feedback: problem reports on a station, suggestions of new stations.

Text is stored exactly as cleaned by `cloud.feedback.text` (plain text, never HTML); whoever
shows it must insert it as text. Nothing identifying the sender is kept (no IP, no account).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Table, Text
from sqlmodel import Field, SQLModel

from cloud.clock import utcnow
from cloud.models import BigId, table
from cloud.sql.types import UTCDateTime

REPORT_KINDS = ("locked", "closed", "broken", "dirty", "other")
# A ticket's public states (`cloud.feedback.tickets`): a report is received, under review,
# then resolved or declined (not a problem, or not one ops can act on); a suggestion is
# received, under review, then built (with the station's id) or declined (`closed`: resolved
# before states existed, or without saying which).
REPORT_STATES = ("received", "under_review", "resolved", "declined")
SUGGESTION_STATES = ("received", "under_review", "built", "declined", "closed")
TICKET_MAX = 16
TEXT_MAX = 500  # characters of a report's text or a suggestion's note
NAME_MAX = 120  # as a station's name
REPLY_MAX = 1000  # characters of the union's reply to a worker (`cloud.feedback.inbox`)
USERNAME_MAX = 64  # as cloud.auth.models.OpsUser.username


class StationReport(SQLModel, table=True):
    """A problem at a station as a worker saw it; open until ops resolve it."""

    __tablename__ = "station_report"
    __table_args__ = (
        Index("ix_station_report_station", "station_id", "id"),
        Index("ix_station_report_open", "resolved_at", "id"),
        Index("ix_station_report_ticket", "ticket", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    station_id: str = Field(foreign_key="station.id", max_length=40)
    kind: str = Field(max_length=16, description="locked, closed, broken, dirty or other")
    text: str = Field(default="", sa_type=Text, description="plain text, at most 500 chars")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: str | None = Field(default=None, max_length=64)
    resolution: str = Field(
        default="", sa_type=Text, description="the union's reply the worker sees, plain text"
    )
    ticket: str | None = Field(
        default=None, max_length=TICKET_MAX, description="public ticket number (None: older)"
    )
    state: str = Field(default="received", max_length=16, description="public state")
    state_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    assignee: str | None = Field(
        default=None, max_length=USERNAME_MAX, description="ops account on it (internal)"
    )
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    replied_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="when `resolution` was last replied"
    )


class StationSuggestion(SQLModel, table=True):
    """ "Put a station here": a WGS-84 point, a name and a note; open until ops resolve it."""

    __tablename__ = "station_suggestion"
    __table_args__ = (
        Index("ix_station_suggestion_open", "resolved_at", "id"),
        Index("ix_station_suggestion_ticket", "ticket", unique=True),
        Index("ix_station_suggestion_city", "city", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    lat: float = Field(ge=-90, le=90, description="WGS-84 latitude, degrees")
    lon: float = Field(ge=-180, le=180, description="WGS-84 longitude, degrees")
    name: str = Field(max_length=NAME_MAX)
    note: str = Field(default="", sa_type=Text, description="plain text, at most 500 chars")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: str | None = Field(default=None, max_length=64)
    resolution: str = Field(
        default="", sa_type=Text, description="the union's reply the worker sees, plain text"
    )
    ticket: str | None = Field(
        default=None, max_length=TICKET_MAX, description="public ticket number (None: older)"
    )
    state: str = Field(default="received", max_length=16, description="public state")
    state_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    built_station_id: str | None = Field(
        default=None, max_length=40, description="the station built from it (state built)"
    )
    assignee: str | None = Field(
        default=None, max_length=USERNAME_MAX, description="ops account on it (internal)"
    )
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    replied_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="when `resolution` was last replied"
    )
    city: str | None = Field(
        default=None,
        max_length=60,
        description="the nearest registered station's city when filed (cloud.feedback.city); "
        "scoped accounts see a suggestion by it",
    )


TABLES: list[Table] = [table(StationReport), table(StationSuggestion)]
