"""WGS-84 ⇄ GCJ-02, the offset datum Chinese map apps (Amap, Tencent) draw in.

The forward transform is the standard public one (Krasovsky 1940 ellipsoid, the usual
polynomial offsets); outside the customary rough mainland box coordinates are unchanged. The
box is the common heuristic every public implementation uses: it also covers Taiwan, Hong
Kong, Macau and slivers of neighbouring countries, where Chinese map apps apply the offset too.
The inverse has no closed form; it is found by fixed-point iteration to well under 0.1 m.
Storage is always WGS-84; this module is used only at the edge of the API.
"""

from __future__ import annotations

import math

A = 6_378_245.0  # Krasovsky 1940 semi-major axis, metres
EE = 0.00669342162296594323  # its first eccentricity squared
# Inverse iteration stops when the forward image is this close to the target, degrees:
# 1e-9° ≈ 0.1 mm, far under the 0.1 m promised; it takes 3–5 rounds in practice.
INVERSE_TOLERANCE_DEG = 1e-9
INVERSE_MAX_ROUNDS = 30


def out_of_china(lat: float, lon: float) -> bool:
    return not (73.66 < lon < 135.05 and 3.86 < lat < 53.55)


def _dlat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _dlon(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """(lat, lon) in degrees, WGS-84 → GCJ-02; unchanged outside China."""
    if out_of_china(lat, lon):
        return lat, lon
    dlat = _dlat(lon - 105.0, lat - 35.0)
    dlon = _dlon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (A / sqrt_magic * math.cos(rad) * math.pi)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """(lat, lon) in degrees, GCJ-02 → WGS-84, accurate to < 0.1 m; unchanged outside China.

    Iterates w ← w − (f(w) − g): the offset varies by ~1e-5 per degree, so each round gains
    about five digits.
    """
    if out_of_china(lat, lon):
        return lat, lon
    wlat, wlon = lat, lon
    for _ in range(INVERSE_MAX_ROUNDS):
        glat, glon = wgs84_to_gcj02(wlat, wlon)
        elat, elon = glat - lat, glon - lon
        if abs(elat) < INVERSE_TOLERANCE_DEG and abs(elon) < INVERSE_TOLERANCE_DEG:
            break
        wlat, wlon = wlat - elat, wlon - elon
    return wlat, wlon
