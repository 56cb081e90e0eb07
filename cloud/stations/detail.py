"""One station as its detail page shows it: the public fields plus how recently anything
confirmed it — the agent's last sign of life and the last member the door let in.

A retired station has no detail (None, as for an unknown one). The entrance hint and contact
phone are here only, not in the nearby index. Only the detail view reads these (one indexed
lookup each); the nearby search stays on the
digest columns. Both are None for a station without an agent (basis `schedule` by nature):
the page then says it is open by its published hours only.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlalchemy import select
from sqlmodel import Session

from cloud.models import Event, Station, StationState, table
from cloud.stations.finder import station_public
from cloud.stations.liveness import LivenessPolicy
from cloud.stations.maintenance import station_windows
from cloud.stations.public import StationPublic
from cloud.stations.sight import SEEING, Sight

EVENT = table(Event)


class StationDetail(StationPublic):
    last_seen_at: datetime | None = Field(
        default=None,
        description="the agent's last heartbeat or state report (cloud time); None: no agent",
    )
    last_entry_at: datetime | None = Field(
        default=None, description="the last granted entry the door recorded (station time)"
    )
    entrance_hint: str = Field(default="", description="how to find the door; blank: none")
    contact_phone: str = Field(default="", description="whom to call; blank: none")


def get_detail(
    session: Session,
    *,
    station_id: str,
    now: datetime,
    policy: LivenessPolicy,
    sight: Sight = SEEING,
) -> StationDetail | None:
    station = session.get(Station, station_id)
    if station is None or station.retired_at is not None:
        return None
    state = session.get(StationState, station_id)
    windows = station_windows(session.connection(), station_id, now)
    public = station_public(station, state, now=now, policy=policy, sight=sight, windows=windows)
    seen: datetime | None = None
    if state is not None:
        marks = [t for t in (state.last_heartbeat, state.status_at) if t is not None]
        seen = max(marks) if marks else None
    entry = (
        session.connection()
        .execute(
            select(EVENT.c.ts)
            .where(
                EVENT.c.station_id == station_id,
                EVENT.c.type == "access",
                EVENT.c.granted.is_(True),
            )
            .order_by(EVENT.c.ts.desc())
            .limit(1)
        )
        .scalar()
    )
    return StationDetail.model_validate(
        public.model_dump()
        | {"last_seen_at": seen, "last_entry_at": entry}
        | {"entrance_hint": station.entrance_hint, "contact_phone": station.contact_phone}
    )
