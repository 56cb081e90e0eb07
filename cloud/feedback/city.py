"""The city a suggested station belongs to, so city-scoped ops accounts see it.

A suggestion is a point with a name: it has no operator/partner and no city of its own. It
takes the city of the nearest registered station within `CITY_RADIUS_M` of the point, fixed
when it is filed (a later registry change does not move it). None when no station with a
city is that close, or for suggestions filed before this rule: those are for union accounts
only, as are all suggestions for accounts scoped by operator/partner (a suggestion belongs
to no partner yet). The rule on who sees it is `cloud.auth.scope.Scope.allows_place`.
"""

from __future__ import annotations

from sqlalchemy import Connection, or_, select

from cloud.models import Station, table
from cloud.stations.geo import bbox, haversine_m

STATION = table(Station)
# 30 km: a Chinese prefecture-level city's built-up area; a point farther from every station
# is somewhere the registry knows nothing about, so no partner's city claims it.
CITY_RADIUS_M = 30_000.0


def city_near(conn: Connection, lat: float, lon: float) -> str | None:
    """The city of the registered station nearest (lat, lon) (WGS-84, degrees) within
    CITY_RADIUS_M, or None. One indexed box query, then exact distances in Python."""
    box = bbox(lat, lon, CITY_RADIUS_M)
    lon_ok = or_(*(STATION.c.lon.between(lo, hi) for lo, hi in box.lon_ranges()))
    rows = conn.execute(
        select(STATION.c.lat, STATION.c.lon, STATION.c.city).where(
            STATION.c.lat.between(box.min_lat, box.max_lat), lon_ok, STATION.c.city != ""
        )
    ).all()
    best: tuple[float, str] | None = None
    for s_lat, s_lon, city in rows:
        d = haversine_m(lat, lon, s_lat, s_lon)
        if d <= CITY_RADIUS_M and (best is None or d < best[0]):
            best = (d, city.strip())
    return best[1] if best else None
