"""The per-process nearby index: registry coordinates in a `GridIndex` and the registry rows
the API shows, rebuilt only when the registry changes; live state is read from the database
per query for the few candidates.

The registry version is `(count(*), max(updated_at))` of `station` and of
`maintenance_window`, checked at most every `refresh_s` seconds by whichever request notices;
anything that edits a station must bump its `updated_at` (the importer and
`cloud.stations.edit` do; retiring one does too, and the snapshot leaves retired stations
out). The snapshot also holds the stations' maintenance windows (`cloud.stations.maintenance`)
with their times: a window starts and ends at its own times without any edit, because readers
judge them at the time of their request. A rebuild happens under a lock while other requests keep
the previous snapshot, so a bulk import never blocks searches. Memory per station, measured:
~390 bytes in all (unit vector, cell key, flag bits, and the registry row with repeated
strings shared), 78 MB a process at 200,000 stations, ~0.8 GB at 2,000,000: the price of
reading only live state per query (reading the registry rows too cost ~0.5 ms of CPU per
search, a third of a request).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Engine, func, select

from cloud.background import BackgroundRead
from cloud.clock import Clock, utcnow
from cloud.models import Station, StationBase, table
from cloud.stations import maintenance
from cloud.stations.geoindex import GridIndex, Hits
from cloud.stations.opennow import Window
from protocol.registry import AMENITIES

log = logging.getLogger(__name__)
STATION = table(Station)
AMENITY_BIT = {name: 1 << i for i, name in enumerate(AMENITIES)}
MAINTENANCE_BIT = 1 << 63  # stations under maintenance, skipped by `status=open`
# One uint64 per station holds both: the vocabulary may grow to 63 amenities (bits 0–62).
if AMENITY_BIT and max(AMENITY_BIT.values()) >= MAINTENANCE_BIT:
    raise ValueError(f"{len(AMENITIES)} amenities do not fit beside the maintenance bit")
# Default seconds between registry version checks. Lower: imports show up sooner; higher:
# fewer `count(*)` scans (~10 ms on PostgreSQL at 200,000 stations).
REFRESH_S = 2.0
LOAD_CHUNK = 50_000  # rows fetched per round trip while loading the registry
# Windows that ended this long before a load are still loaded: a clock a little behind the
# loader's (another process's) still sees them end.
WINDOW_MARGIN = timedelta(days=1)
Version = tuple[Any, ...]  # `registry_version`
# Registry fields of the public view (StationPublic), in its order.
PUBLIC_FIELDS = ("id", *StationBase.model_fields)


class RegistryRow(NamedTuple):
    """A station's registry fields as the API shows them, plus what `cloud.stations.liveness.assess`
    reads of a `Station` (it takes this in place of one). The snapshot keeps each as a plain
    tuple of plain values, which the garbage collector stops tracking: 200,000 tracked objects
    made every full collection a ~100 ms pause in some search."""

    id: str
    name: str
    lat: float
    lon: float
    amenities: tuple[str, ...]
    opening_hours: str
    operator: str
    address: str
    city: str
    tz: str
    capacity: int | None
    maintenance: bool


def amenity_mask(names: Iterable[str]) -> int:
    """Bits of the named amenities; KeyError for an unknown one (the API validates first)."""
    mask = 0
    for name in names:
        mask |= AMENITY_BIT[name]
    return mask


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """One immutable registry version: its index, ids by position, and an ETag for it."""

    version: Version
    rows: list[tuple[Any, ...]]  # RegistryRow fields, by position as the index returns them
    grid: GridIndex
    # Maintenance windows not over when loaded, by station id, earliest first.
    windows: dict[str, tuple[Window, ...]] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        text = "|".join(v.isoformat() if isinstance(v, datetime) else str(v) for v in self.version)
        return f'"{hashlib.sha256(text.encode()).hexdigest()[:20]}"'

    def next_change_us(self, now_us: int) -> int | None:
        """The first window start or end after `now_us` (epoch µs), if any: a view judged at
        `now_us` is out of date from then."""
        times = [
            t
            for ws in self.windows.values()
            for w in ws
            for t in (w.starts_us, w.ends_us)
            if t is not None and t > now_us
        ]
        return min(times) if times else None

    def nearest(
        self, lat: float, lon: float, *, radius_m: float, k: int, require: int, only_open: bool
    ) -> tuple[list[RegistryRow], Hits]:
        hits = self.grid.nearest(
            lat,
            lon,
            radius_m=radius_m,
            k=k,
            require=require,
            forbid=MAINTENANCE_BIT if only_open else 0,
        )
        rows, make = self.rows, RegistryRow._make
        return [make(rows[p]) for p in hits.positions.tolist()], hits


def registry_version(engine: Engine) -> Version:
    """(stations, their newest `updated_at`, windows, their newest `updated_at`). Each a
    scalar subquery: so the newest `updated_at` comes from `ix_station_updated_at` (one
    look-up) — asked together with the count in one SELECT, SQLite scanned the registry for
    both (33 ms against 1.1 ms at 200,000 stations)."""
    windows, windows_at = maintenance.version_columns()
    count = select(func.count()).select_from(STATION).scalar_subquery()
    newest = select(func.max(STATION.c.updated_at)).scalar_subquery()
    with engine.connect() as conn:
        n, updated, n_windows, windows_updated = conn.execute(
            select(count, newest, windows, windows_at)
        ).one()
    return int(n), updated, int(n_windows), windows_updated


def load_snapshot(engine: Engine, now: datetime | None = None) -> Snapshot:
    """Read the registry and index it (~2 s per 200,000 rows), with the maintenance windows
    not over a day before `now` (the cloud clock's; default the wall clock)."""
    version = registry_version(engine)
    rows: list[tuple[Any, ...]] = []
    lats: list[float] = []
    lons: list[float] = []
    bits: list[int] = []
    shared: dict[Any, Any] = {}  # one copy of each repeated value (zones, hours, cities…)
    query = (
        select(*(STATION.c[name] for name in PUBLIC_FIELDS), STATION.c.maintenance)
        .where(STATION.c.retired_at.is_(None))  # retired: off the map (cloud.stations.edit)
        .order_by(STATION.c.id)
    )
    with engine.connect() as conn:
        windows = maintenance.load_windows(conn, (now or utcnow()) - WINDOW_MARGIN)
        result = conn.execution_options(stream_results=True, yield_per=LOAD_CHUNK).execute(query)
        for r in result:
            amenities = tuple(r.amenities or ())
            flag = MAINTENANCE_BIT if r.maintenance else 0
            for name in amenities:
                flag |= AMENITY_BIT.get(name, 0)
            rows.append(
                (
                    r.id,
                    r.name,
                    r.lat,
                    r.lon,
                    shared.setdefault(amenities, amenities),
                    shared.setdefault(r.opening_hours, r.opening_hours),
                    shared.setdefault(r.operator, r.operator),
                    shared.setdefault(r.address, r.address),
                    shared.setdefault(r.city, r.city),
                    shared.setdefault(r.tz, r.tz),
                    r.capacity,
                    bool(r.maintenance),
                )
            )
            lats.append(r.lat)
            lons.append(r.lon)
            bits.append(flag)
    grid = GridIndex.build(lats, lons, np.array(bits, dtype=np.uint64))
    return Snapshot(version=version, rows=rows, grid=grid, windows=windows)


class StationIndex:
    """The current snapshot, refreshed when the registry version changes."""

    def __init__(
        self, engine: Engine, *, refresh_s: float = REFRESH_S, clock: Clock = utcnow
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._refresh_s = refresh_s
        self._snapshot: Snapshot | None = None
        self._checked = 0.0  # monotonic time of the last version check
        self._lock = threading.Lock()
        self._background = BackgroundRead(self.current, "registry version check")
        self.rebuilds = 0

    @property
    def loaded(self) -> int | None:
        """Stations in the current snapshot; None before the first load (`/readyz`)."""
        snap = self._snapshot
        return None if snap is None else len(snap.rows)

    def snapshot_nowait(self) -> Snapshot | None:
        """The snapshot, never waiting for the database: when a version check is due it runs
        on a thread of its own (one at a time) while this and later callers keep the current
        snapshot. None before the first load, and always when `refresh_s` is 0 (then the
        caller checks on every request, synchronously, with `current`: what tests want).

        Why: on the event loop a due check sent every request of its ~30 ms (a count over
        200,000 rows on SQLite) through the thread pool, and each waited on the GIL: a
        ~60 ms stall every `refresh_s`, the whole p99 of the nearby search (measured)."""
        snap = self._snapshot
        if snap is None or self._refresh_s <= 0:
            return None
        if time.monotonic() - self._checked >= self._refresh_s:
            self._background.start()  # one at a time; none once closed
        return snap

    def close(self) -> None:
        """At shutdown, before the engine is disposed: no more background checks, and the
        one in flight has given its connection back (`cloud.background`)."""
        self._background.close()

    def current(self) -> Snapshot:
        """The snapshot to search; checks the registry version when it is due."""
        snap = self._snapshot
        if snap is not None and time.monotonic() - self._checked < self._refresh_s:
            return snap
        if snap is not None and not self._lock.acquire(blocking=False):
            return snap  # another request is checking or rebuilding: use what we have
        if snap is None:
            self._lock.acquire()
        try:
            return self._refresh()
        finally:
            self._lock.release()

    def _refresh(self) -> Snapshot:
        snap = self._snapshot
        if snap is None or registry_version(self._engine) != snap.version:
            snap = load_snapshot(self._engine, self._clock())
            self._snapshot = snap
            self.rebuilds += 1
        self._checked = time.monotonic()
        return snap
