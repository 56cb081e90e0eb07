"""Plausibility: readings no sensor can produce and station clocks far ahead of ours.

A schema-valid heartbeat with one absurd value (a fridge probe reading −300 °C) is still a
heartbeat: dropping it whole would take a working station off the map for a broken probe.
So the absurd value is removed, the message is stored without it, and the original is kept
as a dead letter with the reason (`implausible`, `clock_ahead`) and counted. A footfall
interval that starts in the future has nothing left to store and is refused instead.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from protocol.messages import FootfallPayload, Payload
from protocol.messages import TelemetryPayload as Telemetry
from protocol.units import BOUNDS, bounds_of

# A station clock this far ahead of the cloud's is wrong, not early (NTP keeps a synced Pi
# within a second; the edge's own clock rule refuses to trust an unsynced one).
MAX_AHEAD = timedelta(minutes=10)
CPU_TEMP = BOUNDS["_c"]  # physical bounds per unit suffix: protocol.units


def _plausible(name: str, value: float) -> bool:
    if not math.isfinite(value):
        return False
    bound = bounds_of(name)
    return bound is None or bound[0] <= value <= bound[1]


def check(payload: Payload, received_at: datetime) -> tuple[Payload, list[tuple[str, str]]]:
    """The payload fit to store, and the notes (reason, detail) of what was changed.

    Raises ValueError (reason `clock_ahead`) when nothing trustworthy is left.
    """
    notes: list[tuple[str, str]] = []
    update: dict[str, object] = {}
    if payload.ts > received_at + MAX_AHEAD:
        notes.append(("clock_ahead", f"ts {payload.ts.isoformat()} replaced by receipt time"))
        update["ts"] = received_at
    if isinstance(payload, FootfallPayload) and payload.interval_start > received_at + MAX_AHEAD:
        raise ValueError(f"interval_start {payload.interval_start.isoformat()} is in the future")
    if isinstance(payload, Telemetry):
        bad = {k: v for k, v in payload.sensors.items() if not _plausible(k, v)}
        if bad:
            notes.append(("implausible", f"sensors dropped: {bad}"))
            update["sensors"] = {k: v for k, v in payload.sensors.items() if k not in bad}
        cpu = payload.cpu_temp_c
        if cpu is not None and not (math.isfinite(cpu) and CPU_TEMP[0] <= cpu <= CPU_TEMP[1]):
            notes.append(("implausible", f"cpu_temp_c {cpu} dropped"))
            update["cpu_temp_c"] = None
    if not update:
        return payload, notes
    return payload.model_copy(update=update), notes
