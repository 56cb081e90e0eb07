"""The workers' public API: find open stations nearby, look one up, the whole map as GeoJSON.

No login, read-only, rate-limited per client (`cloud.api.ratelimit`). Coordinates are stored
in WGS-84; `coord=gcj02` converts at this edge only, both ways: the query point is read as
GCJ-02 and every returned coordinate is given in GCJ-02 (what Amap and Tencent maps draw).
"""

from __future__ import annotations

import threading
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlmodel import col, select

from cloud import finder, gcj02
from cloud.api.deps import IndexDep, NowDep, PolicyDep, SessionDep
from cloud.finder import NearbyResponse
from cloud.geojson import PROPERTIES, dumps, feature
from cloud.models import Station, StationPublic
from cloud.nearby import Snapshot
from protocol.registry import AMENITIES

Amenity = StrEnum("Amenity", {a: a for a in AMENITIES})  # type: ignore[misc]
Coord = Literal["wgs84", "gcj02"]

MAX_RADIUS_M = 50_000  # a worker rides a few km for a break; 50 km bounds the candidate scan
MAX_LIMIT = 100
# Clients may cache the map this long (seconds) and then revalidate with If-None-Match.
GEOJSON_MAX_AGE_S = 60

router = APIRouter(prefix="/api/v1", tags=["public"])

CoordQuery = Annotated[
    Coord,
    Query(description="datum of the query point and of returned coordinates: wgs84 or gcj02"),
]


def _to_output(coord: Coord, view: StationPublic) -> None:
    if coord == "gcj02":
        view.lat, view.lon = gcj02.wgs84_to_gcj02(view.lat, view.lon)


@router.get("/stations/nearby", response_model=NearbyResponse)
def nearby_stations(
    session: SessionDep,
    now: NowDep,
    policy: PolicyDep,
    index: IndexDep,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude")],
    lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude")],
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
    coord: CoordQuery = "wgs84",
) -> NearbyResponse:
    if coord == "gcj02":
        lat, lon = gcj02.gcj02_to_wgs84(lat, lon)
    stations = finder.nearby_indexed(
        session,
        index.current(),
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        now=now,
        policy=policy,
        limit=limit,
        only_open=status == "open",
        amenities=[a.value for a in amenity or ()],
    )
    for s in stations:
        _to_output(coord, s)
    # Serialised here rather than by FastAPI's response_model pass, which would validate the
    # 20 stations a second time (~30 % of a request).
    body = NearbyResponse(stations=stations, count=len(stations)).model_dump_json()
    return Response(body, media_type="application/json")  # type: ignore[return-value]


class GeoJSONCache:
    """The last rendered map per datum, keyed by the registry snapshot it was made from."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Coord, tuple[Snapshot, bytes]] = {}

    def get(self, snapshot: Snapshot, coord: Coord, session: SessionDep) -> bytes:
        with self._lock:
            hit = self._entries.get(coord)
            if hit is not None and hit[0] is snapshot:
                return hit[1]
            convert = gcj02.wgs84_to_gcj02 if coord == "gcj02" else None
            rows = session.exec(select(Station).order_by(col(Station.id)))
            body = dumps(
                feature(st.model_dump(include={"id", "lat", "lon", *PROPERTIES}), coords=convert)
                for st in rows
            )
            self._entries[coord] = (snapshot, body)
            return body


@router.get(
    "/stations.geojson",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}, 304: {}},
)
def stations_geojson(
    request: Request, session: SessionDep, index: IndexDep, coord: CoordQuery = "wgs84"
) -> Response:
    """Every registered station (registry fields, no live state) as a FeatureCollection. The
    ETag follows the registry version, so an unchanged map costs a 304 and no body."""
    snapshot = index.current()
    etag = f'{snapshot.etag[:-1]}-{coord}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={GEOJSON_MAX_AGE_S}"}
    match = request.headers.get("if-none-match", "")
    if etag in {t.strip() for t in match.split(",")} or match.strip() == "*":
        return Response(status_code=304, headers=headers)
    cache = getattr(request.app.state, "geojson_cache", None)
    if cache is None:  # one per app (a process may run several, e.g. in tests)
        cache = request.app.state.geojson_cache = GeoJSONCache()
    body = cache.get(snapshot, coord, session)
    return Response(body, media_type="application/geo+json", headers=headers)


@router.get("/stations/{station_id}", response_model=StationPublic)
def station_detail(
    station_id: str,
    session: SessionDep,
    now: NowDep,
    policy: PolicyDep,
    coord: CoordQuery = "wgs84",
) -> StationPublic:
    station = finder.get_station(session, station_id=station_id, now=now, policy=policy)
    if station is None:
        raise HTTPException(status_code=404, detail=f"station {station_id!r} not found")
    _to_output(coord, station)
    return station
