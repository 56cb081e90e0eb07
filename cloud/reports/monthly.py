"""The monthly report: each station's figures (`liveopen`, `activity`), summed per group
(partner/operator, city, or station) and for everything the caller may see.

Stations are taken per time zone, each zone's month being its own local month
(`cloud.reports.month`); `where` (the caller's scope, `cloud.auth.scope.Scope.where`) limits
them. Uptime is summed as seconds before dividing, so a group's percentage weighs each
station by its opening time. Stations without an agent have no live data: they are counted in
`schedule_stations` and listed in `no_agent`, never averaged in as 0 %. Response-time
percentiles are nearest-rank over the group's alarms (p50 of 3 alarms is the middle one).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, and_, select

from cloud.models import DEFAULT_TZ, Station, table
from cloud.reports import activity
from cloud.reports.activity import GRANTED, AlarmTimes
from cloud.reports.liveopen import LiveOpen, live_open
from cloud.reports.month import Month, MonthError, Window, window
from cloud.reports.openhours import Interval, open_intervals

STATION = table(Station)
By = Literal["city", "operator", "station"]
Row_ = Any  # a `station` table row (sqlalchemy Row)
H = 3600.0


class Row(BaseModel):
    """One group's month. Durations in hours or seconds as named; percentages 0–100."""

    key: str = Field(description="the city, the operator, or the station id")
    name: str | None = Field(default=None, description="the station's name (by station)")
    city: str | None = Field(default=None, description="(by station)")
    operator: str | None = Field(default=None, description="(by station)")
    stations: int = Field(description="stations in the group")
    live_stations: int = Field(description="with an agent reporting (a status history)")
    schedule_stations: int = Field(description="without: open by their hours, no live data")
    due_h: float = Field(description="published opening hours of the live stations, hours")
    known_h: float = Field(description="of those, hours with a known status")
    live_h: float = Field(description="of those, hours open and live (online)")
    uptime_pct: float | None = Field(description="live_h / known_h × 100; None: no live data")
    granted: int = Field(description="member codes accepted at the door")
    denied: int = Field(description="codes refused")
    denied_by_reason: dict[str, int] = Field(description="refusals per reason code")
    entries: int = Field(description="people counted in")
    exits: int = Field(description="people counted out")
    alarms: int = Field(description="station alarms raised in the month")
    unacknowledged: int = Field(description="of those, not acknowledged (yet)")
    uncleared: int = Field(description="of those, not cleared (yet)")
    ack_p50_s: float | None = Field(description="raised → acknowledged, median, seconds")
    ack_p90_s: float | None = Field(description="raised → acknowledged, 90th percentile")
    clear_p50_s: float | None = Field(description="raised → cleared, median, seconds")
    clear_p90_s: float | None = Field(description="raised → cleared, 90th percentile")
    bad_hours: int = Field(description="stations whose opening_hours cannot be evaluated")


class NoAgent(BaseModel):
    id: str
    name: str
    city: str
    operator: str
    opening_hours: str


class MonthlyReport(BaseModel):
    month: str = Field(description="YYYY-MM, in each station's own time zone")
    by: By
    tz: str = Field(description="the zone of most stations; start and end are its month")
    start: datetime
    end: datetime = Field(description="the month's end, or now for the current month")
    complete: bool = Field(description="the whole month has passed")
    generated_at: datetime
    rows: list[Row]
    total: Row
    no_agent: list[NoAgent] = Field(description="stations without an agent (no live data)")


@dataclass(slots=True)
class _Acc:
    stations: int = 0
    live_stations: int = 0
    bad_hours: int = 0
    due_s: float = 0.0
    known_s: float = 0.0
    live_s: float = 0.0
    doors: Counter[str] = field(default_factory=Counter)
    entries: int = 0
    exits: int = 0
    alarms: list[AlarmTimes] = field(default_factory=list)

    def add(self, other: _Acc) -> None:
        for name in ("stations", "live_stations", "bad_hours", "due_s", "known_s", "live_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.doors.update(other.doors)
        self.entries += other.entries
        self.exits += other.exits
        self.alarms.extend(other.alarms)

    def row(self, key: str, **extra: str | None) -> Row:
        denied = {k: n for k, n in sorted(self.doors.items()) if k != GRANTED}
        acks = sorted(a.ack_s for a in self.alarms if a.ack_s is not None)
        clears = sorted(a.clear_s for a in self.alarms if a.clear_s is not None)
        return Row(
            key=key,
            **extra,
            stations=self.stations,
            live_stations=self.live_stations,
            schedule_stations=self.stations - self.live_stations,
            due_h=round(self.due_s / H, 3),
            known_h=round(self.known_s / H, 3),
            live_h=round(self.live_s / H, 3),
            uptime_pct=round(100 * self.live_s / self.known_s, 3) if self.known_s > 0 else None,
            granted=self.doors.get(GRANTED, 0),
            denied=sum(denied.values()),
            denied_by_reason=denied,
            entries=self.entries,
            exits=self.exits,
            alarms=len(self.alarms),
            unacknowledged=len(self.alarms) - len(acks),
            uncleared=len(self.alarms) - len(clears),
            ack_p50_s=percentile(acks, 50),
            ack_p90_s=percentile(acks, 90),
            clear_p50_s=percentile(clears, 50),
            clear_p90_s=percentile(clears, 90),
            bad_hours=self.bad_hours,
        )


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values: the smallest value with at least p % of
    the values at or below it; None for no values."""
    if not ordered:
        return None
    return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 3)


def monthly(
    conn: Connection,
    *,
    month: str,
    by: By,
    now: datetime,
    within: ColumnElement[bool] | None = None,
) -> MonthlyReport:
    """The report of `month` (YYYY-MM) grouped `by`, over the stations `within` (a scope
    condition on `station`; None: all). MonthError for a malformed month or one not begun."""
    m = Month.parse(month)
    query = select(STATION)
    if within is not None:
        query = query.where(within)
    stations = conn.execute(query.order_by(STATION.c.id)).all()
    zones: dict[str, list[Row_]] = defaultdict(list)
    for st in stations:
        zones[st.tz].append(st)
    main_tz = max(sorted(zones), key=lambda z: len(zones[z])) if zones else DEFAULT_TZ
    main = window(m, main_tz, now)
    if main is None:
        raise MonthError(f"month {m} has not begun")
    per: dict[str, _Acc] = {}
    no_agent: list[NoAgent] = []
    for tz, members in zones.items():
        win = window(m, tz, now)
        if win is None:
            continue
        where = STATION.c.tz == tz if within is None else and_(STATION.c.tz == tz, within)
        spans: dict[str, tuple[Interval, ...]] = {}
        bad: set[str] = set()
        for st in members:
            found = open_intervals(st.opening_hours, tz, (st.lat, st.lon), win.start, win.end)
            spans[st.id] = found or ()
            if found is None:
                bad.add(st.id)
        live = live_open(conn, where, win, spans)
        doors = activity.decisions(conn, where, win)
        counts = activity.footfall(conn, where, win)
        alarms = activity.alarm_times(conn, where, win)
        for st in members:
            lo = live.get(st.id)
            if lo is None:
                no_agent.append(NoAgent.model_validate(st, from_attributes=True))
            per[st.id] = _station(st.id in bad, lo, doors, counts, alarms, st.id)
    return _report(m, by, now, main, stations, per, no_agent)


def _station(
    bad: bool,
    lo: LiveOpen | None,
    doors: dict[str, Counter[str]],
    counts: dict[str, tuple[int, int]],
    alarms: dict[str, list[AlarmTimes]],
    sid: str,
) -> _Acc:
    entries, exits = counts.get(sid, (0, 0))
    acc = _Acc(stations=1, bad_hours=int(bad), entries=entries, exits=exits)
    if lo is not None:
        acc.live_stations, acc.due_s, acc.known_s, acc.live_s = 1, lo.due_s, lo.known_s, lo.live_s
    acc.doors.update(doors.get(sid, {}))
    acc.alarms.extend(alarms.get(sid, []))
    return acc


def _report(
    m: Month,
    by: By,
    now: datetime,
    main: Window,
    stations: Sequence[Row_],
    per: dict[str, _Acc],
    no_agent: list[NoAgent],
) -> MonthlyReport:
    groups: dict[str, _Acc] = defaultdict(_Acc)
    total = _Acc()
    extra: dict[str, dict[str, str | None]] = {}
    for st in stations:
        acc = per.get(st.id)
        if acc is None:
            continue  # its zone's month has not begun
        key = {"city": st.city, "operator": st.operator, "station": st.id}[by]
        groups[key].add(acc)
        total.add(acc)
        if by == "station":
            extra[key] = {"name": st.name, "city": st.city, "operator": st.operator}
    return MonthlyReport(
        month=str(m),
        by=by,
        tz=main.tz,
        start=main.start,
        end=main.end,
        complete=main.complete,
        generated_at=now,
        rows=[groups[k].row(k, **extra.get(k, {})) for k in sorted(groups)],
        total=total.row(""),
        no_agent=no_agent,
    )
