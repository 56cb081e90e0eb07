"""The workers' station finder: nearest stations with what is true about them right now.

`nearby_rows` (what the API uses) ranks candidates with the in-memory `cloud.nearby` index,
then reads the live state of just those candidates in one Core SELECT (plain rows, no ORM
objects; registry fields are held in the index snapshot) and judges liveness and opening hours
nearest first, stopping at `limit`; it returns plain dicts the API serialises once.
`nearby_indexed` is the same as `NearbyStation` models, and `nearby` does it from an indexed
lat/lon box in SQL alone: the reference the index is tested against.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, bindparam, or_
from sqlalchemy import select as select_core
from sqlmodel import Session, col, select

from cloud import geo
from cloud.hours import COORD_DECIMALS, LOCAL_TERMS, HoursState
from cloud.liveness import LivenessPolicy, assess, hours_at
from cloud.models import Station, StationPublic, StationState, table
from cloud.nearby import RegistryRow, Snapshot, amenity_mask

STATION = table(Station)
STATE = table(StationState)
# The live-state columns `cloud.liveness.assess` reads, plus occupancy.
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
# Live-state rows kept at once; past this the cache starts over (entries are ~0.3 KB).
MAX_CACHED_ROWS = 200_000


class LiveStates:
    """Live-state rows by station id, each reused for `ttl_s` seconds after it was read.

    Under load many searches in one city share their candidates; re-reading the same rows
    many times a second buys nothing a rider can see (stations report every 30 s). A row is
    at most `ttl_s` old; liveness is still judged at the request's own `now`.
    """

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._rows: dict[str, tuple[float, Any]] = {}  # id → (expires, row or None)

    def get(self, conn: Connection | Session, ids: list[str]) -> dict[str, Any]:
        """Rows of `ids` that have live state; reads the missing or expired ones in one
        SELECT."""
        now = self._clock()
        rows = self._rows
        out: dict[str, Any] = {}
        missing: list[str] = []
        for sid in ids:
            hit = rows.get(sid)
            if hit is None or hit[0] <= now:
                missing.append(sid)
            elif hit[1] is not None:
                out[sid] = hit[1]
        if not missing:
            return out
        if len(rows) > MAX_CACHED_ROWS:
            rows.clear()  # mostly expired entries of stations nobody asks about any more
        expires = now + self.ttl_s
        for sid in missing:
            rows[sid] = (expires, None)  # no state row: never heard from
        for row in conn.execute(_STATE, {"ids": missing}):
            rows[row.station_id] = (expires, row)
            out[row.station_id] = row
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

    def at(self, station: RegistryRow, now: datetime) -> HoursState:
        expr = station.opening_hours
        place = (
            (round(station.lat, COORD_DECIMALS), round(station.lon, COORD_DECIMALS))
            if LOCAL_TERMS.search(expr)
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
    station: Station, state: StationState | None, *, now: datetime, policy: LivenessPolicy
) -> dict[str, Any]:
    a = assess(station, state, now, policy)
    return station.model_dump() | {
        "open_now": a.open_now,
        "status": a.status.value,
        "closes_at": a.hours.closes_at,
        "opens_at": a.hours.opens_at,
        "occupancy": state.occupancy if state is not None else None,
    }


def station_public(
    station: Station, state: StationState | None, *, now: datetime, policy: LivenessPolicy
) -> StationPublic:
    return StationPublic.model_validate(_public_fields(station, state, now=now, policy=policy))


def get_station(
    session: Session, *, station_id: str, now: datetime, policy: LivenessPolicy
) -> StationPublic | None:
    station = session.get(Station, station_id)
    if station is None:
        return None
    return station_public(station, session.get(StationState, station_id), now=now, policy=policy)


# With `status=open`, candidates fetched per round = limit × this (more: fewer rounds when many
# nearby stations are closed; fewer: less work when most are open, the usual case).
OPEN_OVERFETCH = 2
GROWTH = 4  # the next round fetches this many times more candidates


def nearby_rows(
    conn: Connection | Session,
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
) -> list[dict[str, Any]]:
    """As `nearby`, ranked by the in-memory index, as dicts of the `NearbyStation` fields.
    Registry fields are the snapshot's (they may lag the registry by the index's refresh
    interval); live state is read now, or taken from `live` if given."""
    require = amenity_mask(amenities)
    wanted = set(amenities)
    k = limit * OPEN_OVERFETCH if only_open else limit
    seen: set[str] = set()
    found: list[dict[str, Any]] = []
    while True:
        candidates, hits = snapshot.nearest(
            lat, lon, radius_m=radius_m, k=k, require=require, only_open=only_open
        )
        fresh = [reg for reg in candidates if reg.id not in seen]
        fresh_ids = [reg.id for reg in fresh]
        seen.update(fresh_ids)
        states: dict[str, Any]
        if not fresh:
            states = {}
        elif live is not None:
            states = live.get(conn, fresh_ids)
        else:
            states = {row.station_id: row for row in conn.execute(_STATE, {"ids": fresh_ids})}
        for reg in fresh:
            if not wanted.issubset(reg.amenities):
                continue
            distance = geo.haversine_m(lat, lon, reg.lat, reg.lon)
            if distance > radius_m:
                continue
            state = states.get(reg.id)
            a = assess(reg, state, now, policy, hours=HOURS.at(reg, now))
            if only_open and not a.open_now:
                continue
            fields = reg.public()
            fields.update(
                open_now=a.open_now,
                status=a.status.value,
                closes_at=a.hours.closes_at,
                opens_at=a.hours.opens_at,
                occupancy=state.occupancy if state is not None else None,
                distance_m=round(distance, 1),
            )
            found.append(fields)
            if len(found) >= limit:
                return found
        if hits.exhausted or len(candidates) < k:
            return found
        k *= GROWTH


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
) -> list[NearbyStation]:
    """Stations within `radius_m` metres of (lat, lon), nearest first (ties by id).

    `only_open` keeps stations open now (see `cloud.liveness.assess`); `amenities` keeps
    stations that have every one listed.
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
    found: list[NearbyStation] = []
    for distance, _id, station, state in candidates:
        view = station_public(station, state, now=now, policy=policy)
        if only_open and not view.open_now:
            continue
        found.append(
            NearbyStation.model_validate(view.model_dump() | {"distance_m": round(distance, 1)})
        )
        if len(found) >= limit:
            break
    return found
