"""Physical bounds of a reading by the unit its name ends with (`fridge_c` °C, `disk_used_pct`
%: the naming rule of `edge.sensors`).

One table for everything that asks "could a sensor produce this number?": ingest drops a
reading outside it as implausible (`cloud.ingest.sanity`), and an alarm threshold set outside
it could never be reached or never be left (`cloud.alarms.thresholds`).
"""

from __future__ import annotations

BOUNDS: dict[str, tuple[float, float]] = {
    "_c": (-60.0, 150.0),  # °C: a Chinese winter night to a SoC at its throttle limit
    "_pct": (0.0, 100.0),
    "_kwh": (0.0, 1e7),
    "_dbm": (-120.0, 0.0),
}


def bounds_of(name: str) -> tuple[float, float] | None:
    """(low, high) for a reading called `name`, by its unit suffix; None: no known bound."""
    for suffix, bound in BOUNDS.items():
        if name.endswith(suffix):
            return bound
    return None
