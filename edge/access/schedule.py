"""Door modes by schedule: free passage, members only, or closed, from `opening_hours` rules.

Stations staffed by day and unmanned at night, or inside a partner's premises with the
partner's hours, say so in the station config with OpenStreetMap `opening_hours` syntax.
They are evaluated by `protocol.hours`, the same function the cloud's map uses, with the
same inputs: the station's time zone, its coordinates (sun times) and the holiday calendar
the cloud sends in the desired config (`PH`, make-up working days). So the door and the map
agree, also offline. The first rule that is open wins: `free` hours, then `members` hours;
outside both the station is closed. `unknown` (a comment without a state, `|| "call
ahead"`) is not open, and a rule that fails to evaluate does not match: doubt can only make
the door stricter.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum

from protocol.holidays import NO_HOLIDAYS, HolidayCalendar
from protocol.hours import HoursError, State, check, state
from protocol.messages import EffectiveSchedule

log = logging.getLogger(__name__)


class DoorMode(StrEnum):
    FREE = "free"  # lock released: anyone may enter; scans are still decided and journaled
    MEMBERS = "members"  # a valid member code opens the door
    CLOSED = "closed"  # only staff (certificate flag STAFF) may enter


def check_hours(rule: str | None) -> None:
    """Raise ValueError naming the problem if `rule` (None or blank: no rule) is invalid."""
    if rule is not None and rule.strip():
        check(rule)


class DoorSchedule:
    """Which `DoorMode` applies at a given instant."""

    def __init__(
        self,
        *,
        free: str | None,
        members: str | None,
        timezone: str,
        coords: tuple[float, float] | None = None,
        calendar: HolidayCalendar = NO_HOLIDAYS,
    ) -> None:
        check_hours(free)
        check_hours(members)
        self.free = free if free and free.strip() else None
        self.members = members if members and members.strip() else None
        self.timezone = timezone
        self.coords = coords
        self.calendar = calendar

    def report(self) -> EffectiveSchedule | None:
        """The rules in force, for the station's `meta` (the cloud compares them with the
        registry's hours); None when no rule is set (members are admitted at any hour)."""
        if self.free is None and self.members is None:
            return None
        return EffectiveSchedule(members=self.members, free=self.free, timezone=self.timezone)

    def _open(self, rule: str | None, when: datetime) -> bool:
        if rule is None:
            return False
        try:
            now, _comment = state(
                rule, when, tz=self.timezone, coords=self.coords, calendar=self.calendar
            )
        except HoursError:  # a rule that cannot be evaluated must not break the door
            log.exception("opening_hours evaluation failed")
            return False
        return now is State.OPEN

    def mode_at(self, when: datetime) -> DoorMode:
        """The mode at the aware instant `when`."""
        if self._open(self.free, when):
            return DoorMode.FREE
        if self._open(self.members, when):
            return DoorMode.MEMBERS
        return DoorMode.CLOSED
