"""The heartbeat (`ws/v1/{sid}/telemetry`) built from the parts of a running station.

Every part is read on its own guard: a journal that cannot be queried, a relay that cannot
say its state or a sensor that lies costs that one field (None, or `fault`), never the whole
heartbeat — the heartbeat is what keeps the station on the map. Values are also kept inside
the contract's ranges here, because a payload that fails validation would be no heartbeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from edge import telemetry
from edge.access.timeguard import TimeGuard
from edge.access.verify import AccessVerifier
from edge.camera.stats import CameraStats
from edge.journal import Journal
from edge.ports import Relay
from edge.sensors import Sensor, read_all
from protocol.messages import (
    DoorMode,
    DoorState,
    EffectiveSchedule,
    LockState,
    TelemetryPayload,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# A Wi-Fi level outside this is not a dBm reading (old drivers print a relative 0..255 level).
WIFI_DBM_RANGE = (-150.0, -1.0)  # 0 and -256 are "no reading"


def _safe(fn: Callable[[], T], default: T) -> T:
    try:
        return fn()
    except Exception:
        log.exception("heartbeat: %s failed", getattr(fn, "__name__", fn))
        return default


@dataclass(slots=True)
class Parts:
    """What a heartbeat reads; the agent hands its own parts in (tests swap sensors)."""

    sid: str
    journal: Journal
    relay: Relay
    door_open: Callable[[], bool | None]
    verifier: AccessVerifier
    time_guard: TimeGuard
    camera: CameraStats
    sensors: Sequence[Sensor]
    data_dir: Path  # the journal's filesystem: its fullness is what matters
    occupancy: Callable[[], int | None] | None = None
    door_mode: Callable[[], DoorMode] | None = None  # by the schedule, at the station's time
    schedule: Callable[[], EffectiveSchedule | None] | None = None  # the rules in force (meta)


def lock_state(relay: Relay) -> LockState:
    try:
        return "unlocked" if relay.is_active else "locked"
    except Exception:
        return "fault"


def door_state(is_open: bool | None) -> DoorState:
    return "unknown" if is_open is None else ("open" if is_open else "closed")


def wifi_dbm() -> float | None:
    """The station's Wi-Fi level in dBm, None without Wi-Fi or when the driver has no dBm."""
    value = telemetry.wifi_dbm()
    low, high = WIFI_DBM_RANGE
    return value if value is not None and low <= value <= high else None


def build(
    parts: Parts,
    *,
    mono_now: float,
    uptime_s: float,
    interval_s: float,
    config_version: int | None,
) -> TelemetryPayload:
    """One heartbeat; `mono_now` is the station clock's monotonic time (the camera window)."""
    view = _safe(parts.time_guard.view, None)  # the clock judgement the door decides by
    now = parts.time_guard.best_now()
    camera = parts.camera.summary(mono_now)
    verifier = parts.verifier
    occupancy = _safe(parts.occupancy, None) if parts.occupancy is not None else None
    return TelemetryPayload(
        sid=parts.sid,
        ts=now,
        uptime_s=round(max(0.0, uptime_s), 1),
        interval_s=interval_s,
        config_version=config_version,
        journal_backlog=_safe(parts.journal.backlog, 0),
        door=door_state(_safe(parts.door_open, None)),
        lock=lock_state(parts.relay),
        occupancy=occupancy if occupancy is None or occupancy >= 0 else None,
        door_mode=None if parts.door_mode is None else _safe(parts.door_mode, None),
        trust_version=verifier.trust_version,
        revocation_version=verifier.revocation_version,
        trust_age_s=_safe(lambda: verifier.trust_age_s(now), None),
        revocation_age_s=_safe(lambda: verifier.revocation_age_s(now), None),
        clock_synced=None if view is None else view.synced,
        camera_fps=camera.fps,
        decode_ms_p50=camera.decode_ms_p50,
        decode_ms_p95=camera.decode_ms_p95,
        sensors=read_all(parts.sensors),
        cpu_temp_c=telemetry.cpu_temp_c(),
        load1=telemetry.load1(),
        mem_used_pct=telemetry.mem_used_pct(),
        disk_used_pct=telemetry.disk_used_pct(parts.data_dir),
        wifi_dbm=wifi_dbm(),
    )
