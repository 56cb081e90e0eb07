"""How much of its published opening time each station was open and live, from the status
history (`station_status_history`).

The rule is the station page's uptime rule (`cloud.ops.uptime`), applied only inside the
opening intervals (`cloud.reports.openhours`): the newest history row at or before a moment
is the status in force; `online` is up (members could get in), every other status — degraded,
stale, lost, offline — is down; time before a station's first history row is `unknown` and
counts neither way. A station with no history row at all before the window ends has no agent
reporting (it is open by its hours only, basis `schedule`): it gets no figure here, not 0 %.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, select

from cloud.models import Station, StatusChange, table
from cloud.ops.uptime import UNKNOWN, UP, split
from cloud.reports.month import Window
from cloud.reports.openhours import Interval

HISTORY = table(StatusChange)
STATION = table(Station)


@dataclass(frozen=True, slots=True)
class LiveOpen:
    """Seconds of one station's window: `due_s` inside its opening hours, `known_s` of those
    with a known status, `live_s` of those online (open and live)."""

    due_s: float
    known_s: float
    live_s: float


def seconds_by_status(
    intervals: tuple[Interval, ...], before: str | None, changes: list[tuple[datetime, str]]
) -> dict[str, float]:
    """Seconds per status inside `intervals`: `before` in force at the window's start, then
    each (at, status) change in time order (as `cloud.ops.uptime.days` splits a day)."""
    out: dict[str, float] = defaultdict(float)
    ats = [at for at, _ in changes]
    for lo, hi in intervals:
        i = bisect_right(ats, lo)  # changes at or before lo decide what is in force at lo
        in_force = changes[i - 1][1] if i else before
        inside = changes[i : bisect_left(ats, hi)]
        for status, s in split(inside, lo, hi, in_force).items():
            out[status] += s
    return dict(out)


def live_open(
    conn: Connection,
    where: ColumnElement[bool],
    win: Window,
    intervals: dict[str, tuple[Interval, ...]],
) -> dict[str, LiveOpen]:
    """LiveOpen of each station selected by `where` (a condition on `station`) that has a
    status history by the window's end; `intervals` are each station's opening intervals."""
    latest = (
        select(HISTORY.c.status)
        .where(HISTORY.c.station_id == STATION.c.id, HISTORY.c.at <= win.start)
        .order_by(HISTORY.c.at.desc(), HISTORY.c.id.desc())
        .limit(1)
        .correlate(STATION)
        .scalar_subquery()
    )
    before = {
        sid: status for sid, status in conn.execute(select(STATION.c.id, latest).where(where))
    }
    changes: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    rows = conn.execute(
        select(HISTORY.c.station_id, HISTORY.c.at, HISTORY.c.status)
        .where(
            HISTORY.c.station_id.in_(select(STATION.c.id).where(where)),
            HISTORY.c.at > win.start,
            HISTORY.c.at < win.end,
        )
        .order_by(HISTORY.c.station_id, HISTORY.c.at, HISTORY.c.id)
    )
    for sid, at, status in rows:
        changes[sid].append((at, status))
    out = {}
    for sid, status in before.items():
        if status is None and sid not in changes:
            continue  # no agent has ever reported: open by its hours only
        spans = intervals.get(sid, ())
        seconds = seconds_by_status(spans, status, changes.get(sid, []))
        due = sum((hi - lo).total_seconds() for lo, hi in spans)
        live = sum(s for st, s in seconds.items() if st in UP)
        out[sid] = LiveOpen(due, max(0.0, due - seconds.get(UNKNOWN, 0.0)), live)
    return out
