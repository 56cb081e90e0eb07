"""The workers' public API around the nearby search: place search (no external geocoder),
cities with their outlines for the map's first paint, and the public status page's numbers.

No login, read-only, rate-limited with the station API. Coordinates are WGS-84 unless
`coord=gcj02` (then every returned point is GCJ-02, as in `cloud.api.public`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from cloud.api.deps import AppContext, ContextDep
from cloud.api.public import CoordQuery, fleet_view
from cloud.stations import gcj02
from cloud.stations.places import City, Place, PlaceIndexes, city_key

router = APIRouter(prefix="/api/v1", tags=["public"])
PLACES_MAX_AGE_S = 300  # the places change only with the registry


def _places(request: Request, ctx: AppContext) -> PlaceIndexes:
    cache: PlaceIndexes | None = getattr(request.app.state, "place_indexes", None)
    if cache is None:  # one per app
        cache = request.app.state.place_indexes = PlaceIndexes()
    return cache


class PlacesResponse(BaseModel):
    places: list[Place]


@router.get("/places", response_model=PlacesResponse)
def search_places(
    request: Request,
    ctx: ContextDep,
    response: Response,
    q: Annotated[str, Query(min_length=1, max_length=60, description="place text, e.g. 南山区")],
    limit: Annotated[int, Query(ge=1, le=20)] = 8,
    coord: CoordQuery = "wgs84",
) -> PlacesResponse:
    """Cities, districts/subdistricts, roads and stations whose name (or, for stations,
    address) matches `q`, best first (`cloud.stations.places`): a point to search from for a
    worker who will not share a location. Built from the registry's own names and addresses."""
    index = _places(request, ctx).get(ctx.index.current())
    found = index.search(q, limit)
    if coord == "gcj02":
        found = [_gcj(p) for p in found]
    response.headers["Cache-Control"] = f"public, max-age={PLACES_MAX_AGE_S}"
    return PlacesResponse(places=found)


def _gcj(p: Place) -> Place:
    lat, lon = gcj02.wgs84_to_gcj02(p.lat, p.lon)
    return p.model_copy(update={"lat": lat, "lon": lon})


class CitiesResponse(BaseModel):
    cities: list[City]


@router.get("/places/cities", response_model=CitiesResponse)
def cities(
    request: Request, ctx: ContextDep, response: Response, coord: CoordQuery = "wgs84"
) -> CitiesResponse:
    """Every city with registered stations: its stations' centre, count and outline (convex
    hull), most stations first; what the finder's map shows before a location is known."""
    found = _places(request, ctx).get(ctx.index.current()).cities
    if coord == "gcj02":
        found = [
            c.model_copy(
                update={
                    "lat": gcj02.wgs84_to_gcj02(c.lat, c.lon)[0],
                    "lon": gcj02.wgs84_to_gcj02(c.lat, c.lon)[1],
                    "hull": [gcj02.wgs84_to_gcj02(a, b) for a, b in c.hull],
                }
            )
            for c in found
        ]
    response.headers["Cache-Control"] = f"public, max-age={PLACES_MAX_AGE_S}"
    return CitiesResponse(cities=found)


class Counts(BaseModel):
    """Stations of one city (or all) by what the open-now rule says of them right now."""

    stations: int = 0
    open_now: int = 0
    open_live: int = Field(0, description="open, confirmed by the station's agent")
    open_schedule: int = Field(0, description="open by published hours only")
    with_agent: int = Field(0, description="stations judged on basis live (open or not)")
    closed_by_hours: int = 0
    station_down: int = Field(0, description="agent down or faulty (station_down/_fault)")
    reported_locked: int = 0
    maintenance: int = 0


class CityStatus(Counts):
    city: str


class StatusResponse(BaseModel):
    judged_at: datetime = Field(description="when these were judged (reused for a short while)")
    cloud_blind: bool = Field(
        description="the cloud cannot see its stations now (no ingest, or the whole fleet "
        "went quiet at once): every station is shown by its hours, basis schedule"
    )
    blindness: str | None = Field(description="no_ingest or fleet_silence while blind")
    total: Counts
    cities: list[CityStatus] = Field(description="most stations first")


def _count(c: Counts, open_now: bool, basis: str, reason: str | None) -> None:
    c.stations += 1
    if basis == "live":
        c.with_agent += 1
    if open_now:
        c.open_now += 1
        if basis == "live":
            c.open_live += 1
        else:
            c.open_schedule += 1
    elif reason in ("station_down", "station_fault"):
        c.station_down += 1
    elif reason == "reported_locked":
        c.reported_locked += 1
    elif reason == "maintenance":
        c.maintenance += 1
    elif reason == "closed_by_hours":
        c.closed_by_hours += 1


@router.get("/status", response_model=StatusResponse)
def public_status(ctx: ContextDep, response: Response) -> StatusResponse:
    """How many stations are open now, per city, and on what basis; whether the cloud can see
    its stations. The same judgement as the GeoJSON map (`cloud.stations.fleetview`)."""
    view = fleet_view(ctx)
    total = Counts()
    by_city: dict[str, CityStatus] = {}
    labels: dict[str, str] = defaultdict(str)
    for reg, j in view.rows():
        key = city_key(reg.city)
        labels[key] = labels[key] or reg.city
        if key not in by_city:
            by_city[key] = CityStatus(city=reg.city)
        _count(by_city[key], j.open_now, j.basis, j.reason)
        _count(total, j.open_now, j.basis, j.reason)
    response.headers["Cache-Control"] = f"public, max-age={int(ctx.fleet.ttl_s)}"
    return StatusResponse(
        judged_at=view.judged_at,
        cloud_blind=view.blind,
        blindness=view.blindness,
        total=total,
        cities=sorted(by_city.values(), key=lambda c: (-c.stations, c.city)),
    )
