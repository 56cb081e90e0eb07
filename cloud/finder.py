"""The workers' station finder: nearest stations with what is true about them right now.

Candidates come from an indexed lat/lon box in SQL; exact great-circle distance, amenities,
liveness and opening hours are then judged in Python, nearest first, stopping at `limit`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import or_
from sqlmodel import Session, col, select

from cloud import geo
from cloud.liveness import LivenessPolicy, assess
from cloud.models import Station, StationPublic, StationState


class NearbyStation(StationPublic):
    distance_m: float = Field(description="great-circle distance from the query point, metres")


class NearbyResponse(BaseModel):
    stations: list[NearbyStation]
    count: int


def station_public(
    station: Station, state: StationState | None, *, now: datetime, policy: LivenessPolicy
) -> StationPublic:
    a = assess(station, state, now, policy)
    return StationPublic.model_validate(
        station.model_dump()
        | {
            "open_now": a.open_now,
            "status": a.status.value,
            "closes_at": a.hours.closes_at,
            "opens_at": a.hours.opens_at,
            "occupancy": state.occupancy if state is not None else None,
        }
    )


def get_station(
    session: Session, *, station_id: str, now: datetime, policy: LivenessPolicy
) -> StationPublic | None:
    station = session.get(Station, station_id)
    if station is None:
        return None
    return station_public(station, session.get(StationState, station_id), now=now, policy=policy)


def nearby(
    session: Session,
    *,
    lat: float,
    lon: float,
    radius_m: float,
    now: datetime,
    policy: LivenessPolicy,
    limit: int = 20,
    only_open: bool = False,
    amenities: Collection[str] = (),
) -> list[NearbyStation]:
    """Stations within `radius_m` metres of (lat, lon), nearest first (ties by id).

    `only_open` keeps stations open now (see `cloud.liveness.assess`); `amenities` keeps
    stations that have every one listed.
    """
    box = geo.bbox(lat, lon, radius_m)
    query = (
        select(Station, StationState)
        .join(StationState, isouter=True)
        .where(col(Station.lat).between(box.min_lat, box.max_lat))
        .where(or_(*(col(Station.lon).between(lo, hi) for lo, hi in box.lon_ranges())))
    )
    if only_open:
        query = query.where(col(Station.maintenance).is_(False))
    wanted = set(amenities)
    candidates = []
    for station, state in session.exec(query):
        distance = geo.haversine_m(lat, lon, station.lat, station.lon)
        if distance <= radius_m and wanted.issubset(station.amenities):
            candidates.append((distance, station.id, station, state))
    candidates.sort(key=lambda c: (c[0], c[1]))
    found: list[NearbyStation] = []
    for distance, _id, station, state in candidates:
        view = station_public(station, state, now=now, policy=policy)
        if only_open and not view.open_now:
            continue
        found.append(
            NearbyStation.model_validate(view.model_dump() | {"distance_m": round(distance, 1)})
        )
        if len(found) >= limit:
            break
    return found
