"""Opening hours in OSM syntax (`24/7`, `Mo-Su 08:00-20:00; PH off`), evaluated with
opening-hours-py in the station's own time zone.

Parsed expressions are cached: a nearby search evaluates hundreds of stations that mostly
share a handful of expressions, and parsing costs far more than evaluating.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import opening_hours
from opening_hours import OpeningHours

# Changes further away than this are reported as "none" (None). The library's docs recommend a
# bound for speed: without one, an expression that never changes is searched up to year 9999.
MAX_LOOKAHEAD_DAYS = 366
# Parsed expressions kept; an entry is a few hundred bytes. Coordinates are part of the key
# (public holidays and sunrise depend on them), rounded so neighbours share an entry.
CACHE_SIZE = 16_384
COORD_DECIMALS = 2  # ≈1 km: far below anything sunrise or a holiday calendar can resolve
# Terms whose meaning depends on where the station is (holidays, sun times).
LOCAL_TERMS = re.compile(r"\b(PH|SH|sunrise|sunset|dawn|dusk)\b")


class HoursError(ValueError):
    """An opening_hours expression (or time zone) that cannot be evaluated."""


@dataclass(frozen=True, slots=True)
class HoursState:
    """Whether the hours say open at one instant, and the next change (aware UTC or None)."""

    open: bool
    unknown: bool = False
    closes_at: datetime | None = None
    opens_at: datetime | None = None


def _short(message: str) -> str:
    """The parser's multi-line caret diagram reduced to position and expectation."""
    where = re.search(r"-->\s*(\d+:\d+)", message)
    expected = re.search(r"=\s*(expected .+)", message)
    if where and expected:
        return f"at {where.group(1)}: {expected.group(1).strip()}"
    return " ".join(message.split())


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HoursError(f"unknown time zone {tz!r}") from exc


@lru_cache(maxsize=CACHE_SIZE)
def _compile(expr: str, tz: str, coords: tuple[float, float] | None) -> OpeningHours:
    zone = _zone(tz)
    try:
        return OpeningHours(
            expr,
            timezone=zone,
            coords=coords,
            auto_timezone=False,  # the registry's tz is the truth, not a guess from coordinates
            max_interval_days=MAX_LOOKAHEAD_DAYS,
        )
    except (opening_hours.InvalidCoordinatesError, opening_hours.UnknownCountryError):
        # A place the library cannot locate still has valid hours: evaluate them without
        # holidays and sun times rather than calling the station closed.
        return _compile(expr, tz, None)
    except (opening_hours.ParserError, SyntaxError, ValueError) as exc:
        raise HoursError(f"invalid opening_hours {expr!r}: {_short(str(exc))}") from exc


def compile_hours(expr: str, *, tz: str, coords: tuple[float, float] | None = None) -> OpeningHours:
    """Parsed (cached) expression; `coords` (lat, lon) pick the holiday calendar and sunrise.

    Expressions that name no holiday and no sun event do not depend on coordinates, so they
    share one cache entry: otherwise a nearby search over 20 stations in 20 different cells
    parsed 20 expressions (~45 µs each), the largest cost of a search.
    """
    if not coords or not LOCAL_TERMS.search(expr):
        return _compile(expr, tz, None)
    key = (round(coords[0], COORD_DECIMALS), round(coords[1], COORD_DECIMALS))
    return _compile(expr, tz, key)


def check(expr: str) -> None:
    """Raise HoursError with a one-line message if `expr` is not valid OSM opening_hours."""
    compile_hours(expr, tz="UTC")


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def evaluate(
    expr: str, *, tz: str, at: datetime, coords: tuple[float, float] | None = None
) -> HoursState:
    """Open/closed at `at` (aware) in zone `tz`, with the next closing or opening time.

    `unknown` (OSM's `unknown` state) counts as not open: the finder promises only stations
    that are really open.
    """
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    oh = compile_hours(expr, tz=tz, coords=coords)
    local = at.astimezone(_zone(tz))  # the library wants a ZoneInfo-aware time
    state, _comment = oh.state(local)
    change = oh.next_change(local)
    if state == opening_hours.State.OPEN:
        return HoursState(open=True, closes_at=_utc(change))
    opens = change if change is not None and oh.is_open(change) else None
    return HoursState(
        open=False, unknown=state == opening_hours.State.UNKNOWN, opens_at=_utc(opens)
    )
