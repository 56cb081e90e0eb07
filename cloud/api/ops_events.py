"""A station's recent events for the ops dashboard (viewer):
`GET /api/v1/ops/stations/{sid}/events?type=access|door|alarm&limit=&before=`.

Access decisions come with their reason code and credential kind only: never the
certificate serial (a member pseudonym that links visits) or anything else about a person.
Newest first by the station's journal `seq`, which is never reused, so `next_before` pages
stably while new events arrive. Only stations in the caller's scope (`cloud.api.scoping`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from cloud.api.deps import Before, ContextDep
from cloud.api.scoping import station_access
from cloud.auth import Principal, Role
from cloud.models import Event, Station, table

EVENT = table(Event)
STATION = table(Station)
Viewer = Annotated[Principal, Depends(station_access(Role.VIEWER))]
EventType = Literal["access", "door", "alarm"]

router = APIRouter(prefix="/api/v1/ops", tags=["ops"])


class StationEvent(BaseModel):
    """One journaled event without personal data."""

    seq: int
    type: str
    ts: datetime = Field(description="the station's clock")
    received_at: datetime
    historical: bool = Field(description="sent late from the journal (after an outage)")
    granted: bool | None = None
    reason: str | None = Field(default=None, description="access: the reason code")
    credential: str | None = Field(default=None, description="access: ws1 or ws2")
    action: str | None = Field(default=None, description="door: opened, forced_open, …")
    cause: str | None = Field(default=None, description="door: grant, exit, remote")
    alarm: str | None = None
    alarm_state: str | None = None
    detail: str | None = Field(default=None, description="alarm: the station's own words")


class EventPage(BaseModel):
    items: list[StationEvent]
    next_before: int | None = Field(description="pass as ?before= for older events")


_COLUMNS = (
    EVENT.c.seq,
    EVENT.c.type,
    EVENT.c.ts,
    EVENT.c.received_at,
    EVENT.c.historical,
    EVENT.c.granted,
    EVENT.c.reason,
    EVENT.c.credential,
    EVENT.c.action,
    EVENT.c.cause,
    EVENT.c.alarm,
    EVENT.c.alarm_state,
    EVENT.c.detail,
)


@router.get("/stations/{sid}/events", response_model=EventPage)
def station_events(
    ctx: ContextDep,
    _: Viewer,
    sid: str,
    kind: Annotated[list[EventType] | None, Query(alias="type", description="repeatable")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Before = None,
) -> EventPage:
    where = [EVENT.c.station_id == sid]
    if kind:
        where.append(EVENT.c.type.in_(kind))
    if before is not None:
        where.append(EVENT.c.seq < before)
    query = select(*_COLUMNS).where(*where).order_by(EVENT.c.seq.desc()).limit(limit + 1)
    with ctx.engine.connect() as conn:
        known = conn.execute(select(STATION.c.id).where(STATION.c.id == sid)).first()
        if known is None:
            raise HTTPException(404, f"no station {sid!r}")
        rows = [dict(r._mapping) for r in conn.execute(query)]
    page = rows[:limit]
    for row in page:
        if row["type"] != "alarm":
            row["detail"] = None  # only alarm details are the station's own diagnostic text
    return EventPage(
        items=[StationEvent.model_validate(r) for r in page],
        next_before=page[-1]["seq"] if len(rows) > limit else None,
    )
