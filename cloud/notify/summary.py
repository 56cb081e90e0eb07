"""The daily digest of one scope: what happened to its stations' alarms in the last 24 hours.

A scope is all stations (the cloud's own alarms included), or the stations of one city
and/or one operator (partner). The figures are read when the digest is decided and stored
with its event, so a retried delivery says the same thing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from cloud.alarms.models import RAISED, Alarm
from cloud.models import Station, table
from cloud.notify.formats import RULES_ZH

ALARM = table(Alarm)
STATION = table(Station)
WINDOW = timedelta(hours=24)


def digest_facts(
    conn: Connection, *, name: str, city: str | None, operator: str | None, now: datetime
) -> dict[str, Any]:
    """Counts of the window `now − 24 h … now`: raised by severity, cleared, still open,
    open and unacknowledged, the busiest rules and stations."""
    start = now - WINDOW
    scoped = city is not None or operator is not None
    source = ALARM.outerjoin(STATION, STATION.c.id == ALARM.c.station_id)
    where = []
    if city:
        where.append(STATION.c.city == city)
    if operator:
        where.append(STATION.c.operator == operator)
    if scoped:
        where.append(ALARM.c.station_id.is_not(None))
    in_window = and_(ALARM.c.raised_at >= start, ALARM.c.raised_at < now, *where)

    def count(*conditions: Any) -> int:
        query = select(func.count()).select_from(source).where(*conditions)
        return int(conn.execute(query).scalar_one())

    critical = count(in_window, ALARM.c.severity == "critical")
    warning = count(in_window, ALARM.c.severity == "warning")
    cleared = count(ALARM.c.cleared_at >= start, ALARM.c.cleared_at < now, *where)
    open_now = count(ALARM.c.state == RAISED, *where)
    unacked = count(ALARM.c.state == RAISED, ALARM.c.acknowledged_at.is_(None), *where)
    top_rules = conn.execute(
        select(ALARM.c.rule, func.count().label("n"))
        .select_from(source)
        .where(in_window)
        .group_by(ALARM.c.rule)
        .order_by(func.count().desc(), ALARM.c.rule)
        .limit(5)
    ).all()
    top_stations = conn.execute(
        select(ALARM.c.station_id, STATION.c.name, func.count().label("n"))
        .select_from(source)
        .where(in_window, ALARM.c.station_id.is_not(None))
        .group_by(ALARM.c.station_id, STATION.c.name)
        .order_by(func.count().desc(), ALARM.c.station_id)
        .limit(5)
    ).all()
    scope = "、".join(x for x in (city, operator) if x) or "全部站点"
    lines = [
        f"范围：{scope}（过去 24 小时）",
        f"新告警：{critical + warning} 条（严重 {critical}，警告 {warning}）；已解除 {cleared} 条",
        f"仍未解除：{open_now} 条，其中未确认 {unacked} 条",
    ]
    if top_rules:
        lines.append(
            "最多的告警：" + "，".join(f"{RULES_ZH.get(r.rule, r.rule)} {r.n}" for r in top_rules)
        )
    if top_stations:
        lines.append(
            "最多告警的站点：" + "，".join(f"{s.name or s.station_id} {s.n}" for s in top_stations)
        )
    return {
        "title": f"{name}：{scope}",
        "lines": lines,
        "severity": "warning",
        "scope": {"city": city, "operator": operator},
        "window": [start.isoformat(), now.isoformat()],
        "raised": {"critical": critical, "warning": warning},
        "cleared": cleared,
        "open": open_now,
        "unacknowledged": unacked,
    }
