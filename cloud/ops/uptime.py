"""Uptime per station per local day, from the status history.

A day's seconds are split by the status in force: the newest history row at or before the
day's start carries into it. `available` counts online and degraded (the station answered);
`up_pct` is online alone (members could get in), of the part of the day that has passed and
whose status is known: the time before a station's first history row is `unknown` — the
station did not exist yet, or history was pruned — and counts neither as up nor as down
(a day with no known second has no percentage at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from cloud.models import StatusChange, table

HISTORY = table(StatusChange)
UP = frozenset({"online"})
ANSWERING = frozenset({"online", "degraded"})
UNKNOWN = "unknown"  # no history row yet: not observed, neither up nor down


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    seconds: dict[str, float]  # status → seconds in force that day (unknown: no history yet)
    observed_s: float  # the part of the day that has passed

    @property
    def known_s(self) -> float:
        """Seconds of the passed part of the day with a known status (the percentages' base)."""
        return max(0.0, self.observed_s - self.seconds.get(UNKNOWN, 0.0))

    def _pct(self, statuses: frozenset[str]) -> float | None:
        if self.known_s <= 0:
            return None
        part = sum(s for status, s in self.seconds.items() if status in statuses)
        return round(100.0 * part / self.known_s, 2)

    @property
    def up_pct(self) -> float | None:
        return self._pct(UP)

    @property
    def available_pct(self) -> float | None:
        return self._pct(ANSWERING)


def split(
    changes: list[tuple[datetime, str]], start: datetime, end: datetime, before: str | None
) -> dict[str, float]:
    """Seconds per status over [start, end): `before` is in force at `start`, then each
    (at, status) change in time order."""
    out: dict[str, float] = {}
    current, since = before or UNKNOWN, start
    for at, status in changes:
        if at >= end:
            break
        if at > since:
            out[current] = out.get(current, 0.0) + (at - since).total_seconds()
            since = at
        current = status
    if end > since:
        out[current] = out.get(current, 0.0) + (end - since).total_seconds()
    return out


def days(conn: Connection, sid: str, tz: str, *, last: int, now: datetime) -> list[Day]:
    """The last `last` local days of station `sid` up to `now`, oldest first."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=last - 1)
    start = datetime.combine(first, time(), zone)
    before = conn.execute(
        select(HISTORY.c.status)
        .where(HISTORY.c.station_id == sid, HISTORY.c.at <= start)
        .order_by(HISTORY.c.at.desc(), HISTORY.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    changes = [
        (r.at, r.status)
        for r in conn.execute(
            select(HISTORY.c.at, HISTORY.c.status)
            .where(HISTORY.c.station_id == sid, HISTORY.c.at > start, HISTORY.c.at <= now)
            .order_by(HISTORY.c.at, HISTORY.c.id)
        )
    ]
    out = []
    for n in range(last):
        day = first + timedelta(days=n)
        lo = datetime.combine(day, time(), zone)
        hi = min(datetime.combine(day + timedelta(days=1), time(), zone), now)
        in_force = before
        for at, status in changes:
            if at <= lo:
                in_force = status
        inside = [(at, s) for at, s in changes if lo < at < hi]
        seconds = split(inside, lo, hi, in_force) if hi > lo else {}
        out.append(Day(day, seconds, max(0.0, (hi - lo).total_seconds())))
    return out
