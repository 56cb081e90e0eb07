"""A station's effective status and health, as pure functions of its stored state and a clock.

A station reports `online`/`degraded` in its birth and heartbeats every `interval` seconds
(telemetry). The cloud judges by its own receive times:

- `online` (or `degraded`): the last report was online/degraded and the last sign of life
  (heartbeat, or the birth itself) is at most `grace_intervals × interval` old;
- `stale`: it was online/degraded but has gone quiet for longer. For `stale_open_grace_s`
  after turning stale it still counts as live: the door admits members without any network,
  so an uplink blip is far more likely than a closed station, and a map that flickers on
  every lost heartbeat is worse than one that is a few minutes late;
- `lost` (its LWT: the connection died) and `offline` (a clean stop): as reported;
- `unknown`: never heard from (most stations: they have no agent).

Silence only counts while the cloud could hear: when it has just regained sight after being
blind (`cloud.stations.sight`), a station's last sign of life counts as no older than that
moment, so a station is never judged dead for the cloud's own outage.

Health (`ok`/`degraded`/`down`) is what ops sort by: `down` when a worker could not get in
(not live, or `blocked`: reporting `degraded`, lock or door in fault, or an alarm that blocks
opening is raised), `degraded` when it works but something needs attention (stale, or any
other raised alarm), `ok` otherwise.

Everything is decided from a `Digest` (a state row reduced under one policy to integers), by
`judge`; `cloud.stations.opennow` turns that into "open now". The row-level helpers (`liveness`,
`digest`) build a digest and judge it, so there is one implementation of the rule.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from cloud.models import StationState, table

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


DEFAULT_POLICY = LivenessPolicy()


class _PolicySettings(Protocol):
    heartbeat_grace_intervals: float
    stale_open_grace_s: float


def policy_from(settings: _PolicySettings) -> LivenessPolicy:
    """The policy `cloud.settings.Settings` configures (API, monitor and demo share it)."""
    return LivenessPolicy(
        grace_intervals=settings.heartbeat_grace_intervals,
        stale_open_grace_s=settings.stale_open_grace_s,
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)


def epoch_us(at: datetime) -> int:
    """`at` (aware) as whole microseconds since the epoch: datetimes compare exactly so."""
    return (at - EPOCH) // ONE_US


def from_epoch_us(us: int) -> datetime:
    return EPOCH + us * ONE_US


_UNKNOWN, _LOST, _OFFLINE = Status.UNKNOWN.value, Status.LOST.value, Status.OFFLINE.value
_STALE, _ONLINE, _DEGRADED = Status.STALE.value, Status.ONLINE.value, Status.DEGRADED.value
_DOOR_CLOSED = "closed"  # protocol.messages.DoorMode: staff only, by the station's schedule


class Digest(NamedTuple):
    """A live-state row reduced, under one policy, to what `judge` needs: two integer
    comparisons per request instead of datetime arithmetic (the nearby search judges ~20
    stations a request). Times are epoch microseconds; statuses are `Status` values.

    Caches of many thousands keep `tuple(digest)` (see `cloud.stations.livestates.LiveStates`): the
    garbage collector stops tracking a plain tuple of plain values, never a NamedTuple."""

    fixed: str | None  # the status when it does not depend on the time, else None
    reported: str  # online or degraded: the status until `deadline_us`
    alive_us: int  # the last sign of life (0 when `fixed`)
    deadline_us: int  # when online turns stale
    grace_us: int  # until then a stale station still counts as live
    blocked: bool  # down even while live: reporting degraded, door/lock fault, blocking alarm
    warned: bool  # a non-blocking alarm is raised: health at best `degraded`
    occupancy: int | None  # as stored
    locked_us: int = 0  # a worker's standing report of a locked door (`cloud.feedback.locked`)
    door_closed: bool = False  # the station's own schedule has its door closed (staff only)


NEVER_HEARD = Digest(_UNKNOWN, _UNKNOWN, 0, 0, 0, True, False, None, 0)


def blocked(status: str | None, door: str | None, lock: str | None, level: str | None) -> bool:
    """The station runs but cannot admit members: it says so (`degraded`), its door or lock
    is in fault, or an alarm that blocks opening is raised (`alarm_level`, `cloud.alarms`)."""
    return (
        status == _DEGRADED
        or door in FAULT_STATES
        or lock in FAULT_STATES
        or (level or "none") == "blocking"
    )


# The live-state columns a digest is made from, in the order its readers select them
# (`cloud.stations.livestates` for searches, `cloud.alarms.monitor` for the fleet), each adding its
# own columns after these: one list, so a column the rule starts to need is read by both.
DIGEST_COLUMNS = tuple(
    table(StationState).c[name]
    for name in (
        "station_id",
        "status",
        "status_at",
        "last_heartbeat",
        "heartbeat_interval_s",
        "door",
        "lock",
        "alarm_level",
        "reported_locked_at",
        "door_mode",
    )
)


class Digester:
    """Digests under one policy, from plain values: the last sign of life (the later of
    `last_heartbeat` and `status_at`) and a worker's locked-door report in epoch
    microseconds. ~0.5 µs a row: no datetimes."""

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
        locked_us: int | None,
        occupancy: int | None,
        door_mode: str | None = None,
    ) -> Digest:
        level = alarm_level or "none"
        warned = level != "none"
        locked = locked_us or 0
        closed = door_mode == _DOOR_CLOSED
        if status in (None, "", _UNKNOWN):
            return Digest(_UNKNOWN, _UNKNOWN, 0, 0, 0, True, warned, occupancy, locked, closed)
        if status in (_LOST, _OFFLINE):
            return Digest(status, status, 0, 0, 0, True, warned, occupancy, locked, closed)
        if alive_us is None:  # a birth replayed from a retained message with no time: unproven
            return Digest(_STALE, _STALE, 0, 0, 0, True, warned, occupancy, locked, closed)
        span = self._span_us.get(heartbeat_interval_s)
        if span is None:
            interval = heartbeat_interval_s or self.policy.default_interval_s
            span = timedelta(seconds=self.policy.grace_intervals * interval) // ONE_US
            if len(self._span_us) > 1024:
                self._span_us.clear()
            self._span_us[heartbeat_interval_s] = span
        deadline = alive_us + span
        return Digest(
            None,
            _DEGRADED if status == _DEGRADED else _ONLINE,
            alive_us,
            deadline,
            deadline + self._stale_us,
            blocked(status, door, lock, level),
            warned,
            occupancy,
            locked,
            closed,
        )

    def of_row(self, state: StationState | Any | None) -> Digest:
        """A row with StationState's liveness columns (aware datetimes)."""
        if state is None:
            return NEVER_HEARD
        times = [t for t in (state.last_heartbeat, state.status_at) if t is not None]
        locked_at = getattr(state, "reported_locked_at", None)
        return self(
            state.status,
            epoch_us(max(times)) if times else None,
            state.heartbeat_interval_s,
            state.door,
            state.lock,
            getattr(state, "alarm_level", None),
            epoch_us(locked_at) if locked_at is not None else None,
            getattr(state, "occupancy", None),
            getattr(state, "door_mode", None),
        )


@functools.lru_cache(maxsize=8)
def digester_for(policy: LivenessPolicy) -> Digester:
    return Digester(policy)


def digest(state: StationState | Any | None, policy: LivenessPolicy) -> Digest:
    """`state` (a row with StationState's liveness columns, aware datetimes) for `judge`."""
    return digester_for(policy).of_row(state)


def judge(d: Digest, now_us: int, heard_from_us: int = 0) -> tuple[str, bool]:
    """(status, live) at `now_us`: live = online/degraded, or stale within the open grace.

    `heard_from_us` is when the cloud last regained sight (`cloud.stations.sight.Sight`; 0: it has
    not been blind): silence before it is not the station's, so its clocks start there."""
    fixed, reported, alive_us, deadline_us, grace_us = d[:5]
    if fixed is not None:
        return fixed, False
    if heard_from_us > alive_us:
        shift = heard_from_us - alive_us
        deadline_us += shift
        grace_us += shift
    if now_us <= deadline_us:
        return reported, True
    return _STALE, now_us <= grace_us


def health(d: Digest, status: str, live: bool) -> Health:
    """See the module docstring."""
    if not live or d.blocked:
        return Health.DOWN
    if status == _STALE or d.warned:
        return Health.DEGRADED
    return Health.OK


@dataclass(frozen=True, slots=True)
class Liveness:
    status: Status
    live: bool  # counts as reachable for "open now": online, or stale within the grace
    deadline: datetime | None = None  # when online turns (or turned) stale


def liveness(
    state: StationState | Any | None,
    now: datetime,
    policy: LivenessPolicy = LivenessPolicy(),
    *,
    heard_from: datetime | None = None,
) -> Liveness:
    """The effective status of a station at `now` (aware); `heard_from` as in `judge`."""
    d = digest(state, policy)
    heard_us = epoch_us(heard_from) if heard_from is not None else 0
    status, live = judge(d, epoch_us(now), heard_us)
    if d.fixed is not None:
        return Liveness(Status(status), live)
    shift = max(0, heard_us - d.alive_us)
    return Liveness(Status(status), live, from_epoch_us(d.deadline_us + shift))


def health_of(live: Liveness, state: StationState | Any | None, policy: LivenessPolicy) -> Health:
    """The health of `state` judged as `live`; `state.alarm_level` is kept by `cloud.alarms`."""
    return health(digest(state, policy), live.status.value, live.live)
