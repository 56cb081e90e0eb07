"""Ops footfall API (viewer role): series per station or city, and busiest hours.

`GET /api/v1/ops/footfall/stations/{sid}?resolution=interval|hour|day&start=&end=`,
`GET /api/v1/ops/footfall/cities/{city}?resolution=hour|day&start=&end=`,
`GET /api/v1/ops/footfall/stations/{sid}/busiest-hours?days=28` and the same for a city.
`start`/`end` are ISO 8601 with a zone; `end` defaults to now, `start` to one day (interval,
hour) or 30 days (day) before it. The reports are in `cloud.ops.footfall`; a request they
cannot answer is a 404 (unknown station or city) or a 422 (range). A scoped account sees
its own stations only (`cloud.api.scoping`); a city's series counts its stations there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from cloud.api.deps import AppContext, ContextDep, NowDep
from cloud.api.scoping import city_access, station_access
from cloud.auth import Principal, Role
from cloud.ops import footfall as report
from cloud.ops.footfall import BusiestHours, ReportError, Resolution, Series

T = TypeVar("T")
router = APIRouter(prefix="/api/v1/ops/footfall", tags=["ops footfall"])

StationViewer = Annotated[Principal, Depends(station_access(Role.VIEWER))]
CityViewer = Annotated[Principal, Depends(city_access(Role.VIEWER))]
DEFAULT_SPAN = {"interval": timedelta(days=1), "hour": timedelta(days=1), "day": timedelta(days=30)}
StartQ = Annotated[datetime | None, Query(description="ISO 8601 with a zone")]
EndQ = Annotated[datetime | None, Query(description="ISO 8601 with a zone; default now")]
DaysQ = Annotated[int, Query(ge=1, le=366, description="how many days back")]


def _run(ctx: AppContext, fn: Callable[[Connection], T]) -> T:
    """Run one report on a fresh connection; ReportError → 404 or 422."""
    with ctx.engine.connect() as conn:
        try:
            return fn(conn)
        except ReportError as exc:
            text = str(exc)
            missing = text.startswith(("unknown station", "no station"))
            raise HTTPException(404 if missing else 422, text) from exc


async def _series(
    ctx: AppContext,
    now: datetime,
    resolution: Resolution,
    start: datetime | None,
    end: datetime | None,
    who: Principal,
    **which: str,
) -> Series:
    """One station's or one city's series (`which`: station_id= or city=), of the stations in
    the caller's scope; the range defaults to DEFAULT_SPAN[resolution] ending now."""
    t1 = end or now
    t0 = start or t1 - DEFAULT_SPAN[resolution]
    within = who.scope.where()

    def q(conn: Connection) -> Series:
        return report.series(conn, resolution=resolution, start=t0, end=t1, within=within, **which)

    return await run_in_threadpool(_run, ctx, q)


async def _busiest(
    ctx: AppContext, now: datetime, days: int, who: Principal, **which: str
) -> BusiestHours:
    within = who.scope.where()

    def q(conn: Connection) -> BusiestHours:
        return report.busiest_hours(conn, days=days, now=now, within=within, **which)

    return await run_in_threadpool(_run, ctx, q)


@router.get("/stations/{sid}", response_model=Series)
async def station_series(
    sid: str,
    ctx: ContextDep,
    now: NowDep,
    who: StationViewer,
    resolution: Resolution = "hour",
    start: StartQ = None,
    end: EndQ = None,
) -> Series:
    return await _series(ctx, now, resolution, start, end, who, station_id=sid)


@router.get("/cities/{city}", response_model=Series)
async def city_series(
    city: str,
    ctx: ContextDep,
    now: NowDep,
    who: CityViewer,
    resolution: Resolution = "hour",
    start: StartQ = None,
    end: EndQ = None,
) -> Series:
    return await _series(ctx, now, resolution, start, end, who, city=city)


@router.get("/stations/{sid}/busiest-hours", response_model=BusiestHours)
async def station_busiest(
    sid: str, ctx: ContextDep, now: NowDep, who: StationViewer, days: DaysQ = 28
) -> BusiestHours:
    return await _busiest(ctx, now, days, who, station_id=sid)


@router.get("/cities/{city}/busiest-hours", response_model=BusiestHours)
async def city_busiest(
    city: str, ctx: ContextDep, now: NowDep, who: CityViewer, days: DaysQ = 28
) -> BusiestHours:
    return await _busiest(ctx, now, days, who, city=city)
