"""GCJ-02 transform against published reference points, and its inverse to < 0.1 m."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.stations.gcj02 import gcj02_to_wgs84, out_of_china, wgs84_to_gcj02
from cloud.stations.geo import haversine_m

# eviltransform's published vectors (wgs lat, lon → gcj lat, lon): Shanghai, Shenzhen, Beijing
VECTORS = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
]


@pytest.mark.parametrize(("wgs", "gcj"), VECTORS)
def test_reference_points(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)
    assert haversine_m(*gcj02_to_wgs84(*gcj), *wgs) < 0.1


@pytest.mark.parametrize("point", [(48.8566, 2.3522), (-33.87, 151.21), (40.71, -74.0)])
def test_outside_china_is_unchanged_both_ways(point: tuple[float, float]) -> None:
    assert out_of_china(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


@given(st.floats(18.2, 53.0), st.floats(74.0, 134.5))
def test_round_trip_within_a_tenth_of_a_metre(lat: float, lon: float) -> None:
    glat, glon = wgs84_to_gcj02(lat, lon)
    assert 10 < haversine_m(lat, lon, glat, glon) < 1_000  # the offset is real, and bounded
    assert haversine_m(*gcj02_to_wgs84(glat, glon), lat, lon) < 0.1
