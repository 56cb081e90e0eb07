"""The workers' public API: find open stations nearby, look one up, the whole map as GeoJSON.

No login, read-only, rate-limited per client (`cloud.api.ratelimit`). Coordinates are stored
in WGS-84; `coord=gcj02` converts at this edge only, both ways: the query point is read as
GCJ-02 and every returned coordinate is given in GCJ-02 (what Amap and Tencent maps draw).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from datetime import UTC
from email.utils import format_datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, get_origin

import fastapi
import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from cloud import forks
from cloud.api.deps import AppContext, ContextDep, NowDep, PolicyDep, SessionDep
from cloud.stations import finder, gcj02
from cloud.stations.detail import StationDetail, get_detail
from cloud.stations.finder import NearbyResponse, notice
from cloud.stations.fleetview import FleetView, judge_fleet
from cloud.stations.geojson import PROPERTIES
from cloud.stations.index import RegistryRow
from cloud.stations.public import StationPublic
from protocol.registry import AMENITIES

Amenity = StrEnum("Amenity", {a: a for a in AMENITIES})  # type: ignore[misc]
Coord = Literal["wgs84", "gcj02"]

MAX_RADIUS_M = 50_000  # a worker rides a few km for a break; 50 km bounds the candidate scan
MAX_LIMIT = 100
FASTAPI_TESTED = "0.165"  # the FastAPI major.minor whose internals NearbyRoute reads
# Clients may cache the map this long (seconds) and then revalidate with If-None-Match; as
# the fleet view's default reuse (`WAYSTATION_FLEET_VIEW_S`), since open_now is in it.
GEOJSON_MAX_AGE_S = 30

router = APIRouter(prefix="/api/v1", tags=["public"])

CoordQuery = Annotated[
    Coord,
    Query(description="datum of the query point and of returned coordinates: wgs84 or gcj02"),
]


def _to_output(coord: Coord, view: StationPublic) -> None:
    if coord == "gcj02":
        view.lat, view.lon = gcj02.wgs84_to_gcj02(view.lat, view.lon)


class NearbyQuery(BaseModel):
    """The nearby search's query string, validated in one pydantic pass (FastAPI validating
    nine separate parameters cost ~0.3 ms a request)."""

    model_config = ConfigDict(extra="ignore")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="latitude")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="longitude")
    radius_m: float = Field(5_000, ge=1, le=MAX_RADIUS_M, allow_inf_nan=False, description="metres")
    limit: int = Field(20, ge=1, le=MAX_LIMIT)
    status: Literal["open", "any", "open_or_reported"] = Field(
        "any",
        description="`open`: only stations open right now; `open_or_reported`: those and the "
        "ones only a worker's report keeps closed (reason `reported_locked`)",
    )
    amenity: list[Amenity] = Field(  # type: ignore[valid-type]
        default_factory=list, description="repeatable; stations must have all"
    )
    coord: Coord = Field(
        "wgs84", description="datum of the query point and of returned coordinates"
    )


class NearbyRoute(APIRoute):
    """The nearby route with FastAPI's per-request parameter machinery cut out (~0.08 ms of
    a ~0.8 ms request, in-process: it re-inspects the query model's annotations each call).

    FastAPI still builds the route, and so the OpenAPI schema, from the endpoint's signature
    (`ctx`, `q: NearbyQuery`); the handler reads the query string as FastAPI does (lists for
    list fields, the last value otherwise, absent or empty = the default), validates it with
    FastAPI's own field for `q` (same 422 body, `loc` `["query", …]`) and calls the endpoint
    with the app's context. `tests/cloud/api/test_cloud_api_public.py` holds the 422s and the
    schema to FastAPI's.

    It reads FastAPI internals (`dependant.query_params`, `ModelField.validate`), written
    against FastAPI 0.165 (`FASTAPI_TESTED`): on another version, or with
    `WAYSTATION_STOCK_CLASSES=1` (`cloud.forks`), the handler is the stock `APIRoute`'s.
    Decided each time FastAPI builds the handler (for the included route: once per app).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if not forks.use_fork("NearbyRoute", "fastapi", fastapi.__version__, FASTAPI_TESTED):
            return super().get_route_handler()
        (field,) = self.dependant.query_params
        model = field.field_info.annotation
        if model is not NearbyQuery or model.model_config.get("extra") != "ignore":
            raise TypeError("NearbyRoute reads NearbyQuery, whose extra keys are ignored")
        lists = frozenset(name for name, f in model.model_fields.items() if _is_list(f.annotation))
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            params = request.query_params
            raw: dict[str, Any] = {}
            for name in model.model_fields:
                if name in lists:
                    values = params.getlist(name)
                    if values:
                        raw[name] = values
                else:
                    value = params.get(name)
                    if value is not None:
                        raw[name] = value
            q, errors = field.validate(raw, {}, loc=("query",))
            if errors:
                raise RequestValidationError(errors)
            response: Response = await endpoint(request.app.state.ctx, q)
            return response

        return handler


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list


async def nearby_stations(ctx: ContextDep, q: Annotated[NearbyQuery, Query()]) -> NearbyResponse:
    lat, lon, coord = q.lat, q.lon, q.coord
    if coord == "gcj02":
        lat, lon = gcj02.gcj02_to_wgs84(lat, lon)
    # The registry version check (every `index_refresh_s`, a count over the registry) runs on
    # a thread of its own; requests meanwhile use the snapshot they have (see StationIndex).
    snapshot = ctx.index.snapshot_nowait() or await run_in_threadpool(ctx.index.current)
    # On the event loop, database read included (one indexed SELECT of the live state of the
    # candidates not read in the last second, often none: see LiveStates; a connection is
    # taken only then). Handing it to the thread pool cost more than it saved: the loop
    # thread and the pool's threads then fight over the GIL, and every hand-off can wait out
    # the interpreter's 5 ms switch interval (measured: 622 req/s with p99 264 ms that way).
    stations = finder.nearby_rows(
        ctx.engine,
        snapshot,
        lat=lat,
        lon=lon,
        radius_m=q.radius_m,
        now=ctx.clock(),
        policy=ctx.policy,
        limit=q.limit,
        only_open=q.status != "any",
        with_reported=q.status == "open_or_reported",
        amenities=[a.value for a in q.amenity],
        live=ctx.live,
        sight=ctx.sight.current(),
    )
    if coord == "gcj02":
        for s in stations:
            s["lat"], s["lon"] = gcj02.wgs84_to_gcj02(s["lat"], s["lon"])
    # The rows are built from typed columns in NearbyStation's shape (the finder's tests check
    # them against the model), so they are serialised once with orjson instead of validated
    # into 20 models and dumped (~0.5 ms a request). OPT_UTC_Z writes UTC as pydantic does.
    body = orjson.dumps({"stations": stations, "count": len(stations)}, option=orjson.OPT_UTC_Z)
    return Response(body, media_type="application/json")  # type: ignore[return-value]


# Registered before /stations/{station_id}, which would otherwise take "nearby" as an id.
router.add_api_route(
    "/stations/nearby",
    nearby_stations,
    methods=["GET"],
    response_model=NearbyResponse,
    route_class_override=NearbyRoute,
)


class GeoJSONCache:
    """The last rendered map per datum, keyed by the fleet view (registry snapshot and the
    instant it was judged: `cloud.stations.fleetview`) it was made from."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Coord, tuple[FleetView, bytes]] = {}

    def get(self, view: FleetView, coord: Coord) -> bytes:
        with self._lock:
            hit = self._entries.get(coord)
            if hit is not None and hit[0] is view:
                return hit[1]
            body = render_map(view, coord)
            self._entries[coord] = (view, body)
            return body


# render_map writes the properties in this order (the registry export's).
assert PROPERTIES == ("name", "amenities", "opening_hours", "operator", "address", "city")
_NAME, _AMENITIES, _HOURS, _OPERATOR, _ADDRESS, _CITY = (
    RegistryRow._fields.index(f) for f in PROPERTIES
)


def render_map(view: FleetView, coord: Coord) -> bytes:
    """The FeatureCollection of `cloud.stations.geojson` (one feature a line, registry
    properties in `PROPERTIES` order) with the open-now fields after them, straight from the
    snapshot's rows (already in id order) with orjson: ~2 s for 200,000 stations where going
    through `feature` dicts and `isoformat` per station took several times that."""
    convert = gcj02.wgs84_to_gcj02 if coord == "gcj02" else None
    utc_z = orjson.OPT_UTC_Z
    lines = []
    for row, j in zip(view.snapshot.rows, view.judged, strict=True):
        lat, lon = row[2], row[3]
        if convert is not None:
            lat, lon = convert(lat, lon)
        f = {
            "type": "Feature",
            "id": row[0],
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {
                "name": row[_NAME],
                "amenities": row[_AMENITIES],
                "opening_hours": row[_HOURS],
                "operator": row[_OPERATOR],
                "address": row[_ADDRESS],
                "city": row[_CITY],
                "open_now": j.open_now,
                "basis": j.basis,
                "reason": j.reason,
                "opens_at": j.opens_at,
                "closes_at": j.closes_at,
            },
        }
        if j.window is not None:  # only then: 200,000 nulls would be ~6 MB of nothing
            f["properties"]["maintenance_window"] = notice(j.window)  # type: ignore[index]
        lines.append(orjson.dumps(f, option=utc_z))
    return b'{"type": "FeatureCollection", "features": [\n' + b",\n".join(lines) + b"\n]}\n"


def fleet_view(ctx: AppContext) -> FleetView:
    """The whole fleet judged now, or as judged up to `fleet_view_s` seconds ago."""
    snapshot = ctx.index.current()
    now = ctx.clock()

    def make() -> FleetView:
        sight = ctx.sight.current()  # `verdict` judges at the blind moment itself
        return judge_fleet(ctx.engine, snapshot, now=now, policy=ctx.policy, sight=sight)

    return ctx.fleet.get(snapshot, now, make)


@router.get(
    "/stations.geojson",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}, 304: {}},
)
def stations_geojson(request: Request, ctx: ContextDep, coord: CoordQuery = "wgs84") -> Response:
    """Every registered station as a FeatureCollection: the registry fields and, as in the
    nearby search, `open_now`, `basis`, `reason`, `opens_at` and `closes_at` (and
    `maintenance_window` for a station a window closes), judged at most
    `WAYSTATION_FLEET_VIEW_S` seconds ago (`judged_at` is in the ETag's time). The ETag follows
    the registry version and that judgement, so an unchanged map costs a 304 and no body."""
    view = fleet_view(ctx)
    stamp = int(view.judged_at.timestamp())
    etag = f'{view.snapshot.etag[:-1]}-{stamp}-{coord}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={GEOJSON_MAX_AGE_S}",
        "Last-Modified": format_datetime(view.judged_at.astimezone(UTC), usegmt=True),
    }
    match = request.headers.get("if-none-match", "")
    if etag in {t.strip() for t in match.split(",")} or match.strip() == "*":
        return Response(status_code=304, headers=headers)
    cache = getattr(request.app.state, "geojson_cache", None)
    if cache is None:  # one per app (a process may run several, e.g. in tests)
        cache = request.app.state.geojson_cache = GeoJSONCache()
    body = cache.get(view, coord)
    return Response(body, media_type="application/geo+json", headers=headers)


@router.get("/stations/{station_id}", response_model=StationDetail)
def station_detail(
    station_id: str,
    session: SessionDep,
    ctx: ContextDep,
    now: NowDep,
    policy: PolicyDep,
    coord: CoordQuery = "wgs84",
) -> StationDetail:
    """One station as its detail page shows it: the nearby fields, plus `last_seen_at` (the
    agent's last sign of life) and `last_entry_at` (the last granted entry)."""
    station = get_detail(
        session, station_id=station_id, now=now, policy=policy, sight=ctx.sight.current()
    )
    if station is None:
        raise HTTPException(status_code=404, detail=f"station {station_id!r} not found")
    _to_output(coord, station)
    return station
