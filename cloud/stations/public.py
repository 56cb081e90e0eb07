"""A station as the workers' app sees it: the registry fields plus what is true right now
(the nearby search, the station page). The tables are in `cloud.models`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from cloud.models import StationBase


class MaintenanceNotice(SQLModel):
    """A maintenance window as workers see it (`cloud.stations.maintenance`)."""

    starts_at: datetime
    ends_at: datetime | None = Field(description="expected end; None: until ops end it")
    reason: str = Field(description="why, in the operator's words (plain text)")


class StationPublic(StationBase):
    """A station as the workers' app sees it: registry fields plus what is true right now."""

    id: str
    open_now: bool = Field(description="open right now, by the rule of `cloud.stations.opennow`")
    basis: str = Field(
        description="live: the station's agent confirms it; schedule: by its published opening "
        "hours only (no agent at this station, or the cloud cannot see it right now)"
    )
    reason: str | None = Field(
        default=None,
        description="why not open: maintenance, station_down, station_fault, reported_locked, "
        "closed_by_hours or door_closed (the station's own door schedule has it closed)",
    )
    status: str = Field(description="online, stale, lost, offline, degraded or unknown")
    closes_at: datetime | None = Field(default=None, description="next closing by the hours")
    opens_at: datetime | None = Field(default=None, description="next opening by the hours")
    occupancy: int | None = None
    reported_locked_at: datetime | None = Field(
        default=None,
        description="a worker reported the door locked, closed or broken at this time and "
        "nothing has disproved it yet (see reason `reported_locked`); None: no such report",
    )
    maintenance_window: MaintenanceNotice | None = Field(
        default=None, description="the maintenance window closing it now (reason maintenance)"
    )
    next_maintenance: MaintenanceNotice | None = Field(
        default=None, description="maintenance planned to start within 7 days"
    )
