"""The grid index ranks exactly as brute-force haversine does, at the poles and the
antimeridian too, and the finder built on it agrees with the SQL finder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.stations.geo import haversine_m
from cloud.stations.geoindex import GridIndex
from cloud.stations.index import AMENITY_BIT, MAINTENANCE_BIT, load_snapshot
from cloud.stations.liveness import LivenessPolicy
from protocol.registry import AMENITIES
from tests.support import nearby_reference

RNG = np.random.default_rng(7)
# 3,000 points: a tight cluster (Shanghai), a loose one, and points spread over the globe
LATS = np.concatenate(
    (RNG.normal(31.23, 0.02, 1000), RNG.normal(-33.9, 1.0, 1000), RNG.uniform(-90, 90, 1000))
)
LONS = np.concatenate(
    (RNG.normal(121.47, 0.02, 1000), RNG.normal(151.2, 1.0, 1000), RNG.uniform(-180, 180, 1000))
)
LATS = np.clip(LATS, -90, 90)
BITS = RNG.integers(0, 1 << len(AMENITIES), len(LATS)).astype(np.uint64)
INDEX = GridIndex.build(LATS, LONS, BITS)


def _expected(lat: float, lon: float, radius_m: float, k: int, require: int = 0) -> list[int]:
    d = np.array([haversine_m(lat, lon, a, b) for a, b in zip(LATS, LONS, strict=True)])
    ok = (d <= radius_m) & ((BITS & np.uint64(require)) == require)
    return sorted(np.flatnonzero(ok).tolist(), key=lambda i: (d[i], i))[:k]


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(1, 3_000_000),
    st.integers(1, 50),
    st.sampled_from([0, AMENITY_BIT["water"], AMENITY_BIT["toilet"] | AMENITY_BIT["water"]]),
)
def test_matches_brute_force_anywhere(
    lat: float, lon: float, radius_m: float, k: int, require: int
) -> None:
    hits = INDEX.nearest(lat, lon, radius_m=radius_m, k=k, require=require)
    assert hits.positions.tolist() == _expected(lat, lon, radius_m, k, require)
    for p, d in zip(hits.positions, hits.distances_m, strict=True):
        assert d == pytest.approx(haversine_m(lat, lon, LATS[p], LONS[p]), abs=1e-3)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(31.23, 121.47), (0.0, 179.999), (0.0, -179.999), (89.99, 0.0), (-89.99, 45.0)],
)
def test_dense_city_antimeridian_and_poles(lat: float, lon: float) -> None:
    for radius in (50.0, 5_000.0, 2_000_000.0):
        hits = INDEX.nearest(lat, lon, radius_m=radius, k=20)
        assert hits.positions.tolist() == _expected(lat, lon, radius, 20)
        base = INDEX.brute_force(lat, lon, radius_m=radius, k=20)
        assert base.positions.tolist() == hits.positions.tolist()


def test_forbidden_bits_and_exhaustion() -> None:
    bits = np.array([MAINTENANCE_BIT, 0, 0], dtype=np.uint64)
    idx = GridIndex.build([10.0, 10.0, 10.001], [20.0, 20.0, 20.0], bits)
    hits = idx.nearest(10.0, 20.0, radius_m=1_000, k=5, forbid=MAINTENANCE_BIT)
    assert hits.positions.tolist() == [1, 2]
    assert hits.exhausted
    assert not idx.nearest(10.0, 20.0, radius_m=1_000, k=1).exhausted
    empty = GridIndex.build([], [])
    assert empty.nearest(0, 0, radius_m=1_000, k=3).positions.tolist() == []


def test_indexed_finder_agrees_with_the_sql_finder(
    engine: Engine,
    add_station: Callable[..., Any],
    set_state: Callable[..., Any],
    clock: Any,
) -> None:
    rng = np.random.default_rng(3)
    for i in range(150):
        sid = f"st-{i:03d}"
        add_station(
            sid,
            lat=31.23 + float(rng.normal(0, 0.02)),
            lon=121.47 + float(rng.normal(0, 0.02)),
            amenities=[a for a in AMENITIES[:3] if rng.random() < 0.5],
            opening_hours="24/7" if i % 3 else "Mo-Su 20:00-23:00",
            maintenance=i % 17 == 0,
        )
        if i % 4:
            set_state(
                sid,
                status="online",
                sess=1,
                status_at=clock.now - timedelta(hours=1),
                last_heartbeat=clock.now,
                heartbeat_interval_s=30.0,
                door="closed",
                lock="locked",
            )
    snap = load_snapshot(engine)
    policy = LivenessPolicy()
    with Session(engine) as s:
        for only_open in (False, True):
            for amenities in ((), ("water",), ("water", "fridge")):
                for radius, limit in ((500.0, 5), (2_000.0, 20), (10_000.0, 100)):
                    kw = dict(
                        lat=31.231,
                        lon=121.471,
                        radius_m=radius,
                        now=clock.now,
                        policy=policy,
                        limit=limit,
                        only_open=only_open,
                        amenities=amenities,
                    )
                    a = nearby_reference.nearby_indexed(s, snap, **kw)  # type: ignore[arg-type]
                    b = nearby_reference.nearby(s, **kw)  # type: ignore[arg-type]
                    assert [x.id for x in a] == [x.id for x in b]
                    assert [x.distance_m for x in a] == [x.distance_m for x in b]
                    assert all(x.open_now for x in a) or not only_open
