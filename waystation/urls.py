"""The URLs `waystation demo` and `waystation cloud serve` print when they start.

Why a module: a printed URL is the first thing a newcomer tries, so each one must answer
(the demo once printed `/api/v1`, a 404). Tests fetch every URL these functions make.
"""

from __future__ import annotations

from urllib.parse import urlencode

NEARBY_RADIUS_M = 20_000  # wide enough to list a simulated city's stations from its centre


def base_url(host: str, port: int) -> str:
    """`http://host:port`, with a wildcard bind address replaced by loopback (which answers)
    and an IPv6 literal in brackets."""
    if host in ("", "0.0.0.0"):  # noqa: S104 (a bind address read, not bound)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def nearby_url(base: str, lat: float, lon: float) -> str:
    """The public nearby query around (lat, lon), WGS-84 degrees."""
    query = urlencode({"lat": lat, "lon": lon, "radius_m": NEARBY_RADIUS_M})
    return f"{base}/api/v1/stations/nearby?{query}"


def start_lines(base: str, point: tuple[float, float] | None) -> list[str]:
    """`Finder:`, `Nearby:` (when a point is known) and `API:` lines, aligned."""
    lines = [f"Finder: {base}/"]
    if point is not None:
        lines.append(f"Nearby: {nearby_url(base, *point)}")
    lines.append(f"API:    {base}/openapi.json  (the API's schema)")
    return lines
