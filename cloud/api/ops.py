"""The ops API for station health: fleet summary, station table, station page, alarm inbox
with acknowledge, telemetry series and uptime. Reading needs `viewer`; acting `operator`,
and every action is written to the audit log in the same transaction. Each route sees only
the caller's scope (`cloud.api.scoping`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import Connection, select

from cloud.api.deps import Before, ContextDep, RowId
from cloud.api.scoping import alarm_access, scoped, station_access
from cloud.auth import Principal, Role, audit
from cloud.models import Station, table
from cloud.ops import alarms, fleet, series, uptime

Viewer = Annotated[Principal, Depends(scoped(Role.VIEWER))]
StationViewer = Annotated[Principal, Depends(station_access(Role.VIEWER))]
AlarmOperator = Annotated[Principal, Depends(alarm_access(Role.OPERATOR))]
STATION = table(Station)

router = APIRouter(prefix="/api/v1/ops", tags=["ops"])


@router.get("/fleet", response_model=fleet.FleetSummary)
def fleet_summary(ctx: ContextDep, principal: Viewer) -> fleet.FleetSummary:
    """Counts by health and status, and the raised alarms per rule (of the caller's scope)."""
    with ctx.engine.connect() as conn:
        return fleet.summary(conn, ctx.clock(), within=principal.scope.where())


@router.get("/stations", response_model=fleet.StationPage)
def station_table(
    ctx: ContextDep,
    principal: Viewer,
    health: Annotated[list[fleet.HealthFilter] | None, Query()] = None,
    city: str | None = None,
    operator: str | None = None,
    q: Annotated[str | None, Query(max_length=60, description="in id or name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    retired: Annotated[bool, Query(description="the retired stations instead")] = False,
) -> fleet.StationPage:
    """Stations worst health first; `health` is repeatable (`?health=down&health=degraded`)."""
    with ctx.engine.connect() as conn:
        return fleet.stations(
            conn, ctx.clock(), health=health, city=city, operator=operator, q=q, limit=limit,
            offset=offset, within=principal.scope.where(), retired=retired,
        )  # fmt: skip


@router.get("/stations/{sid}", response_model=fleet.StationDetail)
def station_page(ctx: ContextDep, _: StationViewer, sid: str) -> fleet.StationDetail:
    with ctx.engine.connect() as conn:
        detail = fleet.station(conn, sid, ctx.clock(), ctx.policy, ctx.sight.current())
    if detail is None:
        raise HTTPException(404, f"no station {sid!r}")
    return detail


@router.get("/stations/{sid}/telemetry", response_model=series.Series)
def telemetry_series(
    ctx: ContextDep,
    _: StationViewer,
    sid: str,
    metric: Annotated[str, Query(description="payload field, or sensors.<name>")],
    since: datetime | None = None,
    until: datetime | None = None,
    bucket_s: Annotated[int | None, Query(ge=1, le=86_400)] = None,
) -> series.Series:
    """One metric bucketed (min/mean/max); the last 24 hours unless `since`/`until` say."""
    until = _aware(until, "until") if until else ctx.clock()
    since = _aware(since, "since") if since else until - timedelta(hours=24)
    with ctx.engine.connect() as conn:
        _known(conn, sid)
        try:
            return series.series(conn, sid, metric, since=since, until=until, bucket_s=bucket_s)
        except series.SeriesError as exc:
            raise HTTPException(422, str(exc)) from exc


class UptimeDay(BaseModel):
    day: str
    up_pct: float | None
    available_pct: float | None
    seconds: dict[str, float]


@router.get("/stations/{sid}/uptime", response_model=list[UptimeDay])
def station_uptime(
    ctx: ContextDep, _: StationViewer, sid: str, days: Annotated[int, Query(ge=1, le=366)] = 7
) -> list[UptimeDay]:
    """Seconds per status per local day (the station's time zone), oldest day first."""
    with ctx.engine.connect() as conn:
        tz = _known(conn, sid)
        out = uptime.days(conn, sid, tz, last=days, now=ctx.clock())
    return [
        UptimeDay(
            day=d.day.isoformat(),
            up_pct=d.up_pct,
            available_pct=d.available_pct,
            seconds={k: round(v, 1) for k, v in d.seconds.items()},
        )
        for d in out
    ]


@router.get("/alarms", response_model=alarms.AlarmPage)
def alarm_inbox(
    ctx: ContextDep,
    principal: Viewer,
    state: alarms.StateFilter = "raised",
    unacknowledged: bool = False,
    station: str | None = None,
    rule: str | None = None,
    severity: str | None = None,
    city: str | None = None,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> alarms.AlarmPage:
    with ctx.engine.connect() as conn:
        return alarms.listing(
            conn,
            state=state,
            unacknowledged=unacknowledged,
            station=station,
            rule=rule,
            severity=severity,
            city=city,
            before=before,
            limit=limit,
            within=principal.scope.owns(alarms.ALARM.c.station_id),
        )


@router.post("/alarms/{alarm_id}/ack", response_model=alarms.AlarmView)
def acknowledge(ctx: ContextDep, principal: AlarmOperator, alarm_id: RowId) -> alarms.AlarmView:
    """Mark an alarm seen; the first acknowledgement stands, repeating it changes nothing."""
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        before = alarms.get(conn, alarm_id)
        if before is None:
            raise HTTPException(404, f"no alarm {alarm_id}")
        after = alarms.acknowledge(conn, alarm_id, principal.username, now)
        assert after is not None
        if before.acknowledged_at is None:
            detail = {"station": after.station_id, "rule": after.rule, "state": after.state}
            audit(conn, principal, "alarm.ack", f"alarm:{alarm_id}", detail, at=now)
    return after


def _known(conn: Connection, sid: str) -> str:
    """The station's time zone; 404 when it is not registered."""
    tz = conn.execute(select(STATION.c.tz).where(STATION.c.id == sid)).scalar_one_or_none()
    if tz is None:
        raise HTTPException(404, f"no station {sid!r}")
    return str(tz)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise HTTPException(422, f"{name} needs a time zone (e.g. 2026-11-21T08:00:00Z)")
    return value
