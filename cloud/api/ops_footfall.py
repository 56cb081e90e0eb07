"""Ops footfall API (viewer role): series per station or city, and busiest hours.

`GET /api/v1/ops/footfall/stations/{sid}?resolution=interval|hour|day&start=&end=`,
`GET /api/v1/ops/footfall/cities/{city}?resolution=hour|day&start=&end=`,
`GET /api/v1/ops/footfall/stations/{sid}/busiest-hours?days=28` and the same for a city.
`start`/`end` are ISO 8601 with a zone; `end` defaults to now, `start` to one day (interval,
hour) or 30 days (day) before it. The reports are in `cloud.footfall_report`; a request they
cannot answer is a 404 (unknown station or city) or a 422 (range).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from cloud import footfall_report as report
from cloud.api.deps import AppContext, ContextDep, NowDep
from cloud.auth import Principal, Role, require_role
from cloud.footfall_report import BusiestHours, ReportError, Resolution, Series

T = TypeVar("T")
router = APIRouter(prefix="/api/v1/ops/footfall", tags=["ops footfall"])

Viewer = Annotated[Principal, Depends(require_role(Role.VIEWER))]
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


def _range(
    resolution: str, start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    end = end or now
    return (start or end - DEFAULT_SPAN[resolution]), end


@router.get("/stations/{sid}", response_model=Series)
async def station_series(
    sid: str,
    ctx: ContextDep,
    now: NowDep,
    _who: Viewer,
    resolution: Resolution = "hour",
    start: StartQ = None,
    end: EndQ = None,
) -> Series:
    t0, t1 = _range(resolution, start, end, now)

    def q(conn: Connection) -> Series:
        return report.series(conn, station_id=sid, resolution=resolution, start=t0, end=t1)

    return await run_in_threadpool(_run, ctx, q)


@router.get("/cities/{city}", response_model=Series)
async def city_series(
    city: str,
    ctx: ContextDep,
    now: NowDep,
    _who: Viewer,
    resolution: Resolution = "hour",
    start: StartQ = None,
    end: EndQ = None,
) -> Series:
    t0, t1 = _range(resolution, start, end, now)

    def q(conn: Connection) -> Series:
        return report.series(conn, city=city, resolution=resolution, start=t0, end=t1)

    return await run_in_threadpool(_run, ctx, q)


@router.get("/stations/{sid}/busiest-hours", response_model=BusiestHours)
async def station_busiest(
    sid: str, ctx: ContextDep, now: NowDep, _who: Viewer, days: DaysQ = 28
) -> BusiestHours:
    def q(conn: Connection) -> BusiestHours:
        return report.busiest_hours(conn, station_id=sid, days=days, now=now)

    return await run_in_threadpool(_run, ctx, q)


@router.get("/cities/{city}/busiest-hours", response_model=BusiestHours)
async def city_busiest(
    city: str, ctx: ContextDep, now: NowDep, _who: Viewer, days: DaysQ = 28
) -> BusiestHours:
    def q(conn: Connection) -> BusiestHours:
        return report.busiest_hours(conn, city=city, days=days, now=now)

    return await run_in_threadpool(_run, ctx, q)
