""" "Open now": the one rule, with the basis a worker can see and a reason when not open.

Every reader — the public API (nearby, station detail), the finder page through it, the ops
views and the monitor's health — calls `verdict` (or `assess`, which builds its inputs).

- basis `live`: the station's agent confirms it. Open = inside its opening hours, live
  (`online`, or `stale` within the open grace: `cloud.stations.liveness`), not `blocked` (not
  reporting `degraded`, door and lock not in fault, no alarm that blocks opening) and not in
  maintenance.
- basis `schedule`: the station has no agent (never heard from: most stations), or the cloud
  itself cannot see (`cloud.stations.sight`): open by its published opening hours only (and not in
  maintenance). While the cloud is blind, each station is judged as it was at the last moment
  the cloud could see: one that was up then is open by its hours (basis `schedule`), one that
  was already down stays down (basis `live`: its agent's last word).

Maintenance: the registry's own flag (`Station.maintenance`: immediate and open-ended, no
reason, no end) or a maintenance window active now (`window_now`: starts ≤ now < ends, the
windows themselves are `cloud.stations.maintenance`). A window counts from the instant it
starts: readers take the station's windows with the time they judge at, never a stored flag.

Reasons when not open, the first that applies: `maintenance` (the registry's flag or a window),
`station_down` (its agent is not live: lost, offline, or silent past the grace),
`station_fault` (live but cannot admit: degraded, door/lock fault, blocking alarm),
`reported_locked` (a worker reported the door locked, closed or broken and neither ops nor
the station's own door has disproved it: `cloud.feedback.locked`; on either basis),
`closed_by_hours`, `door_closed` (inside its published hours, but the station's own door
schedule has the door closed to members now: the door is what a worker meets; the
`schedule_mismatch` alarm tells ops the two disagree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from cloud.models import Station, StationState
from cloud.stations.hours import HoursError, HoursState, evaluate
from cloud.stations.liveness import (
    DEFAULT_POLICY,
    NEVER_HEARD,
    Digest,
    Health,
    LivenessPolicy,
    Status,
    digest,
    epoch_us,
    health,
    judge,
)
from cloud.stations.sight import SEEING, Sight


class Basis(StrEnum):
    LIVE = "live"
    SCHEDULE = "schedule"


class Reason(StrEnum):
    MAINTENANCE = "maintenance"
    STATION_DOWN = "station_down"
    STATION_FAULT = "station_fault"
    REPORTED_LOCKED = "reported_locked"
    CLOSED_BY_HOURS = "closed_by_hours"
    DOOR_CLOSED = "door_closed"


_LIVE, _SCHEDULE = Basis.LIVE.value, Basis.SCHEDULE.value
_MAINTENANCE, _DOWN = Reason.MAINTENANCE.value, Reason.STATION_DOWN.value
_FAULT, _HOURS = Reason.STATION_FAULT.value, Reason.CLOSED_BY_HOURS.value
_LOCKED, _DOOR = Reason.REPORTED_LOCKED.value, Reason.DOOR_CLOSED.value
_UNKNOWN = Status.UNKNOWN.value


class Verdict(NamedTuple):
    open_now: bool
    basis: str  # a `Basis` value
    reason: str | None  # a `Reason` value when not open
    status: str  # a `Status` value (as judged: at the blind moment while the cloud is blind)
    live: bool  # as judged with `status`; `cloud.stations.liveness.health` makes the health of it


def verdict(d: Digest, hours_open: bool, maintenance: bool, now_us: int, sight: Sight) -> Verdict:
    """The rule (see the module docstring); `now_us` is `epoch_us(now)`. ~0.6 µs: the nearby
    search calls it for every candidate."""
    at = min(now_us, sight.saw_until_us) if sight.blind and sight.saw_until_us else now_us
    status, live = judge(d, at, sight.heard_from_us)
    # While blind, a station that was up (health not `down`) when the cloud last saw it.
    schedule = d.fixed == _UNKNOWN or (sight.blind and live and not d.blocked)
    basis = _SCHEDULE if schedule else _LIVE
    if maintenance:
        return Verdict(False, basis, _MAINTENANCE, status, live)
    if not schedule:
        if not live:
            return Verdict(False, basis, _DOWN, status, live)
        if d.blocked:
            return Verdict(False, basis, _FAULT, status, live)
    if d.locked_us:
        return Verdict(False, basis, _LOCKED, status, live)
    if not hours_open:
        return Verdict(False, basis, _HOURS, status, live)
    if not schedule and d.door_closed:
        return Verdict(False, basis, _DOOR, status, live)
    return Verdict(True, basis, None, status, live)


class Window(NamedTuple):
    """A maintenance window as the rule reads it: epoch µs, `ends_us` None until ops end it;
    `reason` is shown to workers (`cloud.stations.maintenance` holds the table)."""

    id: int
    starts_us: int
    ends_us: int | None
    reason: str


# How far ahead a planned window is shown to workers (the finder's station page): a week's
# notice is enough to plan around, and longer lists read as noise. Microseconds.
NEXT_WINDOW_US = 7 * 86_400 * 1_000_000
NO_WINDOWS: tuple[Window, ...] = ()


def window_now(windows: Sequence[Window], now_us: int) -> Window | None:
    """The window holding the station in maintenance at `now_us` (starts ≤ now < ends), if any."""
    for w in windows:
        if w.starts_us <= now_us and (w.ends_us is None or now_us < w.ends_us):
            return w
    return None


def next_window(
    windows: Sequence[Window], now_us: int, within_us: int = NEXT_WINDOW_US
) -> Window | None:
    """The first window starting after `now_us` and within `within_us` of it, if any."""
    ahead = [w for w in windows if now_us < w.starts_us <= now_us + within_us]
    return min(ahead, key=lambda w: w.starts_us) if ahead else None


class Registered(Protocol):
    """What the rule reads of a station: a `Station` row or the index's registry row."""

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


@dataclass(frozen=True, slots=True)
class Assessment:
    """Everything the finder and ops show about a station at one instant."""

    status: Status
    open_now: bool
    basis: Basis
    reason: Reason | None
    hours: HoursState
    health: Health
    window: Window | None = None  # the maintenance window active now
    next_window: Window | None = None  # the next one planned within `NEXT_WINDOW_US`


def assess(
    station: Registered,
    state: StationState | Any | None,
    now: datetime,
    policy: LivenessPolicy = DEFAULT_POLICY,
    *,
    sight: Sight = SEEING,
    hours: HoursState | None = None,
    windows: Sequence[Window] = NO_WINDOWS,
) -> Assessment:
    """`verdict` of one station row and its live-state row (None: never heard from) and
    its maintenance `windows`. `hours` lets a caller that memoises `hours_at` (the finder)
    pass it in."""
    if hours is None:
        hours = hours_at(station, now)
    d = NEVER_HEARD if state is None else digest(state, policy)
    now_us = epoch_us(now)
    window = window_now(windows, now_us)
    v = verdict(d, hours.open, station.maintenance or window is not None, now_us, sight)
    reason = Reason(v.reason) if v.reason is not None else None
    h = health(d, v.status, v.live)
    basis = Basis(v.basis)
    upcoming = next_window(windows, now_us)
    return Assessment(Status(v.status), v.open_now, basis, reason, hours, h, window, upcoming)


def open_now(
    station: Station,
    state: StationState | None,
    now: datetime,
    policy: LivenessPolicy = DEFAULT_POLICY,
    *,
    sight: Sight = SEEING,
) -> bool:
    """See `assess`."""
    return assess(station, state, now, policy, sight=sight).open_now
