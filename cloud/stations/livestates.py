"""The live state the finder reads for a search's candidates, and the hours memo.

`read_digests` reads the live-state columns of just the candidates in one SELECT on the
driver's cursor (an expanding IN, no ORM rows) and reduces each to a `Digest`;
`LiveStates` keeps them a second so a burst of searches over one area reads each station
once. `HoursMemo` reuses an opening-hours evaluation until it can next change. Split from
`cloud.stations.finder` (the query and its ranking), which reads through these.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, bindparam
from sqlalchemy import select as select_core
from sqlmodel import Session

from cloud.models import Station, StationState, table
from cloud.stations.hours import COORD_DECIMALS, LOCAL_TERMS, HoursState
from cloud.stations.index import RegistryRow
from cloud.stations.liveness import (
    DIGEST_COLUMNS,
    NEVER_HEARD,
    ONE_US,
    Digest,
    Digester,
    LivenessPolicy,
    digester_for,
    epoch_us,
)
from cloud.stations.opennow import hours_at

STATION = table(Station)
STATE = table(StationState)
# The live-state columns `cloud.stations.liveness.Digester` reads, plus occupancy.
_STATE = select_core(*DIGEST_COLUMNS, STATE.c.occupancy).where(
    STATE.c.station_id.in_(bindparam("ids", expanding=True))
)


EPOCH_NAIVE = datetime(1970, 1, 1)


def _micros(value: datetime | str | None) -> int | None:
    """A stored timestamp as epoch microseconds. SQLite hands back the text SQLAlchemy wrote
    (`2025-06-02 02:00:00.000000`, naive UTC, as `cloud.sql.types.UTCDateTime` stores it):
    `fromisoformat` reads it in ~0.12 µs against ~1 µs for the column type's result processor,
    and no aware datetime is built; PostgreSQL's drivers hand back aware datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return (value - EPOCH_NAIVE) // ONE_US
    return epoch_us(value)


@functools.lru_cache(maxsize=512)
def _expanded(dialect: Dialect, n: int) -> tuple[str, tuple[str, ...], bool]:
    """`_STATE` for `n` ids as the driver takes it: the SQL text, the parameter names in id
    order, and whether the driver takes them by position (compiled by SQLAlchemy once per
    dialect and count, so every dialect's syntax is right). Ids are plain strings: no bind
    processors (checked)."""
    expanded = _STATE.compile(dialect=dialect).construct_expanded_state({"ids": list(range(n))})
    if expanded.processors:
        raise TypeError(f"{dialect.name}: live-state ids need bind processing")
    names = tuple(sorted(expanded.parameters, key=expanded.parameters.__getitem__))
    if expanded.positiontup is not None and list(expanded.positiontup) != list(names):
        raise TypeError(f"{dialect.name}: positional parameters out of id order")
    return expanded.statement, names, expanded.positiontup is not None


def read_digests(
    source: Engine | Connection | Session, ids: list[str], digester: Digester
) -> dict[str, Digest]:
    """Digests of the `ids` that have live state, read now: one statement on the driver's
    own cursor. Through Core (expanding IN, result rows, datetime processors) and datetimes,
    reading and judging 20 stations cost ~0.38 ms of a request; this way ~0.2 ms, most of
    it SQLite's own lookups. From an Engine, a pooled driver connection is borrowed for
    just this statement."""
    if isinstance(source, Engine):
        raw = source.raw_connection()
        try:
            rows = _fetch(source.dialect, raw, ids)
        finally:
            raw.close()  # back to the pool
    else:
        conn = source.connection() if isinstance(source, Session) else source
        rows = _fetch(conn.dialect, conn.connection, ids)
    return {
        sid: digester(
            status,
            _alive_us(at, beat),
            interval,
            door,
            lock,
            level,
            _micros(locked),
            occupancy,
            mode,
        )
        for sid, status, at, beat, interval, door, lock, level, locked, mode, occupancy in rows
    }


def _alive_us(status_at: datetime | str | None, beat: datetime | str | None) -> int | None:
    """The last sign of life (the later of the two), epoch µs. SQLite's texts of one width
    compare as the times do, so only the later one is parsed."""
    if status_at is None or beat is None:
        return _micros(beat if status_at is None else status_at)
    if isinstance(status_at, str) and isinstance(beat, str) and len(status_at) == len(beat):
        return _micros(max(status_at, beat))
    a, b = _micros(status_at), _micros(beat)
    return a if a > b else b  # type: ignore[operator]


def _fetch(dialect: Dialect, dbapi_conn: Any, ids: list[str]) -> list[Any]:
    sql, names, positional = _expanded(dialect, len(ids))
    params: Any = ids if positional else dict(zip(names, ids, strict=True))
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


class LiveStates:
    """Live-state digests (`cloud.stations.liveness.Digest`) by station id, each reused for `ttl_s`
    seconds after it was read.

    Under load many searches in one city share their candidates; re-reading the same rows
    many times a second buys nothing a rider can see (stations report every 30 s). A row is
    at most `ttl_s` old; liveness is still judged at the request's own `now`. The connection
    is opened only when something must be read (`source` may be an Engine).

    Entries live in two dicts swapped every `ttl_s` (what was read in the last period, and
    in the one before), so everything older than two periods is dropped at no cost and
    memory stays at ~2 s of reads. Entries hold a digest as a plain tuple of plain values
    (converted back to a `Digest` on the way out, ~0.2 µs), so the garbage collector stops
    tracking them: 15,000 new tracked entries a second made full collections of ~0.25 s
    (measured, with gc callbacks).
    """

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._policy: LivenessPolicy | None = None
        self._new: dict[str, tuple[float, tuple[Any, ...]]] = {}  # id → (expires, digest)
        self._old: dict[str, tuple[float, tuple[Any, ...]]] = {}
        self._swap_at = -math.inf

    def __len__(self) -> int:
        """Entries held (some may have expired)."""
        return len(self._new) + len(self._old)

    def forget(self, sid: str) -> None:
        """Drop `sid`'s entry, so the next search reads its row (a report just changed it)."""
        self._new.pop(sid, None)
        self._old.pop(sid, None)

    def get(
        self, source: Engine | Connection | Session, ids: list[str], policy: LivenessPolicy
    ) -> dict[str, Digest]:
        """Digests of all `ids` (`NEVER_HEARD` for those without live state); reads the
        missing or expired ones in one SELECT."""
        now = self._clock()
        if policy != self._policy:  # digests are made under one policy
            self._new, self._old = {}, {}
            self._policy = policy
        if now >= self._swap_at:  # every entry of `_old` has expired by now
            self._new, self._old = {}, self._new
            self._swap_at = now + self.ttl_s
        new, old = self._new, self._old
        out: dict[str, Digest] = {}
        missing: list[str] = []
        make = Digest._make
        for sid in ids:
            hit = new.get(sid) or old.get(sid)
            if hit is None or hit[0] <= now:
                missing.append(sid)
            else:
                out[sid] = make(hit[1])
        if not missing:
            return out
        fresh = read_digests(source, missing, digester_for(policy))
        expires = now + self.ttl_s
        for sid in missing:
            d = fresh.get(sid, NEVER_HEARD)
            new[sid] = (expires, tuple(d))
            out[sid] = d
        return out


# Seconds an hours evaluation is reused when it names no next change (none within the
# lookahead, or invalid hours); with a next change it is reused until then, exactly.
HOURS_REUSE_S = 60.0
MAX_HOURS_ENTRIES = 65_536  # distinct (hours, zone, place) kept; past this the memo restarts


class HoursMemo:
    """`cloud.stations.hours.evaluate` results per (expression, zone, place), reused while they
    cannot have changed: from when computed until the next opening or closing. Most stations share
    a few expressions, so a search evaluates almost none (was ~0.2 ms of a search)."""

    def __init__(self) -> None:
        self._entries: dict[
            tuple[str, str, tuple[float, float] | None], tuple[datetime, datetime, HoursState]
        ] = {}
        self._local: dict[str, bool] = {}  # expression → whether the place matters

    def at(self, station: RegistryRow, now: datetime) -> HoursState:
        expr = station.opening_hours
        local = self._local.get(expr)
        if local is None:
            if len(self._local) >= MAX_HOURS_ENTRIES:
                self._local.clear()
            local = self._local[expr] = LOCAL_TERMS.search(expr) is not None
        place = (
            (round(station.lat, COORD_DECIMALS), round(station.lon, COORD_DECIMALS))
            if local
            else None
        )
        key = (expr, station.tz, place)
        hit = self._entries.get(key)
        if hit is not None and hit[0] <= now < hit[1]:
            return hit[2]
        hours = hours_at(station, now)
        change = hours.closes_at if hours.open else hours.opens_at
        if len(self._entries) >= MAX_HOURS_ENTRIES:
            self._entries.clear()
        self._entries[key] = (now, change or now + timedelta(seconds=HOURS_REUSE_S), hours)
        return hours


HOURS = HoursMemo()
