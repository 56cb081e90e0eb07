"""Fleet views for ops: counts by health and status, the station table with filters, and one
station's page (judged live, with its open alarms and newest heartbeat)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, case, func, or_, select

from cloud.alarms.models import RAISED, Alarm
from cloud.feedback.inbox import open_counts
from cloud.models import Station, StationState, table
from cloud.ops.alarms import AlarmView, select_views
from cloud.stations.desired_config import DESIRED
from cloud.stations.liveness import LivenessPolicy, from_epoch_us
from cloud.stations.maintenance import in_maintenance, station_windows
from cloud.stations.opennow import assess
from cloud.stations.sight import SEEING, Sight

STATION = table(Station)
STATE = table(StationState)
ALARM = table(Alarm)

HealthFilter = Literal["ok", "degraded", "down", "unknown"]
# Stations with no health yet (never heard from, or not judged yet) count as `unknown`.
_HEALTH = func.coalesce(STATE.c.health, "unknown")
# Worst first: the fleet table opens on the stations that need someone.
# Retired stations (cloud.stations.edit) leave the counts and the table; their page stays.
_ACTIVE = STATION.c.retired_at.is_(None)
_HEALTH_ORDER = case({"down": 0, "degraded": 1, "unknown": 2, "ok": 3}, value=_HEALTH, else_=4)


class FleetSummary(BaseModel):
    stations: int
    maintenance: int
    by_health: dict[str, int] = Field(description="ok, degraded, down, unknown")
    by_status: dict[str, int] = Field(description="online, degraded, stale, lost, offline, …")
    alarms_raised: int
    alarms_unacknowledged: int = Field(description="raised or cleared, not yet acknowledged")
    alarms_by_rule: dict[str, int] = Field(description="raised alarms per rule")


class StationRow(BaseModel):
    id: str
    name: str
    city: str
    operator: str
    lat: float
    lon: float
    maintenance: bool
    retired_at: datetime | None = None
    health: str
    status: str
    last_seen: datetime | None
    door: str | None
    lock: str | None
    occupancy: int | None
    config_version: int | None
    alarms: int = Field(description="raised alarms")
    feedback: int = Field(default=0, description="unresolved worker reports (feedback inbox)")


class StationPage(BaseModel):
    total: int
    items: list[StationRow]


def summary(
    conn: Connection, now: datetime, *, within: ColumnElement[bool] | None = None
) -> FleetSummary:
    """The fleet's counts (`maintenance`: flag or window at `now`); `within` (a condition on
    `station`, cloud.auth.scope) limits them to some stations and leaves out alarms about no
    station."""
    joined = STATION.outerjoin(STATE, STATE.c.station_id == STATION.c.id)
    where = [_ACTIVE] if within is None else [_ACTIVE, within]
    alarm_where = (
        [] if within is None else [ALARM.c.station_id.in_(select(STATION.c.id).where(within))]
    )
    by_health = dict(
        conn.execute(
            select(_HEALTH, func.count()).select_from(joined).where(*where).group_by(_HEALTH)
        ).all()
    )
    status = func.coalesce(STATE.c.history_status, "unknown")
    by_status = dict(
        conn.execute(
            select(status, func.count()).select_from(joined).where(*where).group_by(status)
        ).all()
    )
    maintenance_count = func.coalesce(func.sum(case((in_maintenance(now), 1), else_=0)), 0)
    total, maintenance = conn.execute(
        select(func.count(), maintenance_count).select_from(STATION).where(*where)
    ).one()
    rules = dict(
        conn.execute(
            select(ALARM.c.rule, func.count())
            .where(ALARM.c.state == RAISED, *alarm_where)
            .group_by(ALARM.c.rule)
        ).all()
    )
    unacked = conn.execute(
        select(func.count()).where(
            ALARM.c.state != "pending", ALARM.c.acknowledged_at.is_(None), *alarm_where
        )
    ).scalar_one()
    return FleetSummary(
        stations=total,
        maintenance=maintenance,
        by_health={k: by_health.get(k, 0) for k in ("ok", "degraded", "down", "unknown")},
        by_status=by_status,
        alarms_raised=sum(rules.values()),
        alarms_unacknowledged=unacked,
        alarms_by_rule=rules,
    )


def stations(
    conn: Connection,
    now: datetime,
    *,
    health: list[HealthFilter] | None = None,
    city: str | None = None,
    operator: str | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
    within: ColumnElement[bool] | None = None,
    retired: bool = False,
) -> StationPage:
    """The station table, worst health first, then by id; only stations `within` (a
    condition on `station`, cloud.auth.scope) when given; the retired ones instead of the
    others with `retired`."""
    raised = (
        select(func.count())
        .where(ALARM.c.station_id == STATION.c.id, ALARM.c.state == RAISED)
        .scalar_subquery()
    )
    where = [STATION.c.retired_at.is_not(None) if retired else _ACTIVE]
    if within is not None:
        where.append(within)
    if health:
        where.append(_HEALTH.in_(health))
    if city:
        where.append(STATION.c.city == city)
    if operator:
        where.append(STATION.c.operator == operator)
    if q:
        like = f"%{q.lower()}%"
        where.append(
            or_(func.lower(STATION.c.id).like(like), func.lower(STATION.c.name).like(like))
        )
    joined = STATION.outerjoin(STATE, STATE.c.station_id == STATION.c.id)
    total = conn.execute(select(func.count()).select_from(joined).where(*where)).scalar_one()
    query = (
        select(
            STATION.c.id,
            STATION.c.name,
            STATION.c.city,
            STATION.c.operator,
            STATION.c.lat,
            STATION.c.lon,
            in_maintenance(now).label("maintenance"),
            STATION.c.retired_at,
            _HEALTH.label("health"),
            func.coalesce(STATE.c.history_status, "unknown").label("status"),
            STATE.c.last_seen,
            STATE.c.door,
            STATE.c.lock,
            STATE.c.occupancy,
            STATE.c.config_version,
            raised.label("alarms"),
        )
        .select_from(joined)
        .where(*where)
        .order_by(_HEALTH_ORDER, STATION.c.id)
        .limit(limit)
        .offset(offset)
    )
    items = [StationRow.model_validate(dict(r._mapping)) for r in conn.execute(query)]
    counts = open_counts(conn, [s.id for s in items])  # one grouped query for the page
    for item in items:
        item.feedback = counts.get(item.id, 0)
    return StationPage(total=total, items=items)


class StationDetail(BaseModel):
    """One station judged at the time of the request."""

    station: dict[str, Any]  # registry fields
    status: str
    health: str
    open_now: bool
    basis: str = Field(description="live or schedule (cloud.stations.opennow)")
    closed_reason: str | None = Field(
        default=None,
        description="why not open (cloud.stations.opennow.Reason); `reason` is the station's",
    )
    closes_at: datetime | None
    opens_at: datetime | None
    maintenance_reason: str | None = Field(
        default=None, description="the active maintenance window's reason (workers see it)"
    )
    maintenance_until: datetime | None = Field(
        default=None, description="the active window's expected end; None: until ended"
    )
    sess: int | None = None
    status_at: datetime | None = None
    reason: str | None = None
    last_seen: datetime | None = None
    last_heartbeat: datetime | None = None
    door: str | None = None
    lock: str | None = None
    occupancy: int | None = None
    reported_locked_at: datetime | None = Field(
        default=None,
        description="a worker's standing report of a locked door (closed_reason "
        "`reported_locked` while it stands): resolve the report, or the door clears it",
    )
    config_version: int | None = None
    desired_version: int | None = Field(
        default=None, description="the desired config's version; None: never given one"
    )
    meta: dict[str, Any] | None = None
    telemetry: dict[str, Any] | None = Field(default=None, description="newest heartbeat")
    alarms: list[AlarmView] = Field(description="raised alarms, newest first")
    feedback_open: int = Field(default=0, description="unresolved worker reports")


_LIVE = ("sess", "status_at", "reason", "last_seen", "last_heartbeat", "door", "lock")
_LIVE += ("occupancy", "reported_locked_at", "config_version", "meta", "telemetry")


def station(
    conn: Connection, sid: str, now: datetime, policy: LivenessPolicy, sight: Sight = SEEING
) -> StationDetail | None:
    """None when `sid` is not registered."""
    reg = conn.execute(select(STATION).where(STATION.c.id == sid)).first()
    if reg is None:
        return None
    state = conn.execute(select(STATE).where(STATE.c.station_id == sid)).first()
    windows = station_windows(conn, sid, now)
    a = assess(reg, state, now, policy, sight=sight, windows=windows)
    alarms = conn.execute(
        select_views()
        .where(ALARM.c.station_id == sid, ALARM.c.state == RAISED)
        .order_by(ALARM.c.raised_at.desc())
    )
    live = {k: state._mapping[k] for k in _LIVE} if state is not None else {}
    desired = conn.execute(
        select(DESIRED.c.config_version).where(DESIRED.c.station_id == sid)
    ).scalar()
    return StationDetail(
        desired_version=desired,
        station=dict(reg._mapping),
        status=str(a.status),
        health=str(a.health),
        open_now=a.open_now,
        basis=a.basis.value,
        closed_reason=a.reason.value if a.reason is not None else None,
        closes_at=a.hours.closes_at,
        opens_at=a.hours.opens_at,
        maintenance_reason=a.window.reason if a.window is not None else None,
        maintenance_until=(
            from_epoch_us(a.window.ends_us) if a.window and a.window.ends_us else None
        ),
        alarms=[AlarmView.model_validate(r) for r in alarms],
        feedback_open=open_counts(conn, [sid]).get(sid, 0),
        **live,
    )
