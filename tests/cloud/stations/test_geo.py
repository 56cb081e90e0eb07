from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.stations.geo import EARTH_RADIUS_M, bbox, haversine_m


def destination(
    lat: float, lon: float, bearing_deg: float, distance_m: float
) -> tuple[float, float]:
    """The point `distance_m` away along `bearing_deg` on the sphere (degrees)."""
    phi, lmb, theta = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    d = distance_m / EARTH_RADIUS_M
    phi2 = math.asin(math.sin(phi) * math.cos(d) + math.cos(phi) * math.sin(d) * math.cos(theta))
    lmb2 = lmb + math.atan2(
        math.sin(theta) * math.sin(d) * math.cos(phi), math.cos(d) - math.sin(phi) * math.sin(phi2)
    )
    return math.degrees(phi2), (math.degrees(lmb2) + 540) % 360 - 180


def test_known_distances() -> None:
    assert haversine_m(31.0, 121.0, 31.0, 121.0) == 0
    # one degree of latitude is πR/180 ≈ 111.2 km
    assert haversine_m(0, 0, 1, 0) == pytest.approx(math.pi * EARTH_RADIUS_M / 180)
    # People's Square → the Bund, Shanghai: about 1.9 km
    assert haversine_m(31.2304, 121.4737, 31.2400, 121.4900) == pytest.approx(1_880, rel=0.05)


def test_distance_is_symmetric_across_the_antimeridian() -> None:
    assert haversine_m(0, 179.9, 0, -179.9) == pytest.approx(haversine_m(0, -0.1, 0, 0.1))


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(-85, 85),
    lon=st.floats(-180, 180),
    radius=st.floats(1, 50_000),
    bearing=st.floats(0, 360),
    fraction=st.floats(0, 1),
)
def test_box_contains_every_point_of_the_circle(
    lat: float, lon: float, radius: float, bearing: float, fraction: float
) -> None:
    box = bbox(lat, lon, radius)
    plat, plon = destination(lat, lon, bearing, radius * fraction * 0.999_999)
    assert box.contains(plat, plon)


def test_box_wraps_the_antimeridian() -> None:
    box = bbox(0, 179.99, 10_000)
    assert box.wraps
    assert box.lon_ranges() == [(box.min_lon, 180.0), (-180.0, box.max_lon)]
    assert box.contains(0, -179.99)


def test_box_reaching_a_pole_spans_all_longitudes() -> None:
    box = bbox(89.99, 10, 5_000)
    assert (box.min_lon, box.max_lon) == (-180.0, 180.0)
    assert box.max_lat == 90.0


def test_box_is_tight_enough_to_be_a_useful_prefilter() -> None:
    box = bbox(31.23, 121.47, 5_000)
    assert box.max_lat - box.min_lat == pytest.approx(2 * 5_000 / 111_195, rel=1e-3)
    assert box.max_lon - box.min_lon < 0.11  # ≈ 2 × 5 km / (111 km × cos 31°)
