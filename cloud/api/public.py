"""The workers' public API: find open stations nearby, look one up."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from cloud import finder
from cloud.api.deps import NowDep, PolicyDep, SessionDep
from cloud.finder import NearbyResponse
from cloud.models import StationPublic
from protocol.registry import AMENITIES

Amenity = StrEnum("Amenity", {a: a for a in AMENITIES})  # type: ignore[misc]

MAX_RADIUS_M = 50_000  # a worker rides a few km for a break; 50 km bounds the candidate scan
MAX_LIMIT = 100

router = APIRouter(prefix="/api/v1", tags=["public"])


@router.get("/stations/nearby", response_model=NearbyResponse)
def nearby_stations(
    session: SessionDep,
    now: NowDep,
    policy: PolicyDep,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="WGS-84 latitude")],
    lon: Annotated[
        float, Query(ge=-180, le=180, allow_inf_nan=False, description="WGS-84 longitude")
    ],
    radius_m: Annotated[
        float, Query(ge=1, le=MAX_RADIUS_M, allow_inf_nan=False, description="metres")
    ] = 5_000,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    status: Annotated[
        Literal["open", "any"], Query(description="`open`: only stations open right now")
    ] = "any",
    amenity: Annotated[
        list[Amenity] | None, Query(description="repeatable; stations must have all")
    ] = None,
) -> NearbyResponse:
    stations = finder.nearby(
        session,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        now=now,
        policy=policy,
        limit=limit,
        only_open=status == "open",
        amenities=[a.value for a in amenity or ()],
    )
    return NearbyResponse(stations=stations, count=len(stations))


@router.get("/stations/{station_id}", response_model=StationPublic)
def station_detail(
    station_id: str, session: SessionDep, now: NowDep, policy: PolicyDep
) -> StationPublic:
    station = finder.get_station(session, station_id=station_id, now=now, policy=policy)
    if station is None:
        raise HTTPException(status_code=404, detail=f"station {station_id!r} not found")
    return station
