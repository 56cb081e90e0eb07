"""Distances and search boxes on the WGS-84 sphere approximation, in metres and degrees.

The nearby search narrows candidates with an indexed lat/lon box in SQL, then measures the
exact great-circle distance in Python; the box must therefore contain the whole circle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Mean Earth radius (IUGG), metres. The spherical model errs by < 0.5 %, a few metres at the
# distances a worker walks or rides to a station.
EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class BBox:
    """A lat/lon box in degrees; `min_lon > max_lon` means it wraps the antimeridian."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    @property
    def wraps(self) -> bool:
        return self.min_lon > self.max_lon

    def lon_ranges(self) -> list[tuple[float, float]]:
        """One longitude range, or two when the box wraps ±180°."""
        if self.wraps:
            return [(self.min_lon, 180.0), (-180.0, self.max_lon)]
        return [(self.min_lon, self.max_lon)]

    def contains(self, lat: float, lon: float) -> bool:
        if not self.min_lat <= lat <= self.max_lat:
            return False
        return any(lo <= lon <= hi for lo, hi in self.lon_ranges())


def bbox(lat: float, lon: float, radius_m: float) -> BBox:
    """Smallest lat/lon box containing every point within `radius_m` metres of (lat, lon).

    Longitude half-width is asin(sin(r)/cos(lat)) (J. P. Matuschek, "Finding Points Within a
    Distance of a Latitude/Longitude"), not r/cos(lat), which is too narrow at high latitudes.
    Boxes that reach a pole span every longitude.
    """
    if radius_m < 0:
        raise ValueError("radius_m must be >= 0")
    r = radius_m / EARTH_RADIUS_M  # angular radius, radians
    dlat = math.degrees(r)
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90 or max_lat >= 90 or r >= math.pi / 2:
        return BBox(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)
    dlon = math.degrees(math.asin(min(1.0, math.sin(r) / math.cos(math.radians(lat)))))
    min_lon, max_lon = lon - dlon, lon + dlon
    if max_lon - min_lon >= 360:
        return BBox(min_lat, max_lat, -180.0, 180.0)
    if min_lon < -180:
        min_lon += 360
    if max_lon > 180:
        max_lon -= 360
    return BBox(min_lat, max_lat, min_lon, max_lon)
