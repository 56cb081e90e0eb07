"""The workers' public API around the nearby search: place search (no external geocoder),
cities with their outlines for the map's first paint, and the public status page's numbers.

No login, read-only, rate-limited with the station API. Coordinates are WGS-84 unless
`coord=gcj02` (then every returned point is GCJ-02, as in `cloud.api.public`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from cloud.api.deps import AppContext, ContextDep
from cloud.api.public import CoordQuery, fleet_view
from cloud.stations import gcj02
from cloud.stations.fleetview import FleetView
from cloud.stations.index import RegistryRow
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


def ctx_state(request: Request) -> Any:
    """Per-app state (a process may run several apps, e.g. in tests)."""
    return request.app.state


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


_FIELDS = (
    "stations", "open_now", "open_live", "open_schedule", "with_agent", "closed_by_hours",
    "station_down", "reported_locked", "maintenance",
)  # fmt: skip
_REASON_FIELD = {
    "station_down": 6, "station_fault": 6, "reported_locked": 7, "maintenance": 8,
    "closed_by_hours": 5,
}  # fmt: skip


def _count(c: list[int], open_now: bool, basis: str, reason: str | None) -> None:
    """Counts as a plain list in `_FIELDS` order (pydantic attribute writes cost ~10× more)."""
    c[0] += 1
    live = basis == "live"
    if live:
        c[4] += 1
    if open_now:
        c[1] += 1
        c[2 if live else 3] += 1
    elif reason in _REASON_FIELD:
        c[_REASON_FIELD[reason]] += 1


def status_of(view: FleetView) -> StatusResponse:
    total = [0] * len(_FIELDS)
    by_city: dict[str, tuple[str, list[int]]] = {}
    city_at = RegistryRow._fields.index("city")
    for row, j in zip(view.snapshot.rows, view.judged, strict=True):
        name = row[city_at]
        key = city_key(name)
        entry = by_city.get(key)
        if entry is None:
            entry = by_city[key] = (name, [0] * len(_FIELDS))
        _count(entry[1], j.open_now, j.basis, j.reason)
        _count(total, j.open_now, j.basis, j.reason)
    cities = [
        CityStatus(city=name, **dict(zip(_FIELDS, counts, strict=True)))
        for name, counts in by_city.values()
    ]
    return StatusResponse(
        judged_at=view.judged_at,
        cloud_blind=view.blind,
        blindness=view.blindness,
        total=Counts(**dict(zip(_FIELDS, total, strict=True))),
        cities=sorted(cities, key=lambda c: (-c.stations, c.city)),
    )


@router.get("/status", response_model=StatusResponse)
def public_status(request: Request, ctx: ContextDep, response: Response) -> StatusResponse:
    """How many stations are open now, per city, and on what basis; whether the cloud can see
    its stations. The same judgement as the GeoJSON map (`cloud.stations.fleetview`)."""
    view = fleet_view(ctx)
    cached: tuple[FleetView, StatusResponse] | None = getattr(
        ctx_state(request), "public_status", None
    )
    if cached is None or cached[0] is not view:  # once per fleet judgement
        cached = (view, status_of(view))
        ctx_state(request).public_status = cached
    response.headers["Cache-Control"] = f"public, max-age={int(ctx.fleet.ttl_s)}"
    return cached[1]
