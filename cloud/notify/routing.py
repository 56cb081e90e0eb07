"""Which channels an alarm goes to, when a channel may be disturbed, and how long to wait
before trying again: pure functions over plain values (no I/O), so every case is a unit test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SEVERITY_RANK = {"warning": 0, "critical": 1}


@dataclass(frozen=True, slots=True)
class Route:
    """A routing rule as the poller reads it. Empty tuples match everything."""

    id: int
    channel_id: int
    min_severity: str = "warning"
    rules: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()
    notify_clear: bool = True
    escalate_after_min: float | None = None
    escalate_channel_id: int | None = None

    @classmethod
    def of(cls, row: Any) -> Route:
        return cls(
            id=row.id,
            channel_id=row.channel_id,
            min_severity=row.min_severity,
            rules=tuple(row.rules or ()),
            cities=tuple(row.cities or ()),
            operators=tuple(row.operators or ()),
            stations=tuple(row.stations or ()),
            notify_clear=row.notify_clear,
            escalate_after_min=row.escalate_after_min,
            escalate_channel_id=row.escalate_channel_id,
        )


@dataclass(frozen=True, slots=True)
class AlarmFacts:
    """What routing looks at of an alarm and its station (None: the cloud's own alarm)."""

    rule: str
    severity: str
    station_id: str | None = None
    city: str = ""
    operator: str = ""


def matches(route: Route, alarm: AlarmFacts) -> bool:
    """The alarm is at least the route's severity and passes every non-empty filter. A cloud
    alarm (no station) passes only routes with no station, city or operator filter."""
    if SEVERITY_RANK.get(alarm.severity, 0) < SEVERITY_RANK.get(route.min_severity, 0):
        return False
    if route.rules and alarm.rule not in route.rules:
        return False
    if route.stations and alarm.station_id not in route.stations:
        return False
    if route.cities and alarm.city not in route.cities:
        return False
    return not (route.operators and alarm.operator not in route.operators)


def channels_for(routes: list[Route], alarm: AlarmFacts, *, clear: bool) -> set[int]:
    """The channels one raise (or clear) goes to: each once, however many routes lead there."""
    return {r.channel_id for r in routes if matches(r, alarm) and (r.notify_clear or not clear)}


@dataclass(frozen=True, slots=True)
class Quiet:
    """A channel's quiet hours: from `start` to `end` local time (crossing midnight when
    `end` <= `start`); critical alarms pass when `bypass_critical`."""

    tz: str
    start: str | None = None
    end: str | None = None
    bypass_critical: bool = True


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def parse_hhmm(value: str) -> str:
    """`value` checked as HH:MM (00:00–23:59); raises ValueError."""
    parsed = _hhmm(value)
    return parsed.strftime("%H:%M")


def quiet_until(quiet: Quiet, now: datetime, severity: str) -> datetime | None:
    """When the quiet period `now` falls in ends (aware, in `now`'s zone); None if the
    channel may be disturbed now (no quiet hours, outside them, or a critical bypass)."""
    if not quiet.start or not quiet.end or quiet.start == quiet.end:
        return None
    if severity == "critical" and quiet.bypass_critical:
        return None
    zone = ZoneInfo(quiet.tz)
    local = now.astimezone(zone)
    start, end = _hhmm(quiet.start), _hhmm(quiet.end)
    at = local.time()
    if start < end:
        inside = start <= at < end
        end_day = local.date()
    else:  # crosses midnight, e.g. 22:00–07:00
        inside = at >= start or at < end
        end_day = local.date() + timedelta(days=1) if at >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, zone).astimezone(now.tzinfo)


def digest_day(tz: str, hour: int, now: datetime) -> date | None:
    """The local day a digest is due for at `now`: today once its hour has come, else None."""
    local = now.astimezone(ZoneInfo(tz))
    return local.date() if local.hour >= hour else None


def backoff_s(
    attempts: int, base_s: float, cap_s: float, rng: random.Random | None = None
) -> float:
    """Seconds before try `attempts + 1`: exponential (base × 2^(attempts−1), at most `cap_s`)
    with equal jitter (half fixed, half random), so receivers that failed together are not
    hit again together."""
    ceiling = min(cap_s, base_s * 2 ** max(0, attempts - 1))
    draw = (rng or random).random()
    return ceiling / 2 + draw * ceiling / 2
