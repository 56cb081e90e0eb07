"""The workers' station finder: nearest stations with what is true about them right now.

`nearby_rows` (what the API uses) ranks candidates with the in-memory `cloud.nearby` index,
then reads the live state of just those candidates in one SELECT on the driver's cursor
(registry fields are held in the index snapshot), reduces each row to a `Digest` (kept a
second by `LiveStates`) and judges liveness and opening hours nearest first, stopping at
`limit`; it returns plain dicts the API serialises once.
`nearby_indexed` is the same as `NearbyStation` models, and `nearby` does it from an indexed
lat/lon box in SQL alone: the reference the index is tested against.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Dialect, Engine, bindparam, or_
from sqlalchemy import select as select_core
from sqlmodel import Session, col, select

from cloud import geo
from cloud.hours import COORD_DECIMALS, LOCAL_TERMS, HoursState
from cloud.liveness import (
    NEVER_HEARD,
    ONE_US,
    Digest,
    Digester,
    LivenessPolicy,
    digester_for,
    epoch_us,
)
from cloud.models import Station, StationPublic, StationState, table
from cloud.nearby import RegistryRow, Snapshot, amenity_mask
from cloud.opennow import Basis, assess, hours_at, verdict
from cloud.sight import SEEING, Sight

STATION = table(Station)
STATE = table(StationState)
# The live-state columns `cloud.liveness.Digester` reads, plus occupancy.
_STATE = select_core(
    STATE.c.station_id,
    STATE.c.status,
    STATE.c.status_at,
    STATE.c.last_heartbeat,
    STATE.c.heartbeat_interval_s,
    STATE.c.door,
    STATE.c.lock,
    STATE.c.alarm_level,
    STATE.c.occupancy,
).where(STATE.c.station_id.in_(bindparam("ids", expanding=True)))


EPOCH_NAIVE = datetime(1970, 1, 1)


def _micros(value: datetime | str | None) -> int | None:
    """A stored timestamp as epoch microseconds. SQLite hands back the text SQLAlchemy wrote
    (`2025-06-02 02:00:00.000000`, naive UTC, as `cloud.sqltypes.UTCDateTime` stores it):
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
        sid: digester(status, _alive_us(at, beat), interval, door, lock, level, occupancy)
        for sid, status, at, beat, interval, door, lock, level, occupancy in rows
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
    """Live-state digests (`cloud.liveness.Digest`) by station id, each reused for `ttl_s`
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
    """`cloud.hours.evaluate` results per (expression, zone, place), reused while they cannot
    have changed: from when computed until the next opening or closing. Most stations share
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


class NearbyStation(StationPublic):
    distance_m: float = Field(description="great-circle distance from the query point, metres")


class NearbyResponse(BaseModel):
    stations: list[NearbyStation]
    count: int


def _public_fields(
    station: Station,
    state: StationState | None,
    *,
    now: datetime,
    policy: LivenessPolicy,
    sight: Sight,
) -> dict[str, Any]:
    a = assess(station, state, now, policy, sight=sight)
    return station.model_dump() | {
        "open_now": a.open_now,
        "basis": a.basis.value,
        "reason": a.reason.value if a.reason is not None else None,
        "status": a.status.value,
        "closes_at": a.hours.closes_at,
        "opens_at": a.hours.opens_at,
        "occupancy": state.occupancy if state is not None else None,
    }


def station_public(
    station: Station,
    state: StationState | None,
    *,
    now: datetime,
    policy: LivenessPolicy,
    sight: Sight = SEEING,
) -> StationPublic:
    fields = _public_fields(station, state, now=now, policy=policy, sight=sight)
    return StationPublic.model_validate(fields)


def get_station(
    session: Session,
    *,
    station_id: str,
    now: datetime,
    policy: LivenessPolicy,
    sight: Sight = SEEING,
) -> StationPublic | None:
    station = session.get(Station, station_id)
    if station is None:
        return None
    state = session.get(StationState, station_id)
    return station_public(station, state, now=now, policy=policy, sight=sight)


# Stations whose distances fall in the same bucket of this many metres count as equally near:
# there the ones their agent confirms open (basis `live`) come first, then by distance. 50 m
# is about half a minute's walk, less than a phone's location error in a street of tall
# buildings: nobody is sent past a confirmed station to one merely scheduled to be open.
RANK_BUCKET_M = 50.0


def _rank_key(row: dict[str, Any]) -> tuple[int, bool]:
    """Sorting (stably) by this puts live-basis stations first within a distance bucket."""
    return int(row["distance_m"] // RANK_BUCKET_M), row["basis"] != _LIVE


def _ranked(found: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    found.sort(key=_rank_key)
    return found[:limit]


_LIVE = Basis.LIVE.value


# With `status=open`, candidates fetched per round = limit × this (more: fewer rounds when many
# nearby stations are closed; fewer: less work when most are open, the usual case).
OPEN_OVERFETCH = 2
GROWTH = 4  # the next round fetches this many times more candidates
# Candidates fetched past `limit` in the first round, so that the last one's distance bucket
# (`RANK_BUCKET_M`) is usually closed without a second round (a whole second round, 4× the
# candidates, doubled the search's CPU); a bucket still open is read on in steps of 4×this.
RANK_MARGIN = 4


def nearby_rows(
    conn: Engine | Connection | Session,
    snapshot: Snapshot,
    *,
    lat: float,
    lon: float,
    radius_m: float,
    now: datetime,
    policy: LivenessPolicy,
    limit: int = 20,
    only_open: bool = False,
    amenities: Collection[str] = (),
    live: LiveStates | None = None,
    sight: Sight = SEEING,
) -> list[dict[str, Any]]:
    """As `nearby`, ranked by the in-memory index, as dicts of the `NearbyStation` fields.
    Registry fields are the snapshot's (they may lag the registry by the index's refresh
    interval); live state is read now, or taken from `live` if given (then `conn` may be an
    Engine: a connection is opened only for rows not in `live`). Past `limit` stations, the
    search goes on through the last one's distance bucket (`RANK_BUCKET_M`), which may hold
    a live-basis station that ranks before it."""
    require = amenity_mask(amenities)
    wanted = set(amenities)
    now_us = epoch_us(now)
    k = (limit * OPEN_OVERFETCH if only_open else limit) + RANK_MARGIN
    seen: set[str] = set()
    found: list[dict[str, Any]] = []
    edge = -1  # the distance bucket of the limit-th station found, once there is one
    while True:
        candidates, hits = snapshot.nearest(
            lat, lon, radius_m=radius_m, k=k, require=require, only_open=only_open
        )
        # The index's own great-circle distances (from unit-vector chords; within 1e-8 m of
        # `geo.haversine_m`, which the reference `nearby` uses).
        fresh = [
            (reg, d)
            for reg, d in zip(candidates, hits.distances_m.tolist(), strict=True)
            if reg.id not in seen
        ]
        closed = False  # the limit-th station's bucket ends among these candidates
        if not only_open and edge < 0:
            fresh, closed = _through_bucket(fresh, limit - len(found), wanted, radius_m)
        fresh_ids = [reg.id for reg, _ in fresh]
        seen.update(fresh_ids)
        states: dict[str, Digest]
        if not fresh:
            states = {}
        elif live is not None:
            states = live.get(conn, fresh_ids, policy)
        else:
            states = read_digests(conn, fresh_ids, digester_for(policy))
        for reg, distance in fresh:
            if wanted and not wanted.issubset(reg.amenities):
                continue
            if distance > radius_m:
                continue
            distance = round(distance, 1)
            if edge >= 0 and distance // RANK_BUCKET_M > edge:
                return _ranked(found, limit)
            state = states.get(reg.id, NEVER_HEARD)
            hours = HOURS.at(reg, now)
            is_open, basis, reason, status, _ = verdict(
                state, hours.open, reg.maintenance, now_us, sight
            )
            if only_open and not is_open:
                continue
            # The registry fields (StationPublic's, from the snapshot) and the live ones in
            # one literal, in NearbyStation's order (a test holds it to the model)
            found.append(
                {
                    "id": reg.id,
                    "name": reg.name,
                    "lat": reg.lat,
                    "lon": reg.lon,
                    "amenities": list(reg.amenities),
                    "opening_hours": reg.opening_hours,
                    "operator": reg.operator,
                    "address": reg.address,
                    "city": reg.city,
                    "tz": reg.tz,
                    "capacity": reg.capacity,
                    "open_now": is_open,
                    "basis": basis,
                    "reason": reason,
                    "status": status,
                    "closes_at": hours.closes_at,
                    "opens_at": hours.opens_at,
                    "occupancy": state.occupancy,
                    "distance_m": distance,
                }
            )
            if edge < 0 and len(found) >= limit:
                edge = int(distance // RANK_BUCKET_M)
        if closed or hits.exhausted or len(candidates) < k:
            return _ranked(found, limit)
        k = k + 4 * RANK_MARGIN if edge >= 0 else k * GROWTH


def _through_bucket(
    fresh: list[tuple[RegistryRow, float]], need: int, wanted: set[str], radius_m: float
) -> tuple[list[tuple[RegistryRow, float]], bool]:
    """Without the open filter every candidate that passes the amenity and radius checks is
    listed, so where the `need`-th one's distance bucket ends is known before any live state
    is read: only the candidates up to there are worth reading. (The candidates, and whether
    one beyond that bucket was among them.)"""
    n = 0
    for i, (reg, distance) in enumerate(fresh):
        if distance > radius_m or (wanted and not wanted.issubset(reg.amenities)):
            continue
        n += 1
        if n < need:
            continue
        edge = round(distance, 1) // RANK_BUCKET_M
        for j in range(i + 1, len(fresh)):
            if round(fresh[j][1], 1) // RANK_BUCKET_M > edge:
                return fresh[:j], True
        return fresh, False
    return fresh, False


def nearby_indexed(
    session: Connection | Session,
    snapshot: Snapshot,
    *,
    lat: float,
    lon: float,
    radius_m: float,
    now: datetime,
    policy: LivenessPolicy,
    limit: int = 20,
    only_open: bool = False,
    amenities: Collection[str] = (),
    sight: Sight = SEEING,
) -> list[NearbyStation]:
    """`nearby_rows` as validated models."""
    return [
        NearbyStation.model_validate(fields)
        for fields in nearby_rows(
            session,
            snapshot,
            lat=lat,
            lon=lon,
            radius_m=radius_m,
            now=now,
            policy=policy,
            limit=limit,
            only_open=only_open,
            amenities=amenities,
            sight=sight,
        )
    ]


def nearby(
    session: Session,
    *,
    lat: float,
    lon: float,
    radius_m: float,
    now: datetime,
    policy: LivenessPolicy,
    limit: int = 20,
    only_open: bool = False,
    amenities: Collection[str] = (),
    sight: Sight = SEEING,
) -> list[NearbyStation]:
    """Stations within `radius_m` metres of (lat, lon), nearest first (ties by id), except
    that within a distance bucket (`RANK_BUCKET_M`) live-basis stations come first.

    `only_open` keeps stations open now (see `cloud.opennow`); `amenities` keeps stations
    that have every one listed.
    """
    box = geo.bbox(lat, lon, radius_m)
    query = (
        select(Station, StationState)
        .join(StationState, isouter=True)
        .where(col(Station.lat).between(box.min_lat, box.max_lat))
        .where(or_(*(col(Station.lon).between(lo, hi) for lo, hi in box.lon_ranges())))
    )
    if only_open:
        query = query.where(col(Station.maintenance).is_(False))
    wanted = set(amenities)
    candidates = []
    for station, state in session.exec(query):
        distance = geo.haversine_m(lat, lon, station.lat, station.lon)
        if distance <= radius_m and wanted.issubset(station.amenities):
            candidates.append((distance, station.id, station, state))
    candidates.sort(key=lambda c: (c[0], c[1]))
    found: list[dict[str, Any]] = []
    for distance, _id, station, state in candidates:
        view = station_public(station, state, now=now, policy=policy, sight=sight)
        if only_open and not view.open_now:
            continue
        found.append(view.model_dump() | {"distance_m": round(distance, 1)})
    return [NearbyStation.model_validate(row) for row in _ranked(found, limit)]
