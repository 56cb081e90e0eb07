"""The nearby search done the slow, obvious way, to test and measure the production one
(`cloud.stations.finder.nearby_rows`) against.

`nearby` answers from an indexed lat/lon box in SQL alone, judging every candidate with
`finder.station_public`; `nearby_indexed` is the production search as validated models, so
both compare field by field.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_
from sqlmodel import Session, col, select

from cloud.models import Station, StationState
from cloud.stations import finder, geo
from cloud.stations.index import Snapshot
from cloud.stations.liveness import LivenessPolicy
from cloud.stations.sight import SEEING, Sight


def nearby_indexed(
    session: Connection | Session,
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
    sight: Sight = SEEING,
) -> list[finder.NearbyStation]:
    """`nearby_rows` as validated models."""
    return [
        finder.NearbyStation.model_validate(fields)
        for fields in finder.nearby_rows(
            session,
            snapshot,
            lat=lat,
            lon=lon,
            radius_m=radius_m,
            now=now,
            policy=policy,
            limit=limit,
            only_open=only_open,
            amenities=amenities,
            sight=sight,
        )
    ]


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
    sight: Sight = SEEING,
) -> list[finder.NearbyStation]:
    """Stations within `radius_m` metres of (lat, lon), nearest first (ties by id), except
    that within a distance bucket (`RANK_BUCKET_M`) live-basis stations come first.

    `only_open` keeps stations open now (see `cloud.stations.opennow`); `amenities` keeps stations
    that have every one listed.
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
    found: list[dict[str, Any]] = []
    for distance, _id, station, state in candidates:
        view = finder.station_public(station, state, now=now, policy=policy, sight=sight)
        if only_open and not view.open_now:
            continue
        found.append(view.model_dump() | {"distance_m": round(distance, 1)})
    return [finder.NearbyStation.model_validate(row) for row in finder.ranked(found, limit)]
