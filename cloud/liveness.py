"""Effective station status and "open now", as pure functions of stored state and a clock.

A station reports `online`/`degraded` in its birth and heartbeats every `interval` seconds
(telemetry). The cloud judges by its own receive times:

- `online` (or `degraded`): the last report was online/degraded and the last sign of life
  (heartbeat, or the birth itself) is at most `grace_intervals × interval` old;
- `stale`: it was online/degraded but has gone quiet for longer. For `stale_open_grace_s`
  after turning stale it still counts as open: the door admits members without any network,
  so an uplink blip is far more likely than a closed station, and a map that flickers on
  every lost heartbeat is worse than one that is a few minutes late;
- `lost` (its LWT: the connection died) and `offline` (a clean stop): as reported;
- `unknown`: never heard from.

Health (`ok`/`degraded`/`down`) is what ops sort by: `down` when a worker could not get in
(not live, reporting `degraded`, lock or door in fault, or an alarm that blocks opening is
raised), `degraded` when it works but something needs attention (stale, or any other raised
alarm), `ok` otherwise. A `down` station is never "open now".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from cloud.hours import HoursError, HoursState, evaluate
from cloud.models import Station, StationState

DEFAULT_HEARTBEAT_S = 30.0  # protocol.messages.TelemetryPayload.interval_s default
FAULT_STATES = frozenset({"fault"})  # door/lock states that mean the mechanism is broken


class Health(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


class Status(StrEnum):
    ONLINE = "online"
    DEGRADED = "degraded"
    STALE = "stale"
    LOST = "lost"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class LivenessPolicy:
    """Seconds and multiples that decide when silence means trouble."""

    grace_intervals: float = 3
    stale_open_grace_s: float = 300
    default_interval_s: float = DEFAULT_HEARTBEAT_S


class _PolicySettings(Protocol):
    heartbeat_grace_intervals: float
    stale_open_grace_s: float


def policy_from(settings: _PolicySettings) -> LivenessPolicy:
    """The policy `cloud.settings.Settings` configures (API, monitor and demo share it)."""
    return LivenessPolicy(
        grace_intervals=settings.heartbeat_grace_intervals,
        stale_open_grace_s=settings.stale_open_grace_s,
    )


@dataclass(frozen=True, slots=True)
class Liveness:
    status: Status
    live: bool  # counts as reachable for "open now": online, or stale within the grace
    deadline: datetime | None = None  # when online turns (or turned) stale


def _last_alive(state: StationState) -> datetime | None:
    times = [t for t in (state.last_heartbeat, state.status_at) if t is not None]
    return max(times) if times else None


def liveness(
    state: StationState | None, now: datetime, policy: LivenessPolicy = LivenessPolicy()
) -> Liveness:
    """The effective status of a station at `now` (aware)."""
    if state is None or state.status in (None, "", Status.UNKNOWN):
        return Liveness(Status.UNKNOWN, live=False)
    if state.status == Status.LOST:
        return Liveness(Status.LOST, live=False)
    if state.status == Status.OFFLINE:
        return Liveness(Status.OFFLINE, live=False)
    reported = Status.DEGRADED if state.status == Status.DEGRADED else Status.ONLINE
    alive_at = _last_alive(state)
    if alive_at is None:  # a birth replayed from a retained message with no time: unproven
        return Liveness(Status.STALE, live=False)
    interval = state.heartbeat_interval_s or policy.default_interval_s
    deadline = alive_at + timedelta(seconds=policy.grace_intervals * interval)
    if now <= deadline:
        return Liveness(reported, live=True, deadline=deadline)
    within = now <= deadline + timedelta(seconds=policy.stale_open_grace_s)
    return Liveness(Status.STALE, live=within, deadline=deadline)


@dataclass(frozen=True, slots=True)
class Assessment:
    """Everything the finder and ops show about a station at one instant."""

    status: Status
    open_now: bool
    hours: HoursState
    health: Health


class Registered(Protocol):
    """What `assess` reads of a station: a `Station` row or the index's registry row."""

    opening_hours: str
    tz: str
    lat: float
    lon: float
    maintenance: bool


def hours_at(station: Registered, now: datetime) -> HoursState:
    """The station's opening hours at `now`; invalid stored hours count as closed rather
    than failing the whole search."""
    try:
        return evaluate(
            station.opening_hours, tz=station.tz, at=now, coords=(station.lat, station.lon)
        )
    except HoursError:
        return HoursState(open=False, unknown=True)


def health_of(live: Liveness, state: StationState | Any | None) -> Health:
    """See the module docstring; `state.alarm_level` is kept by `cloud.alarms`."""
    if state is None or not live.live:
        return Health.DOWN
    level = getattr(state, "alarm_level", None) or "none"
    if (
        state.status == Status.DEGRADED
        or state.door in FAULT_STATES
        or state.lock in FAULT_STATES
        or level == "blocking"
    ):
        return Health.DOWN
    if live.status == Status.STALE or level != "none":
        return Health.DEGRADED
    return Health.OK


def assess(
    station: Registered,
    state: StationState | Any | None,
    now: datetime,
    policy: LivenessPolicy = LivenessPolicy(),
    *,
    hours: HoursState | None = None,
) -> Assessment:
    """Open now = inside opening hours AND health is not `down` (live: online, or stale within
    grace; not reporting `degraded`; door and lock not in fault; no blocking alarm) AND not in
    maintenance.

    `hours` lets a caller that memoises `hours_at` (the finder) pass it in.
    """
    live = liveness(state, now, policy)
    if hours is None:
        hours = hours_at(station, now)
    health = health_of(live, state)
    is_open = hours.open and health is not Health.DOWN and not station.maintenance
    return Assessment(live.status, is_open, hours, health)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)


def epoch_us(at: datetime) -> int:
    """`at` (aware) as whole microseconds since the epoch: datetimes compare exactly so."""
    return (at - EPOCH) // ONE_US


# A live-state row reduced, under one policy, to what `judge` needs: the status and "not
# down" of `assess` become two integer comparisons per request instead of datetime arithmetic
# (the nearby search judges ~20 stations a request; ~0.1 ms of it was this). Fields:
#   fixed        the status when it does not depend on the time, else None
#   reported     online or degraded: the status until deadline_us
#   deadline_us  `Liveness.deadline` in epoch microseconds
#   grace_us     until then a stale station still counts as live
#   blocked      health is down even while live (degraded, door/lock fault, blocking alarm)
#   occupancy    as stored
# A plain tuple of plain values (statuses as `Status` values): the garbage collector stops
# tracking such a tuple (never a NamedTuple's), which matters in caches of many thousands.
Digest = tuple[str | None, str, int, int, bool, int | None]
OCCUPANCY = 5  # the index of occupancy in a Digest


_UNKNOWN, _LOST, _OFFLINE = Status.UNKNOWN.value, Status.LOST.value, Status.OFFLINE.value
_STALE, _ONLINE, _DEGRADED = Status.STALE.value, Status.ONLINE.value, Status.DEGRADED.value
NEVER_HEARD: Digest = (_UNKNOWN, _UNKNOWN, 0, 0, True, None)


def digest(state: StationState | Any | None, policy: LivenessPolicy) -> Digest:
    """`state` (a row with StationState's liveness columns, aware datetimes) for `judge`."""
    if state is None:
        return NEVER_HEARD
    occupancy = getattr(state, "occupancy", None)
    blocked = (
        state.status == Status.DEGRADED
        or state.door in FAULT_STATES
        or state.lock in FAULT_STATES
        or (getattr(state, "alarm_level", None) or "none") == "blocking"
    )
    fixed = liveness(state, EPOCH, policy)  # the time-independent cases come out the same
    if fixed.deadline is None:
        return (fixed.status.value, fixed.status.value, 0, 0, True, occupancy)
    deadline = fixed.deadline
    grace = deadline + timedelta(seconds=policy.stale_open_grace_s)
    reported = _DEGRADED if state.status == Status.DEGRADED else _ONLINE
    return (None, reported, epoch_us(deadline), epoch_us(grace), blocked, occupancy)


class Digester:
    """`digest` under one policy for rows given as plain values, the last sign of life (the
    later of `last_heartbeat` and `status_at`) in epoch microseconds: ~0.4 µs a row, no
    datetimes and no `Liveness` (`digest` of a StationState: ~7 µs). The finder makes ~20
    a request; tests hold it equal to `digest`."""

    def __init__(self, policy: LivenessPolicy) -> None:
        self.policy = policy
        self._stale_us = timedelta(seconds=policy.stale_open_grace_s) // ONE_US
        self._span_us: dict[float | None, int] = {}  # heartbeat interval → online span, µs

    def __call__(
        self,
        status: str | None,
        alive_us: int | None,
        heartbeat_interval_s: float | None,
        door: str | None,
        lock: str | None,
        alarm_level: str | None,
        occupancy: int | None,
    ) -> Digest:
        if status in (None, "", _UNKNOWN):
            return (_UNKNOWN, _UNKNOWN, 0, 0, True, occupancy)
        if status in (_LOST, _OFFLINE):
            return (status, status, 0, 0, True, occupancy)
        alive = alive_us  # the later of last_heartbeat and status_at
        if alive is None:  # a birth with no time: unproven
            return (_STALE, _STALE, 0, 0, True, occupancy)
        span = self._span_us.get(heartbeat_interval_s)
        if span is None:
            interval = heartbeat_interval_s or self.policy.default_interval_s
            span = timedelta(seconds=self.policy.grace_intervals * interval) // ONE_US
            if len(self._span_us) > 1024:
                self._span_us.clear()
            self._span_us[heartbeat_interval_s] = span
        degraded = status == _DEGRADED
        blocked = (
            degraded
            or door in FAULT_STATES
            or lock in FAULT_STATES
            or (alarm_level or "none") == "blocking"
        )
        deadline = alive + span
        reported = _DEGRADED if degraded else _ONLINE
        return (None, reported, deadline, deadline + self._stale_us, blocked, occupancy)


def judge(d: Digest, now_us: int) -> tuple[str, bool]:
    """(status, health is not down) at `now_us` (`epoch_us(now)`), exactly as `assess` says;
    open now = that and the hours say open and not in maintenance."""
    fixed, reported, deadline_us, grace_us, blocked, _ = d
    if fixed is not None:
        return fixed, False
    if now_us <= deadline_us:
        return reported, not blocked
    return _STALE, now_us <= grace_us and not blocked


def open_now(
    station: Station,
    state: StationState | None,
    now: datetime,
    policy: LivenessPolicy = LivenessPolicy(),
) -> bool:
    """See `assess`."""
    return assess(station, state, now, policy).open_now
