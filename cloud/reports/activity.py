"""What happened at the stations in a month, counted in SQL: door decisions by reason,
footfall in and out, and how fast alarms were acknowledged and cleared.

Each function takes `where`, a condition on `station` (time zone and the caller's scope),
and the month's window in that zone. Door decisions are counted by the station's own
timestamp (`event.ts`, as the ops event list shows them); footfall comes from the hourly
roll-ups before the newest rolled hour (whole UTC days from `footfall_day`, the rest from
`footfall_hour`) and from raw intervals from it on (the rule of `cloud.ops.footfall`; a
bucket counts where it starts); alarms are the station alarms raised
in the window (the cloud's own alarms belong to no station and are left out).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, func, select

from cloud.alarms.models import PENDING, Alarm
from cloud.jobs.rollup import DAY_S, ceil, floor
from cloud.models import Event, FootfallDay, FootfallHour, FootfallInterval, Station, table
from cloud.ops.footfall import rolled_until
from cloud.reports.month import Window

STATION, EVENT, ALARM = table(Station), table(Event), table(Alarm)
HOUR, DAY, INTERVAL = table(FootfallHour), table(FootfallDay), table(FootfallInterval)
GRANTED = "granted"


def _of(station_id: ColumnElement[str], where: ColumnElement[bool]) -> ColumnElement[bool]:
    """The row's station is one `where` selects. An IN (subquery) rather than a join: both
    SQLite and PostgreSQL then range-scan each station's (station_id, time) index instead of
    a time index across every station (6× faster on footfall hours in the benchmark)."""
    return station_id.in_(select(STATION.c.id).where(where))


def decisions(conn: Connection, where: ColumnElement[bool], win: Window) -> dict[str, Counter[str]]:
    """station → {"granted": n, <denial reason>: n, …} for access decisions in the window."""
    rows = conn.execute(
        select(EVENT.c.station_id, EVENT.c.granted, EVENT.c.reason, func.count())
        .where(
            _of(EVENT.c.station_id, where),
            EVENT.c.type == "access",
            EVENT.c.ts >= win.start,
            EVENT.c.ts < win.end,
        )
        .group_by(EVENT.c.station_id, EVENT.c.granted, EVENT.c.reason)
    )
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for sid, granted, reason, n in rows:
        out[sid][GRANTED if granted else (reason or "unknown")] += int(n)
    return dict(out)


def footfall(
    conn: Connection, where: ColumnElement[bool], win: Window
) -> dict[str, tuple[int, int]]:
    """station → (entries, exits) counted in the window."""
    rolled = rolled_until(conn)
    cut = win.start if rolled is None else min(max(rolled, win.start), win.end)
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    # Whole UTC days before the rolled hour's day from `footfall_day` (the hour job rebuilds
    # a day with its hours), the month's ragged ends from `footfall_hour`: ~30 rows per
    # station instead of ~720.
    d0, d1 = ceil(win.start, DAY_S), floor(cut, DAY_S)
    parts = [
        (HOUR, HOUR.c.bucket_start, win.start, min(d0, cut)),
        (DAY, DAY.c.bucket_start, d0, d1),
        (HOUR, HOUR.c.bucket_start, max(d0, d1), cut),
        (INTERVAL, INTERVAL.c.interval_start, cut, win.end),
    ]
    for source, at, lo, hi in parts:
        if hi <= lo:
            continue
        rows = conn.execute(
            select(source.c.station_id, func.sum(source.c.entries), func.sum(source.c.exits))
            .where(_of(source.c.station_id, where), at >= lo, at < hi)
            .group_by(source.c.station_id)
        )
        for sid, entries, exits in rows:
            out[sid][0] += int(entries or 0)
            out[sid][1] += int(exits or 0)
    return {sid: (e, x) for sid, (e, x) in out.items()}


@dataclass(frozen=True, slots=True)
class AlarmTimes:
    """One alarm's response: seconds from raised to acknowledged and to cleared (None: not
    yet). An acknowledgement before the raise (while it was pending) counts as 0 s."""

    ack_s: float | None
    clear_s: float | None


def alarm_times(
    conn: Connection, where: ColumnElement[bool], win: Window
) -> dict[str, list[AlarmTimes]]:
    """station → the response times of each alarm raised in the window."""
    rows = conn.execute(
        select(
            ALARM.c.station_id, ALARM.c.raised_at, ALARM.c.acknowledged_at, ALARM.c.cleared_at
        ).where(
            _of(ALARM.c.station_id, where),
            ALARM.c.state != PENDING,
            ALARM.c.raised_at >= win.start,
            ALARM.c.raised_at < win.end,
        )
    )
    out: dict[str, list[AlarmTimes]] = defaultdict(list)
    for sid, raised, acked, cleared in rows:
        out[sid].append(AlarmTimes(_after(raised, acked), _after(raised, cleared)))
    return dict(out)


def _after(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else max(0.0, (end - start).total_seconds())
