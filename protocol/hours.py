"""The one evaluation of OSM opening_hours that both the map (cloud) and the door (edge) use.

Given the expression, the station's time zone, its coordinates and a holiday calendar (data:
`protocol.holidays.HolidayCalendar`), `evaluate` says at an aware instant: open, closed or
unknown, the comment, and the next change of state. Parsing and the calendar-free semantics
are opening-hours-py's (>= 2.0); four things are decided here, because the library gets them
wrong for stations in China:

- **Sun times.** The library computes sunrise/sunset only with `auto_timezone=True`; with it
  off it silently uses 07:00/19:00. It is on, and the station's own zone is still passed: an
  explicit zone wins over the one guessed from coordinates (pinned by a test).
- **PH comes from the calendar, not the library.** The library's own Chinese calendar misses
  Qingming, the lunar holidays and every 调休 day, and it takes no custom dates. So the library
  is built with no country (then `PH` never matches) and the calendar is applied by rewriting
  the expression *per local day*: on day D an occurrence of `PH` (or `PH +k days`) becomes the
  names of the weekdays, among D-1 and D, on which it is true ("Th" for a holiday Thursday),
  and stays `PH` (false) otherwise. Weekday names are something the library evaluates
  natively, in every position `PH` may stand (`PH off`, `Mo-Fr,PH 10:00-16:00`, `PH Su`), and
  D-1 is there so hours running past midnight out of a holiday eve are right. Each day's
  rewrite is only used for instants of that day; `next_change` walks day by day across days
  whose rewrite differs (between them the plain expression holds), so the answer is exact.
- **Make-up working days (调休上班日).** The State Council's "9月20日（周日）上班" makes a
  weekend day a working day. A weekend day the calendar lists as a working day is read **as a
  Monday** (the weekday names Monday and that day's own are swapped in that day's rewrite): a
  `Mo-Fr` station opens, a `Sa,Su` rule does not apply. Monday, because the notice names no
  weekday and Monday is the first working day; weekday entries with a week index (`Su[1]`)
  keep their calendar weekday, and hours running past midnight out of a make-up day follow its
  calendar weekday. A workday entry on a Monday-Friday changes nothing.
- **Comments.** A rule with a comment but no state keyword (`|| "call ahead"`,
  `Sa "by appointment"`) is `unknown`, as in the reference opening_hours.js and the OSM
  specification; the library would call it open, so `unknown` is written in before the
  comment. An explicit `open "staffed"` stays open.

How the states count is the caller's business; both callers here count only `open` as open:
`unknown` (a fallback comment, a rule the station did not decide) is never "open now" on the
map, and on the door it matches neither free nor members hours, so doubt makes it stricter.

One module on purpose (~410 lines): the `PH` rewrite, the make-up-day rule and the
evaluation must change together, or the door and the map drift apart again.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import opening_hours
from opening_hours import OpeningHours

from protocol.holidays import NO_HOLIDAYS, HolidayCalendar

# Changes further away than this are reported as None. The library recommends a bound for
# speed: without one an expression that never changes is searched up to the year 9999.
MAX_LOOKAHEAD_DAYS = 366
# Parsed expressions kept; an entry is a few hundred bytes. A day's rewrite is its own entry.
CACHE_SIZE = 16_384
COORD_DECIMALS = 2  # ≈1 km: sun times move < 1 s; neighbours share a cache entry
# A make-up working day is read as this weekday (0 = Monday); see the module docstring.
MAKEUP_AS = 0
# Library changes followed in one next_change search (each moves forward): a safety bound.
MAX_STEPS = 2_000

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_DAY = "(?:Mo|Tu|We|Th|Fr|Sa|Su)"
_QUOTED = re.compile(r'("[^"]*")')
_HOLIDAY = re.compile(r"\bPH(?:\s*([+-])\s*(\d+)\s*days?\b)?")
# `PH Su` (space) means the same as `PH,Su` to the library; the comma keeps a rewrite valid.
_HOLIDAY_SPACE_DAY = re.compile(rf"(\bPH(?:\s*[+-]\s*\d+\s*days?\b)?)\s+(?={_DAY}\b)")
_DAY_RANGE = re.compile(rf"\b({_DAY})\b(?:\s*-\s*({_DAY})\b)?(?!\s*\[)")
_STATE_WORD = re.compile(r"\b(?:open|closed|off|unknown)\s*$")
_SUN = re.compile(r"\b(?:sunrise|sunset|dawn|dusk)\b")


class HoursError(ValueError):
    """An opening_hours expression (or time zone) that cannot be evaluated."""


class State(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    UNKNOWN = "unknown"  # "may be open": a comment without a state, or `unknown`


_STATES = {
    opening_hours.State.OPEN: State.OPEN,
    opening_hours.State.CLOSED: State.CLOSED,
    opening_hours.State.UNKNOWN: State.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The hours at one instant. Times are aware, in the station's zone."""

    state: State
    comment: str  # "" when the rule has none
    next_change: datetime | None  # next change of `state`; None: none within a year
    next_state: State | None  # the state from `next_change` on

    @property
    def open(self) -> bool:
        return self.state is State.OPEN


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the per-day rewrite needs to know about an expression (parsed once)."""

    parts: tuple[str, ...]  # normalised text split on comments: even = code, odd = "comment"
    offsets: tuple[int, ...]  # the distinct day offsets of `PH` (0 for plain PH)
    weekdays: bool  # names a weekday: make-up working days matter
    sun: bool  # names a sun event: coordinates matter
    fallback: bool  # has a `||` fallback rule

    text: str  # the parts joined: the expression for a day with nothing special


def _short(message: str) -> str:
    """The parser's multi-line caret diagram reduced to position and expectation."""
    where = re.search(r"-->\s*(\d+:\d+)", message)
    expected = re.search(r"=\s*(expected .+)", message)
    if where and expected:
        return f"at {where.group(1)}: {expected.group(1).strip()}"
    return " ".join(message.split())


def zone(tz: str) -> ZoneInfo:
    """The IANA zone `tz`; HoursError if unknown."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HoursError(f"unknown time zone {tz!r}") from exc


@lru_cache(maxsize=CACHE_SIZE)
def _shape(expr: str) -> _Shape:
    parts = _QUOTED.split(expr)
    for i in range(1, len(parts), 2):  # a comment with no state word before it: unknown
        before, after = parts[i - 1], parts[i + 1]
        if not _STATE_WORD.search(before) and not after.lstrip().startswith(":"):
            parts[i - 1] = f"{before.rstrip()} unknown " if before.strip() else "unknown "
    code = parts[0::2]
    for i in range(0, len(parts), 2):
        parts[i] = _HOLIDAY_SPACE_DAY.sub(r"\1,", parts[i])
    offsets = {
        (-1 if m.group(1) == "-" else 1) * int(m.group(2) or 0)
        for piece in code
        for m in _HOLIDAY.finditer(piece)
    }
    return _Shape(
        parts=tuple(parts),
        text="".join(parts),
        offsets=tuple(sorted(offsets)),
        weekdays=any(_DAY_RANGE.search(p) for p in code),
        sun=any(_SUN.search(p) for p in code),
        fallback=any("||" in p for p in code),
    )


@lru_cache(maxsize=CACHE_SIZE)
def _fallback_parts(text: str) -> tuple[str, ...]:
    """`text` split on `||` outside comments, each part a valid expression of its own."""
    parts, current = [], ""
    for i, piece in enumerate(_QUOTED.split(text)):
        if i % 2:
            current += piece
            continue
        *done, current_tail = piece.split("||")
        for chunk in done:
            parts.append((current + chunk).strip())
            current = ""
        current += current_tail
    parts.append(current.strip())
    return tuple(p for p in parts if p)


@lru_cache(maxsize=CACHE_SIZE)
def _compile(text: str, tz: str, coords: tuple[float, float] | None) -> OpeningHours:
    try:
        return OpeningHours(
            text,
            timezone=zone(tz),  # the registry's zone wins over one guessed from coordinates
            coords=coords,
            country=None,  # PH comes from the calendar (module docstring)
            auto_country=False,
            auto_timezone=coords is not None,  # without it the library ignores the coordinates
            max_interval_days=MAX_LOOKAHEAD_DAYS,
        )
    except (opening_hours.InvalidCoordinatesError, opening_hours.UnknownCountryError):
        if coords is None:
            raise
        # A place the library cannot locate still has valid hours: evaluate them without
        # sun times rather than calling the station closed.
        return _compile(text, tz, None)
    except (opening_hours.ParserError, SyntaxError, ValueError) as exc:
        raise HoursError(_short(str(exc))) from exc


def _swap_days(code: str, day: int) -> str:
    """`code` with weekday names `day` and MAKEUP_AS exchanged (ranges spelt out first)."""
    swap = {day: MAKEUP_AS, MAKEUP_AS: day}

    def spell(m: re.Match[str]) -> str:
        first = DAYS.index(m.group(1))
        last = DAYS.index(m.group(2)) if m.group(2) else first
        span = [(first + i) % 7 for i in range((last - first) % 7 + 1)]
        return ",".join(DAYS[swap.get(d, d)] for d in span)

    return _DAY_RANGE.sub(spell, code)


# A day's rewrite: (weekday read as Monday or None, per PH offset the weekday names it is).
_Profile = tuple[int | None, tuple[frozenset[int], ...]]


def _profile(shape: _Shape, calendar: HolidayCalendar, day: date) -> _Profile | None:
    """How day `day` is rewritten; None when it is the plain expression."""
    makeup = None
    if shape.weekdays and day.weekday() >= 5 and day in calendar.workday_set:
        makeup = day.weekday()
    holidays = calendar.holiday_set
    truth = []
    for offset in shape.offsets:
        names = set()
        for d in (day - timedelta(days=1), day):
            if d - timedelta(days=offset) in holidays:
                names.add(MAKEUP_AS if makeup is not None and d == day else d.weekday())
        truth.append(frozenset(names))
    if makeup is None and not any(truth):
        return None
    return makeup, tuple(truth)


@lru_cache(maxsize=CACHE_SIZE)
def _rewrite(shape: _Shape, profile: _Profile) -> str:
    makeup, truth = profile
    by_offset = dict(zip(shape.offsets, truth, strict=True))
    out = list(shape.parts)

    def holiday(m: re.Match[str]) -> str:
        names = by_offset[(-1 if m.group(1) == "-" else 1) * int(m.group(2) or 0)]
        return ",".join(DAYS[d] for d in sorted(names)) if names else m.group(0)

    for i in range(0, len(out), 2):
        code = _swap_days(out[i], makeup) if makeup is not None else out[i]
        out[i] = _HOLIDAY.sub(holiday, code)
    return "".join(out)


@lru_cache(maxsize=256)
def _special_days(
    shape: _Shape, calendar: HolidayCalendar
) -> tuple[tuple[date, ...], frozenset[date]]:
    """The days whose rewrite differs from the plain expression: sorted, and as a set (most
    days are not special: one set lookup tells)."""
    days = {
        h + timedelta(days=offset + extra)
        for h in calendar.holidays
        for offset in shape.offsets
        for extra in (0, 1)
    }
    if shape.weekdays:
        days.update(d for d in calendar.workdays if d.weekday() >= 5)
    return tuple(sorted(days)), frozenset(days)


class _Hours:
    """One expression at one place with one calendar: state at an instant, next change."""

    def __init__(
        self,
        expr: str,
        tz: str,
        coords: tuple[float, float] | None,
        calendar: HolidayCalendar,
    ) -> None:
        check(expr)
        self.shape = _shape(expr)
        self.tz = tz
        self.zone = zone(tz)
        self.coords = coords if self.shape.sun else None  # shared cache entry otherwise
        self.calendar = calendar
        self.special, self._special_set = _special_days(self.shape, calendar)

    def _profile(self, day: date) -> _Profile | None:
        if day not in self._special_set:
            return None
        return _profile(self.shape, self.calendar, day)

    def _text(self, day: date) -> str:
        profile = self._profile(day)
        return self.shape.text if profile is None else _rewrite(self.shape, profile)

    def state(self, local: datetime) -> tuple[State, str]:
        state, comment = _compile(self._text(local.date()), self.tz, self.coords).state(local)
        return _STATES[state], comment

    def _candidate(self, text: str, cursor: datetime) -> datetime | None:
        """The library's next change after `cursor`, or an instant before it.

        With a fallback (`||`) the library's `next_change` is unreliable (it reports none at
        all for `Mo-Fr 08:00-18:00 || "call ahead"`), so each `||` part is asked on its own
        and the next midnight is added: the whole can only change where a part does or a
        day begins. The caller checks the state at every candidate.
        """
        if not self.shape.fallback:
            return _compile(text, self.tz, self.coords).next_change(cursor)
        found = [self._midnight(cursor.date() + timedelta(days=1))]
        for part in _fallback_parts(text):
            change = _compile(part, self.tz, self.coords).next_change(cursor)
            if change is not None:
                found.append(change)
        return min(found)

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone)

    def next_change(self, local: datetime, current: State) -> tuple[datetime, State] | None:
        """The first instant after `local` whose state is not `current`, within the bound."""
        limit = local + timedelta(days=MAX_LOOKAHEAD_DAYS)
        special = self.special
        cursor = local
        for _ in range(MAX_STEPS):
            day = cursor.date()
            if day not in self._special_set:  # plain until the next special day
                i = bisect_right(special, day)
                end = self._midnight(special[i]) if i < len(special) else None
            else:
                end = self._midnight(day + timedelta(days=1))
            change = self._candidate(self._text(day), cursor)
            if change is not None and (end is None or change < end):
                cursor = change
            elif end is None:
                return None
            else:
                cursor = end
            if cursor > limit:
                return None
            state, _ = self.state(cursor)
            if state is not current:
                return cursor, state
        return None


def state(
    expr: str,
    at: datetime,
    *,
    tz: str,
    coords: tuple[float, float] | None = None,
    calendar: HolidayCalendar = NO_HOLIDAYS,
) -> tuple[State, str]:
    """`evaluate` without the next change (the door asks every second; ~4x cheaper)."""
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    hours = _Hours(expr, tz, _rounded(coords), calendar)
    try:
        return hours.state(at.astimezone(hours.zone))
    except HoursError:
        raise
    except Exception as exc:  # the binding's own errors: never a traceback at the caller
        raise HoursError(f"cannot evaluate opening_hours {expr!r}: {exc}") from exc


def evaluate(
    expr: str,
    at: datetime,
    *,
    tz: str,
    coords: tuple[float, float] | None = None,
    calendar: HolidayCalendar = NO_HOLIDAYS,
) -> Evaluation:
    """The hours `expr` at the aware instant `at`, for a station in zone `tz` at `coords`
    (lat, lon; WGS-84 degrees) with public holidays and make-up days from `calendar`."""
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    hours = _Hours(expr, tz, _rounded(coords), calendar)
    local = at.astimezone(hours.zone)  # the library wants a ZoneInfo-aware time
    try:
        state, comment = hours.state(local)
        change = hours.next_change(local, state)
    except HoursError:
        raise
    except Exception as exc:  # the binding's own errors: never a traceback at the caller
        raise HoursError(f"cannot evaluate opening_hours {expr!r}: {exc}") from exc
    return Evaluation(
        state=state,
        comment=comment,
        next_change=change[0] if change else None,
        next_state=change[1] if change else None,
    )


def _rounded(coords: tuple[float, float] | None) -> tuple[float, float] | None:
    if coords is None:
        return None
    return (round(coords[0], COORD_DECIMALS), round(coords[1], COORD_DECIMALS))


def check(expr: str) -> None:
    """Raise HoursError with a one-line message if `expr` is not valid OSM opening_hours."""
    try:
        _compile(_shape(expr).text, "UTC", None)
    except HoursError as exc:
        raise HoursError(f"invalid opening_hours {expr!r}: {exc}") from exc
