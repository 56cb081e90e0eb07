"""The alarm inbox: list with filters, newest first with a keyset cursor, and acknowledge.

Each alarm comes with what a person needs to read it at a glance: the station's name, city
and time zone (joined from the registry), when its condition first held (`since`, for "how
long") and the `metric` its value measures (e.g. `offline_s`: seconds without a connection),
so the dashboard can show "已离线 10 分钟" instead of a bare 600.633602.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import ColumnElement, Connection, Select, func, select, update

from cloud.alarms.models import CLEARED, PENDING, RAISED, Alarm
from cloud.alarms.rules import RULES, Threshold
from cloud.models import Station, table

ALARM = table(Alarm)
STATION = table(Station)


def select_views() -> Select:  # type: ignore[type-arg]
    """Alarm rows with the station fields an `AlarmView` carries (cloud alarms: None)."""
    return select(
        ALARM,
        STATION.c.name.label("station_name"),
        STATION.c.city.label("station_city"),
        STATION.c.tz.label("station_tz"),
    ).select_from(ALARM.outerjoin(STATION, STATION.c.id == ALARM.c.station_id))


StateFilter = Literal["raised", "cleared", "all"]


class AlarmView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    station_id: str | None  # None: an alarm about the cloud itself (`cloud_blind`)
    rule: str
    severity: str
    blocks_open: bool
    source: str
    state: str
    raised_at: datetime | None
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    value: float | None
    detail: str | None
    occurrences: int
    since: datetime | None = None  # the condition first held (before raised_at if it waited)
    station_name: str | None = None
    station_city: str | None = None
    station_tz: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def metric(self) -> str | None:
        """What `value` measures (a threshold rule's metric, e.g. `offline_s`, `fridge_c`);
        None for the station's own alarms, whose value means nothing on its own."""
        rule = RULES.get(self.rule)
        return rule.metric if isinstance(rule, Threshold) else None


class AlarmPage(BaseModel):
    items: list[AlarmView]
    next_before: int | None  # pass as `before` for the next page; None at the end


def listing(
    conn: Connection,
    *,
    state: StateFilter = "raised",
    unacknowledged: bool = False,
    station: str | None = None,
    rule: str | None = None,
    severity: str | None = None,
    city: str | None = None,
    before: int | None = None,
    limit: int = 100,
    within: ColumnElement[bool] | None = None,
) -> AlarmPage:
    """Alarms newest first (by id, so paging is stable while new ones arrive). Pending rows
    (a duration still running) are never shown; `within` (a condition on the alarm row,
    cloud.auth.scope) limits the list to some stations."""
    where = [ALARM.c.state != PENDING]
    if within is not None:
        where.append(within)
    if state != "all":
        where.append(ALARM.c.state == (RAISED if state == "raised" else CLEARED))
    if unacknowledged:
        where.append(ALARM.c.acknowledged_at.is_(None))
    if station:
        where.append(ALARM.c.station_id == station)
    if rule:
        where.append(ALARM.c.rule == rule)
    if severity:
        where.append(ALARM.c.severity == severity)
    if city:
        in_city = select(STATION.c.id).where(STATION.c.city == city)
        where.append(ALARM.c.station_id.in_(in_city))
    if before is not None:
        where.append(ALARM.c.id < before)
    rows = conn.execute(select_views().where(*where).order_by(ALARM.c.id.desc()).limit(limit + 1))
    items = [AlarmView.model_validate(r) for r in rows]
    more = len(items) > limit
    items = items[:limit]
    return AlarmPage(items=items, next_before=items[-1].id if more else None)


def get(conn: Connection, alarm_id: int) -> AlarmView | None:
    row = conn.execute(
        select_views().where(ALARM.c.id == alarm_id, ALARM.c.state != PENDING)
    ).first()
    return AlarmView.model_validate(row) if row is not None else None


def acknowledge(conn: Connection, alarm_id: int, by: str, now: datetime) -> AlarmView | None:
    """Mark seen by `by`; acknowledging twice keeps the first acknowledgement. None when there
    is no such (visible) alarm."""
    conn.execute(
        update(ALARM)
        .where(
            ALARM.c.id == alarm_id,
            ALARM.c.state != PENDING,
            ALARM.c.acknowledged_at.is_(None),
        )
        .values(acknowledged_at=now, acknowledged_by=by[:64], updated_at=now)
    )
    return get(conn, alarm_id)


def count_open(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).where(ALARM.c.state == RAISED)).scalar_one())
