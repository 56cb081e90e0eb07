"""What one monitor run reads of the fleet: each live-state row with what the rules compare
it to (the desired config's version, the registry's hours and zone), and which rows nothing
can change this run (`quiet`), so a run over 200,000 calm stations reads only the few that
are not."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from cloud.models import Station, StationState, table
from cloud.stations.desired_config import DESIRED
from cloud.stations.liveness import DIGEST_COLUMNS, LivenessPolicy, Status

STATE = table(StationState)
STATION = table(Station)

STATES = select(
    *DIGEST_COLUMNS,
    STATE.c.telemetry,
    STATE.c.history_status,
    STATE.c.health,
    STATE.c.refused,
    STATE.c.refused_at,
    STATE.c.refused_reason,
    STATE.c.skipped,
    STATE.c.gap_at,
    STATE.c.config_version,
    DESIRED.c.config_version.label("desired_version"),
    DESIRED.c.changed_at.label("desired_at"),
    STATE.c.meta,
    STATION.c.opening_hours.label("registry_hours"),
    STATION.c.tz.label("registry_tz"),
    STATION.c.retired_at,
).select_from(
    STATE.outerjoin(DESIRED, DESIRED.c.station_id == STATE.c.station_id).outerjoin(
        STATION, STATION.c.id == STATE.c.station_id
    )
)

# What the station reports in force (`meta.schedule`, protocol.messages.EffectiveSchedule).
_REPORTED_HOURS = STATE.c.meta[("schedule", "members")].as_string()
_REPORTED_ZONE = STATE.c.meta[("schedule", "timezone")].as_string()


def quiet(now: datetime, policy: LivenessPolicy, quiet_s: float) -> ColumnElement[bool]:
    """Stations nothing can change for this run (`quiet_s`: how long a refusal or seq gap
    keeps a station judged): reported online, heartbeat fresh even
    for the default interval, no reading near a threshold, no alarm, healthy. A station
    with a shorter interval than the default is never quiet (its deadline comes sooner)."""
    fresh = now - timedelta(seconds=policy.grace_intervals * policy.default_interval_s)
    interval = func.coalesce(STATE.c.heartbeat_interval_s, policy.default_interval_s)
    quiet_since = now - timedelta(seconds=quiet_s)  # no refusal or gap since
    # Never NULL (three-valued logic would leave a row out of both queries): nullable
    # columns are coalesced, and a NULL heartbeat fails `is_not` first.
    return and_(
        STATE.c.status == Status.ONLINE,
        func.coalesce(STATE.c.history_status, "") == Status.ONLINE,
        STATE.c.last_heartbeat.is_not(None),
        STATE.c.last_heartbeat >= fresh,
        interval >= policy.default_interval_s,
        STATE.c.attention.is_(False),
        STATE.c.alarm_level == "none",
        or_(STATE.c.refused_at.is_(None), STATE.c.refused_at < quiet_since),
        or_(STATE.c.gap_at.is_(None), STATE.c.gap_at < quiet_since),
        func.coalesce(STATE.c.health, "") == "ok",
        # no desired config ahead of the applied one (config_mismatch may be due)
        func.coalesce(DESIRED.c.config_version, -1) <= func.coalesce(STATE.c.config_version, -1),
        # the door's reported schedule, if any and if the cloud sent one, is the registry's
        # (schedule_mismatch)
        or_(
            _REPORTED_ZONE.is_(None),
            DESIRED.c.config_version.is_(None),
            and_(
                func.coalesce(_REPORTED_HOURS, "") == func.coalesce(STATION.c.opening_hours, ""),
                func.coalesce(STATION.c.tz, "") == _REPORTED_ZONE,
            ),
        ),
    )


def ahead(state: Any) -> bool:
    """A desired config newer than the one the station applied (on its way to it)."""
    desired, applied = state.desired_version, state.config_version
    return desired is not None and (applied is None or applied < desired)
