"""Door modes by schedule: free passage, members only, or closed, from `opening_hours` rules.

Stations staffed by day and unmanned at night, or inside a partner's premises with the
partner's hours, say so in the station config with OpenStreetMap `opening_hours` syntax,
evaluated in the station's local time zone. The first rule that is open wins: `free` hours,
then `members` hours; outside both the station is closed. A rule that cannot be evaluated
(`unknown` state) does not match, so a typo can only make the door stricter.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

import opening_hours

log = logging.getLogger(__name__)


class DoorMode(StrEnum):
    FREE = "free"  # lock released: anyone may enter; scans are still decided and journaled
    MEMBERS = "members"  # a valid member code opens the door
    CLOSED = "closed"  # only staff (certificate flag STAFF) may enter


def parse_hours(rule: str | None) -> opening_hours.OpeningHours | None:
    """Parse an `opening_hours` rule; raises ValueError naming the problem."""
    if rule is None or not rule.strip():
        return None
    try:
        return opening_hours.OpeningHours(rule)
    except Exception as exc:  # the binding raises its own SyntaxError type
        raise ValueError(f"bad opening_hours {rule!r}: {exc}") from exc


class DoorSchedule:
    """Which `DoorMode` applies at a given instant."""

    def __init__(self, *, free: str | None, members: str | None, timezone: str) -> None:
        self.tz = ZoneInfo(timezone)
        self.free = parse_hours(free)
        self.members = parse_hours(members)

    @staticmethod
    def _open(rule: opening_hours.OpeningHours | None, local: datetime) -> bool:
        if rule is None:
            return False
        try:
            return bool(rule.is_open(local))
        except Exception:  # a rule the library cannot evaluate must not break the door
            log.exception("opening_hours evaluation failed")
            return False

    def mode_at(self, when: datetime) -> DoorMode:
        """The mode at the aware instant `when`."""
        local = when.astimezone(self.tz).replace(tzinfo=None)  # the library takes naive local
        if self._open(self.free, local):
            return DoorMode.FREE
        if self._open(self.members, local):
            return DoorMode.MEMBERS
        return DoorMode.CLOSED
