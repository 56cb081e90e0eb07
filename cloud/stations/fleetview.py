"""Every registry station judged at one instant: what the GeoJSON map and the public status
page show (`open_now`, `basis`, `reason`, next opening/closing), by the one open-now rule.

The registry rows come from the nearby index's snapshot (`cloud.stations.index`), the live
state of the stations that have any (agents are a few percent of a city) in chunks of
`CHUNK` ids, the hours once per (expression, zone). A whole-fleet view cost 763 ms at
200,000 stations with 10,000 agents (benchmarks/fleet_view.py), so it is kept per process
for `FleetViews.ttl_s` seconds (default `VIEW_S`) and per registry snapshot: the map and the
status page are at most that old, and say when they were judged (`judged_at`) — except
across a maintenance window's start or end, where a view is judged again: a window from
14:00 takes the station off the map at 14:00.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Engine, select

from cloud.models import StationState, table
from cloud.stations.hours import LOCAL_TERMS, HoursState
from cloud.stations.index import RegistryRow, Snapshot
from cloud.stations.liveness import (
    NEVER_HEARD,
    Digest,
    LivenessPolicy,
    digester_for,
    epoch_us,
    from_epoch_us,
)
from cloud.stations.livestates import HOURS, read_digests
from cloud.stations.opennow import NO_WINDOWS, Verdict, Window, verdict, window_now
from cloud.stations.sight import Sight

STATE = table(StationState)
CHUNK = 500  # ids per live-state read (an IN list; PostgreSQL and SQLite both take it well)
VIEW_S = 30.0  # default seconds a whole-fleet view is reused
# Positions in a snapshot row (`RegistryRow` fields), read without building the tuple.
_ID, _HOURS, _TZ, _MAINTENANCE = (
    RegistryRow._fields.index(f) for f in ("id", "opening_hours", "tz", "maintenance")
)


class Judged(NamedTuple):
    """One station's public live fields."""

    open_now: bool
    basis: str
    reason: str | None
    status: str
    opens_at: datetime | None
    closes_at: datetime | None
    window: Window | None = None  # the maintenance window closing it, if any


@dataclass(frozen=True, slots=True)
class FleetView:
    """The snapshot's stations (by position, as `Snapshot.rows`) judged at `judged_at`."""

    snapshot: Snapshot
    judged_at: datetime
    blind: bool
    blindness: str | None  # `cloud.stations.sight.Blindness` value while blind
    judged: list[Judged]
    changes_at: datetime | None = None  # the next window start or end: judge again from then

    def rows(self) -> list[tuple[RegistryRow, Judged]]:
        return [
            (RegistryRow(*row), j) for row, j in zip(self.snapshot.rows, self.judged, strict=True)
        ]


def read_all_digests(engine: Engine, policy: LivenessPolicy) -> dict[str, Digest]:
    """Digests of every station that has live state."""
    with engine.connect() as conn:
        ids = [sid for (sid,) in conn.execute(select(STATE.c.station_id))]
        digester = digester_for(policy)
        found: dict[str, Digest] = {}
        for i in range(0, len(ids), CHUNK):
            found.update(read_digests(conn, ids[i : i + CHUNK], digester))
    return found


def judge_fleet(
    engine: Engine, snapshot: Snapshot, *, now: datetime, policy: LivenessPolicy, sight: Sight
) -> FleetView:
    states = read_all_digests(engine, policy)
    now_us = epoch_us(now)
    all_windows = snapshot.windows
    judged: list[Judged] = []
    # Hours that do not depend on the place (no PH/sunrise terms: nearly all) are evaluated
    # once per (expression, zone) for the whole fleet.
    same_everywhere: dict[tuple[str, str], HoursState] = {}
    for raw in snapshot.rows:
        key = (raw[_HOURS], raw[_TZ])
        hours = same_everywhere.get(key)
        if hours is None:
            hours = HOURS.at(RegistryRow(*raw), now)
            if LOCAL_TERMS.search(raw[_HOURS]) is None:
                same_everywhere[key] = hours
        windows = all_windows.get(raw[_ID], NO_WINDOWS) if all_windows else NO_WINDOWS
        window = window_now(windows, now_us) if windows else None
        maintenance = raw[_MAINTENANCE] or window is not None
        v: Verdict = verdict(
            states.get(raw[_ID], NEVER_HEARD), hours.open, maintenance, now_us, sight
        )
        judged.append(
            Judged(v.open_now, v.basis, v.reason, v.status, hours.opens_at, hours.closes_at, window)
        )
    blindness = sight.reason.value if sight.blind and sight.reason is not None else None
    change = snapshot.next_change_us(now_us)
    changes_at = from_epoch_us(change) if change is not None else None
    return FleetView(snapshot, now, sight.blind, blindness, judged, changes_at)


class FleetViews:
    """The last fleet view of this process, reused for `ttl_s` seconds of the clock and while
    the registry snapshot is the same one."""

    def __init__(self, ttl_s: float = VIEW_S) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._view: FleetView | None = None

    def get(self, snapshot: Snapshot, now: datetime, make: Callable[[], FleetView]) -> FleetView:
        with self._lock:
            view = self._view
            fresh = (
                view is not None
                and view.snapshot is snapshot
                and 0 <= (now - view.judged_at).total_seconds() < self.ttl_s
                and (view.changes_at is None or now < view.changes_at)
            )
            if not fresh:
                view = self._view = make()
            assert view is not None
            return view
