"""Maintenance windows: a station taken off the open map from one time to another (planned) or
from now until ops end it (immediate), with a reason shown to workers.

A window is active while `starts_at <= now < ends_at` (`ends_at` None: until ended) and not
cancelled; the open-now rule reads the windows as `cloud.stations.opennow.Window` tuples
(`load_windows`, kept in the nearby index's snapshot) and `active_clause` is the same test in
SQL for the ops views and the monitor. Ending a window sets its `ends_at` to now (the planned
end stays in `planned_end`); cancelling is for windows that have not started. Each change is
audited in its own transaction. The registry's boolean `Station.maintenance` stays what it
was: immediate and open-ended, with no reason and no end; windows do not touch it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Index,
    and_,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlmodel import Field, SQLModel

from cloud.auth.auditlog import audit
from cloud.auth.roles import Principal
from cloud.clock import utcnow
from cloud.models import BigId, Station, table
from cloud.sql.types import UTCDateTime
from cloud.stations.liveness import epoch_us
from cloud.stations.opennow import Window

REASON_MAX = 200  # characters of the reason workers see
# A planned start this far in the past still counts as "now" (a form filled in slowly).
PAST_SLACK = timedelta(minutes=5)


class MaintenanceWindow(SQLModel, table=True):
    """One window of one station; never deleted (the history ops see on the station page)."""

    __tablename__ = "maintenance_window"
    __table_args__ = (
        Index("ix_maintenance_window_station", "station_id", "starts_at"),
        Index("ix_maintenance_window_updated", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    station_id: str = Field(foreign_key="station.id", max_length=40)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="None: until ops end it"
    )
    planned_end: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="ends_at as planned, before any end"
    )
    reason: str = Field(default="", max_length=REASON_MAX, description="shown to workers")
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_by: str | None = Field(default=None, max_length=64)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_by: str | None = Field(default=None, max_length=64)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, description="the index's version"
    )


WINDOW = table(MaintenanceWindow)
STATION = table(Station)
TABLES = [WINDOW]
State = Literal["planned", "active", "ended", "cancelled"]


def active_clause(now: datetime) -> ColumnElement[bool]:
    """`cloud.stations.opennow.window_now` in SQL, for rows of `maintenance_window`."""
    return and_(
        WINDOW.c.cancelled_at.is_(None),
        WINDOW.c.starts_at <= now,
        or_(WINDOW.c.ends_at.is_(None), WINDOW.c.ends_at > now),
    )


def in_maintenance(now: datetime) -> ColumnElement[bool]:
    """Whether a `station` row is in maintenance at `now`: its registry flag, or a window."""
    window = exists().where(WINDOW.c.station_id == STATION.c.id, active_clause(now))
    return or_(STATION.c.maintenance, window)


def maintained_ids(conn: Connection, now: datetime) -> set[str]:
    """Ids of the stations in maintenance at `now` (flag or window): a few, read in one go."""
    flagged = select(STATION.c.id).where(STATION.c.maintenance)
    windowed = select(WINDOW.c.station_id).where(active_clause(now))
    return set(conn.execute(flagged.union(windowed)).scalars())


def version_columns() -> tuple[Any, Any]:
    """(rows, newest `updated_at`) as scalar subqueries, for the index's version check (one
    statement with the registry's): they change with every create, end and cancel."""
    rows = select(func.count()).select_from(WINDOW).scalar_subquery()
    return rows, select(func.max(WINDOW.c.updated_at)).scalar_subquery()


def load_windows(conn: Connection, now: datetime) -> dict[str, tuple[Window, ...]]:
    """Windows not cancelled and not over at `now`, by station, earliest first."""
    query = (
        select(WINDOW.c.id, WINDOW.c.station_id, WINDOW.c.starts_at, WINDOW.c.ends_at)
        .add_columns(WINDOW.c.reason)
        .where(WINDOW.c.cancelled_at.is_(None))
        .where(or_(WINDOW.c.ends_at.is_(None), WINDOW.c.ends_at > now))
        .order_by(WINDOW.c.station_id, WINDOW.c.starts_at)
    )
    found: dict[str, list[Window]] = defaultdict(list)
    for r in conn.execute(query):
        ends = epoch_us(r.ends_at) if r.ends_at is not None else None
        found[r.station_id].append(Window(r.id, epoch_us(r.starts_at), ends, r.reason))
    return {sid: tuple(ws) for sid, ws in found.items()}


def station_windows(conn: Connection, sid: str, now: datetime) -> tuple[Window, ...]:
    """`load_windows` for one station (the detail pages read it directly, not from the index)."""
    query = (
        select(WINDOW.c.id, WINDOW.c.starts_at, WINDOW.c.ends_at, WINDOW.c.reason)
        .where(WINDOW.c.station_id == sid, WINDOW.c.cancelled_at.is_(None))
        .where(or_(WINDOW.c.ends_at.is_(None), WINDOW.c.ends_at > now))
        .order_by(WINDOW.c.starts_at)
    )
    return tuple(
        Window(r.id, epoch_us(r.starts_at), epoch_us(r.ends_at) if r.ends_at else None, r.reason)
        for r in conn.execute(query)
    )


class WindowView(BaseModel):
    """A window as ops see it, with its state at the time of the request."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    station_id: str
    starts_at: datetime
    ends_at: datetime | None
    planned_end: datetime | None
    reason: str
    state: State
    created_by: str
    created_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    cancelled_at: datetime | None
    cancelled_by: str | None


def state_of(row: Any, now: datetime) -> State:
    if row.cancelled_at is not None:
        return "cancelled"
    if now < row.starts_at:
        return "planned"
    if row.ends_at is None or now < row.ends_at:
        return "active"
    return "ended"


def view(row: Any, now: datetime) -> WindowView:
    fields = {k: row._mapping[k] for k in WindowView.model_fields if k != "state"}
    return WindowView(**fields, state=state_of(row, now))


class MaintenanceError(Exception):
    """A request the windows cannot take: `status` (HTTP), `field` it is about, `message`."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status, self.field, self.message = status, field, message


def _owned(conn: Connection, sid: str, window_id: int) -> Any:
    row = conn.execute(
        select(WINDOW).where(WINDOW.c.id == window_id, WINDOW.c.station_id == sid)
    ).first()
    if row is None:
        raise MaintenanceError(404, "window_id", f"no maintenance window {window_id}")
    return row


def station_list(conn: Connection, sid: str, now: datetime, limit: int = 50) -> list[WindowView]:
    """The station's windows, latest start first."""
    rows = conn.execute(
        select(WINDOW)
        .where(WINDOW.c.station_id == sid)
        .order_by(WINDOW.c.starts_at.desc(), WINDOW.c.id.desc())
        .limit(limit)
    )
    return [view(r, now) for r in rows]


def fleet_list(
    conn: Connection, now: datetime, *, within: ColumnElement[bool] | None, limit: int = 500
) -> list[WindowView]:
    """Windows active or still to come, of the stations `within` (a scope condition on
    `station`; None: all), soonest start first."""
    query = (
        select(WINDOW)
        .join(STATION, STATION.c.id == WINDOW.c.station_id)
        .where(WINDOW.c.cancelled_at.is_(None))
        .where(or_(WINDOW.c.ends_at.is_(None), WINDOW.c.ends_at > now))
        .order_by(WINDOW.c.starts_at, WINDOW.c.id)
        .limit(limit)
    )
    if within is not None:
        query = query.where(within)
    return [view(r, now) for r in conn.execute(query)]


def _overlap(
    conn: Connection, sid: str, starts: datetime, ends: datetime | None, now: datetime
) -> int | None:
    """The id of a live window of `sid` overlapping [starts, ends), if any."""
    query = select(WINDOW.c.id).where(
        WINDOW.c.station_id == sid,
        WINDOW.c.cancelled_at.is_(None),
        or_(WINDOW.c.ends_at.is_(None), WINDOW.c.ends_at > max(starts, now)),
    )
    if ends is not None:
        query = query.where(WINDOW.c.starts_at < ends)
    return conn.execute(query.limit(1)).scalar()


def create(
    engine: Engine,
    principal: Principal,
    sid: str,
    *,
    reason: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime,
) -> WindowView:
    """A window from `starts_at` (None: now, immediate) to `ends_at` (None: until ended).
    `reason` is already cleaned (`cloud.feedback.text.clean`). MaintenanceError: no such
    station (404), ends before it starts or in the past, starts in the past, overlaps another
    window (409)."""
    starts = now if starts_at is None or starts_at <= now else starts_at
    if starts_at is not None and starts_at < now - PAST_SLACK:
        raise MaintenanceError(422, "starts_at", "is in the past (leave it out to start now)")
    if ends_at is not None and ends_at <= starts:
        raise MaintenanceError(422, "ends_at", "must be after starts_at (and after now)")
    with engine.begin() as conn:
        if conn.execute(select(STATION.c.id).where(STATION.c.id == sid)).first() is None:
            raise MaintenanceError(404, "sid", "no such station")  # (a union account's scope
            # check passes any id; the insert would otherwise fail on the foreign key)
        clash = _overlap(conn, sid, starts, ends_at, now)
        if clash is not None:
            raise MaintenanceError(409, "starts_at", f"overlaps maintenance window {clash}")
        values = {
            "station_id": sid, "starts_at": starts, "ends_at": ends_at, "planned_end": ends_at,
            "reason": reason, "created_by": principal.username, "created_at": now,
            "updated_at": now,
        }  # fmt: skip
        wid = conn.execute(insert(WINDOW).values(**values).returning(WINDOW.c.id)).scalar_one()
        detail = {"window": wid, "starts_at": starts.isoformat(), "reason": reason}
        detail["ends_at"] = ends_at.isoformat() if ends_at else None
        audit(conn, principal, "maintenance.create", sid, detail, at=now)
        return view(_owned(conn, sid, wid), now)


def end(
    engine: Engine, principal: Principal, sid: str, window_id: int, now: datetime
) -> WindowView:
    """End an active window now. 409 unless it is active."""
    values = {"ends_at": now, "ended_at": now, "ended_by": principal.username}
    return _finish(engine, principal, sid, window_id, now, "active", "end", values)


def cancel(
    engine: Engine, principal: Principal, sid: str, window_id: int, now: datetime
) -> WindowView:
    """Cancel a window that has not started. 409 once it has (end it instead)."""
    values = {"cancelled_at": now, "cancelled_by": principal.username}
    return _finish(engine, principal, sid, window_id, now, "planned", "cancel", values)


def _finish(
    engine: Engine,
    principal: Principal,
    sid: str,
    window_id: int,
    now: datetime,
    must_be: str,
    action: str,
    values: dict[str, Any],
) -> WindowView:
    """End or cancel: the window must be in state `must_be` (else 409); audited."""
    with engine.begin() as conn:
        row = _owned(conn, sid, window_id)
        if state_of(row, now) != must_be:
            raise MaintenanceError(409, "window_id", f"window {window_id} is not {must_be}")
        conn.execute(
            update(WINDOW).where(WINDOW.c.id == window_id).values(**values, updated_at=now)
        )
        audit(conn, principal, f"maintenance.{action}", sid, {"window": window_id}, at=now)
        return view(_owned(conn, sid, window_id), now)
