"""The per-process nearby index: registry coordinates in a `GridIndex`, rebuilt only when the
registry changes, with live state read from the database per query for the few candidates.

The registry version is `(count(*), max(updated_at))` of `station`, checked at most every
`refresh_s` seconds by whichever request notices; anything that edits a station must bump its
`updated_at` (the importer does). A rebuild happens under a lock while other requests keep
the previous snapshot, so a bulk import never blocks searches. Memory per station: ~120 bytes
(id string, unit vector, cell key, flag bits), ~25 MB at 200,000 stations.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Engine, func, select

from cloud.geoindex import GridIndex, Hits
from cloud.models import Station, table
from protocol.registry import AMENITIES

STATION = table(Station)
AMENITY_BIT = {name: 1 << i for i, name in enumerate(AMENITIES)}
MAINTENANCE_BIT = 1 << 63  # stations under maintenance, skipped by `status=open`
# Default seconds between registry version checks. Lower: imports show up sooner; higher:
# fewer `count(*)` scans (~10 ms on PostgreSQL at 200,000 stations).
REFRESH_S = 2.0
LOAD_CHUNK = 50_000  # rows fetched per round trip while loading the registry


def amenity_mask(names: Iterable[str]) -> int:
    """Bits of the named amenities; KeyError for an unknown one (the API validates first)."""
    mask = 0
    for name in names:
        mask |= AMENITY_BIT[name]
    return mask


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """One immutable registry version: its index, ids by position, and an ETag for it."""

    version: tuple[int, datetime | None]
    ids: list[str]
    grid: GridIndex

    @property
    def etag(self) -> str:
        count, updated = self.version
        digest = hashlib.sha256(f"{count}|{updated.isoformat() if updated else ''}".encode())
        return f'"{digest.hexdigest()[:20]}"'

    def nearest(
        self, lat: float, lon: float, *, radius_m: float, k: int, require: int, only_open: bool
    ) -> tuple[list[str], Hits]:
        hits = self.grid.nearest(
            lat,
            lon,
            radius_m=radius_m,
            k=k,
            require=require,
            forbid=MAINTENANCE_BIT if only_open else 0,
        )
        return [self.ids[int(p)] for p in hits.positions], hits


def registry_version(engine: Engine) -> tuple[int, datetime | None]:
    with engine.connect() as conn:
        row = conn.execute(select(func.count(), func.max(STATION.c.updated_at))).one()
    return int(row[0]), row[1]


def load_snapshot(engine: Engine) -> Snapshot:
    """Read the registry's coordinates and flags and index them (~1 s per 200,000 rows)."""
    version = registry_version(engine)
    ids: list[str] = []
    lats: list[float] = []
    lons: list[float] = []
    bits: list[int] = []
    query = select(
        STATION.c.id, STATION.c.lat, STATION.c.lon, STATION.c.amenities, STATION.c.maintenance
    ).order_by(STATION.c.id)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=LOAD_CHUNK).execute(query)
        for sid, lat, lon, amenities, maintenance in result:
            ids.append(sid)
            lats.append(lat)
            lons.append(lon)
            flag = MAINTENANCE_BIT if maintenance else 0
            for name in amenities or ():
                flag |= AMENITY_BIT.get(name, 0)
            bits.append(flag)
    grid = GridIndex.build(lats, lons, np.array(bits, dtype=np.uint64))
    return Snapshot(version=version, ids=ids, grid=grid)


class StationIndex:
    """The current snapshot, refreshed when the registry version changes."""

    def __init__(self, engine: Engine, *, refresh_s: float = REFRESH_S) -> None:
        self._engine = engine
        self._refresh_s = refresh_s
        self._snapshot: Snapshot | None = None
        self._checked = 0.0  # monotonic time of the last version check
        self._lock = threading.Lock()
        self.rebuilds = 0

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
            snap = load_snapshot(self._engine)
            self._snapshot = snap
            self.rebuilds += 1
        self._checked = time.monotonic()
        return snap
