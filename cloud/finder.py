"""The workers' station finder: nearest stations with what is true about them right now.

`nearby_indexed` (what the API uses) ranks candidates with the in-memory `cloud.nearby`
index, then reads the registry rows and live state of just those candidates in one query and
judges liveness and opening hours nearest first, stopping at `limit`. `nearby` does the same
from an indexed lat/lon box in SQL alone: the reference the index is tested against.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import or_
from sqlmodel import Session, col, select

from cloud import geo
from cloud.liveness import LivenessPolicy, assess
from cloud.models import Station, StationPublic, StationState
from cloud.nearby import Snapshot, amenity_mask


class NearbyStation(StationPublic):
    distance_m: float = Field(description="great-circle distance from the query point, metres")


class NearbyResponse(BaseModel):
    stations: list[NearbyStation]
    count: int


def _public_fields(
    station: Station, state: StationState | None, *, now: datetime, policy: LivenessPolicy
) -> dict[str, Any]:
    a = assess(station, state, now, policy)
    return station.model_dump() | {
        "open_now": a.open_now,
        "status": a.status.value,
        "closes_at": a.hours.closes_at,
        "opens_at": a.hours.opens_at,
        "occupancy": state.occupancy if state is not None else None,
    }


def station_public(
    station: Station, state: StationState | None, *, now: datetime, policy: LivenessPolicy
) -> StationPublic:
    return StationPublic.model_validate(_public_fields(station, state, now=now, policy=policy))


def get_station(
    session: Session, *, station_id: str, now: datetime, policy: LivenessPolicy
) -> StationPublic | None:
    station = session.get(Station, station_id)
    if station is None:
        return None
    return station_public(station, session.get(StationState, station_id), now=now, policy=policy)


# With `status=open`, candidates fetched per round = limit × this (more: fewer rounds when many
# nearby stations are closed; fewer: less work when most are open, the usual case).
OPEN_OVERFETCH = 2
GROWTH = 4  # the next round fetches this many times more candidates


def nearby_indexed(
    session: Session,
    snapshot: Snapshot,
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
    """As `nearby`, ranked by the in-memory index; distances are great-circle metres from the
    registry row read now (the index may lag the registry by its refresh interval)."""
    require = amenity_mask(amenities)
    wanted = set(amenities)
    k = limit * OPEN_OVERFETCH if only_open else limit
    seen: set[str] = set()
    found: list[NearbyStation] = []
    while True:
        ids, hits = snapshot.nearest(
            lat, lon, radius_m=radius_m, k=k, require=require, only_open=only_open
        )
        fresh = [sid for sid in ids if sid not in seen]
        seen.update(fresh)
        rows = (
            {
                station.id: (station, state)
                for station, state in session.exec(
                    select(Station, StationState)
                    .join(StationState, isouter=True)
                    .where(col(Station.id).in_(fresh))
                )
            }
            if fresh
            else {}
        )
        for sid in fresh:
            if sid not in rows:
                continue  # deleted since the snapshot
            station, state = rows[sid]
            if not wanted.issubset(station.amenities):
                continue
            distance = geo.haversine_m(lat, lon, station.lat, station.lon)
            if distance > radius_m:
                continue
            fields = _public_fields(station, state, now=now, policy=policy)
            if only_open and not fields["open_now"]:
                continue
            fields["distance_m"] = round(distance, 1)
            found.append(NearbyStation.model_validate(fields))
            if len(found) >= limit:
                return found
        if hits.exhausted or len(ids) < k:
            return found
        k *= GROWTH


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
