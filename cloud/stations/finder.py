"""The workers' station finder: nearest stations with what is true about them right now.

`nearby_rows` (what the API uses) ranks candidates with the in-memory `cloud.stations.index` index,
then reads the live state of just those candidates in one SELECT on the driver's cursor
(registry fields are held in the index snapshot), reduces each row to a `Digest` (kept a
second by `LiveStates`, in `cloud.stations.livestates`) and judges liveness and opening
hours nearest first, stopping at `limit`; it returns plain dicts the API serialises once.
The reference it is tested and measured against (the same answer from an indexed lat/lon box
in SQL alone) lives with the tests: `tests/support/nearby_reference.py`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine
from sqlmodel import Session

from cloud.models import Station, StationState
from cloud.stations.index import RegistryRow, Snapshot, amenity_mask
from cloud.stations.liveness import (
    NEVER_HEARD,
    Digest,
    LivenessPolicy,
    digester_for,
    epoch_us,
    from_epoch_us,
)
from cloud.stations.livestates import HOURS, LiveStates, read_digests
from cloud.stations.maintenance import station_windows
from cloud.stations.opennow import (
    NO_WINDOWS,
    Basis,
    Reason,
    Window,
    assess,
    next_window,
    verdict,
    window_now,
)
from cloud.stations.public import StationPublic
from cloud.stations.sight import SEEING, Sight


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
    windows: tuple[Window, ...],
) -> dict[str, Any]:
    a = assess(station, state, now, policy, sight=sight, windows=windows)
    return station.model_dump() | {
        "open_now": a.open_now,
        "basis": a.basis.value,
        "reason": a.reason.value if a.reason is not None else None,
        "status": a.status.value,
        "closes_at": a.hours.closes_at,
        "opens_at": a.hours.opens_at,
        "occupancy": state.occupancy if state is not None else None,
        "reported_locked_at": state.reported_locked_at if state is not None else None,
        "maintenance_window": notice(a.window),
        "next_maintenance": notice(a.next_window),
    }


def notice(window: Window | None) -> dict[str, Any] | None:
    """A window as the public `MaintenanceNotice` fields."""
    if window is None:
        return None
    ends = from_epoch_us(window.ends_us) if window.ends_us is not None else None
    return {"starts_at": from_epoch_us(window.starts_us), "ends_at": ends, "reason": window.reason}


def station_public(
    station: Station,
    state: StationState | None,
    *,
    now: datetime,
    policy: LivenessPolicy,
    sight: Sight = SEEING,
    windows: tuple[Window, ...] = NO_WINDOWS,
) -> StationPublic:
    fields = _public_fields(station, state, now=now, policy=policy, sight=sight, windows=windows)
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
    windows = station_windows(session.connection(), station_id, now)
    return station_public(station, state, now=now, policy=policy, sight=sight, windows=windows)


# Stations whose distances fall in the same bucket of this many metres count as equally near:
# there the ones their agent confirms open (basis `live`) come first, then by distance. 50 m
# is about half a minute's walk, less than a phone's location error in a street of tall
# buildings: nobody is sent past a confirmed station to one merely scheduled to be open.
RANK_BUCKET_M = 50.0


def _rank_key(row: dict[str, Any]) -> tuple[int, bool]:
    """Sorting (stably) by this puts live-basis stations first within a distance bucket."""
    return int(row["distance_m"] // RANK_BUCKET_M), row["basis"] != _LIVE


def ranked(found: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    found.sort(key=_rank_key)
    return found[:limit]


_LIVE = Basis.LIVE.value
_LOCKED = Reason.REPORTED_LOCKED.value


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
    with_reported: bool = False,
) -> list[dict[str, Any]]:
    """As `nearby`, ranked by the in-memory index, as dicts of the `NearbyStation` fields.
    Registry fields are the snapshot's (they may lag the registry by the index's refresh
    interval); live state is read now, or taken from `live` if given (then `conn` may be an
    Engine: a connection is opened only for rows not in `live`). Past `limit` stations, the
    search goes on through the last one's distance bucket (`RANK_BUCKET_M`), which may hold
    a live-basis station that ranks before it. With `only_open`, `with_reported` also keeps
    the stations that only a worker's report keeps closed (reason `reported_locked`), so the
    finder can say why a station a worker knows is missing."""
    require = amenity_mask(amenities)
    wanted = set(amenities)
    now_us = epoch_us(now)
    k = (limit * OPEN_OVERFETCH if only_open else limit) + RANK_MARGIN
    all_windows = snapshot.windows
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
                return ranked(found, limit)
            state = states.get(reg.id, NEVER_HEARD)
            hours = HOURS.at(reg, now)
            windows = all_windows.get(reg.id, NO_WINDOWS) if all_windows else NO_WINDOWS
            window = window_now(windows, now_us) if windows else None
            is_open, basis, reason, status, _ = verdict(
                state, hours.open, reg.maintenance or window is not None, now_us, sight
            )
            if only_open and not is_open and not (with_reported and reason == _LOCKED):
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
                    "reported_locked_at": (
                        from_epoch_us(state.locked_us) if state.locked_us else None
                    ),
                    "maintenance_window": notice(window),
                    "next_maintenance": notice(next_window(windows, now_us)) if windows else None,
                    "distance_m": distance,
                }
            )
            if edge < 0 and len(found) >= limit:
                edge = int(distance // RANK_BUCKET_M)
        if closed or hits.exhausted or len(candidates) < k:
            return ranked(found, limit)
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
