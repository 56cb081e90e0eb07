"""A public-holiday calendar as data: the days off (`PH` in opening_hours) and the make-up
working days (调休上班日) the State Council announces each November for the next year.

The cloud owns it (a bundled default per year, corrected by an admin: `cloud.stations.holidays`) and
sends it to stations inside their desired config (`holidays` key), so the map and the door
evaluate `PH` from the same dates, also while a station is offline. It is plain data here:
`protocol.hours` reads it, nobody in this package fetches it.

Wire and file form (`HolidayCalendar.model_dump(mode="json")`), dates in the station's local
calendar, ISO `YYYY-MM-DD`::

    {"holidays": ["2026-10-01", "2026-10-02", ...], "workdays": ["2026-09-20", "2026-10-10"]}

`holidays` are all the days of each 放假 period, weekend days inside it included (1-7 October
is seven days off, not the three statutory ones): what a person means by "closed on public
holidays". `workdays` are weekend days declared working days ("9月20日（周日）上班").
"""

from __future__ import annotations

from datetime import date
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, model_validator

# A calendar this long covers decades; the bound only keeps a hostile payload small
# (~13 bytes a date on the wire: 2,000 dates ≈ 26 kB).
MAX_DAYS = 2_000


class HolidayCalendar(BaseModel):
    """Days off and make-up working days; sorted, unique, disjoint (checked)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holidays: tuple[date, ...] = Field(
        default=(), max_length=MAX_DAYS, description="public-holiday days off (PH), local dates"
    )
    workdays: tuple[date, ...] = Field(
        default=(),
        max_length=MAX_DAYS,
        description="make-up working days (调休上班日): weekend days declared working days",
    )

    @model_validator(mode="after")
    def _tidy(self) -> HolidayCalendar:
        holidays, workdays = sorted(set(self.holidays)), sorted(set(self.workdays))
        if both := sorted(set(holidays) & set(workdays)):
            raise ValueError(f"{both[0].isoformat()} is both a holiday and a working day")
        object.__setattr__(self, "holidays", tuple(holidays))  # frozen: normalised once here
        object.__setattr__(self, "workdays", tuple(workdays))
        return self

    @cached_property
    def _hash(self) -> int:
        return hash((self.holidays, self.workdays))

    def __hash__(self) -> int:  # evaluations cache per calendar: hash its ~100 dates once
        return self._hash

    @cached_property
    def holiday_set(self) -> frozenset[date]:
        return frozenset(self.holidays)

    @cached_property
    def workday_set(self) -> frozenset[date]:
        return frozenset(self.workdays)

    @property
    def years(self) -> list[int]:
        """The years this calendar says anything about (a year with no entry is unknown)."""
        return sorted({d.year for d in (*self.holidays, *self.workdays)})

    def year(self, year: int) -> HolidayCalendar:
        """Only `year`'s entries."""
        return HolidayCalendar(
            holidays=tuple(d for d in self.holidays if d.year == year),
            workdays=tuple(d for d in self.workdays if d.year == year),
        )

    def replacing(self, other: HolidayCalendar, years: set[int] | None = None) -> HolidayCalendar:
        """This calendar with `years` (default: those `other` names) taken from `other`."""
        years = set(other.years) if years is None else years
        return HolidayCalendar(
            holidays=(*(d for d in self.holidays if d.year not in years), *other.holidays),
            workdays=(*(d for d in self.workdays if d.year not in years), *other.workdays),
        )


NO_HOLIDAYS = HolidayCalendar()
