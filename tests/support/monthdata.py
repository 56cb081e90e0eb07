"""A hand-built November 2026 (Asia/Shanghai) for the monthly report tests, with the figures
worked out by hand. The month runs 2026-10-31 16:00 UTC to 2026-11-30 16:00 UTC (720 h).

- `p1-24h` (partner 甲, 深圳): open 24/7, online since October, lost for exactly 3 hours on
  10 November (04:00–07:00 UTC): 717 of 720 hours open and live. At its door: 3 granted,
  2 `revoked`, 1 `expired` in November (and one `revoked` each just before and just after
  the month). Four alarms raised in November, acknowledged after 60, 120 and 600 s and one
  never; cleared after 300, 900 and 1,800 s and one not yet. Footfall: 10 in / 8 out — 5 / 4
  in the rolled hour at the month's start (before its first whole UTC day), 3 / 3 on
  5 November (the day roll-up, and the same hour in the hour roll-up: counted once), 2 / 1
  in a raw interval on the 29th (after the newest rolled hour, the 28th); 10 in the hour
  before the month (not counted).
- `p2-day` (partner 乙, 深圳): open Mo-Su 08:00-20:00 (360 h in November), offline from
  19:00 on 5 November to 09:00 on 6 November (local): 2 of its opening hours lost (358 h).
- `p1-none` (partner 甲, 广州): no agent ever reported: no live data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy import Engine, insert

from cloud.alarms.models import Alarm
from cloud.models import (
    Event,
    FootfallDay,
    FootfallHour,
    FootfallInterval,
    Station,
    StationState,
    StatusChange,
    table,
)

MONTH = "2026-11"
START = datetime(2026, 10, 31, 16, tzinfo=UTC)
END = datetime(2026, 11, 30, 16, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 3, tzinfo=UTC)
A, B, C = "p1-24h", "p2-day", "p1-none"
P1, P2 = "甲银行", "乙邮政"
SHANGHAI = timedelta(hours=8)


def local(day: int, hour: int) -> datetime:
    """November `day`, `hour`:00 in Shanghai, as UTC."""
    return datetime(2026, 11, day, hour, tzinfo=UTC) - SHANGHAI


def build(engine: Engine) -> None:
    stations = [
        (A, P1, "深圳", "24/7"),
        (B, P2, "深圳", "Mo-Su 08:00-20:00"),
        (C, P1, "广州", "24/7"),
    ]
    history = [
        (A, datetime(2026, 10, 20, tzinfo=UTC), "online"),
        (A, datetime(2026, 11, 10, 4, tzinfo=UTC), "lost"),
        (A, datetime(2026, 11, 10, 7, tzinfo=UTC), "online"),
        (B, datetime(2026, 10, 1, tzinfo=UTC), "online"),
        (B, local(5, 19), "offline"),
        (B, local(6, 9), "online"),
    ]
    doors = [
        (local(2, 10), True, "granted"),
        (local(3, 10), True, "granted"),
        (local(20, 23), True, "granted"),
        (local(4, 10), False, "revoked"),
        (local(5, 10), False, "revoked"),
        (local(6, 10), False, "expired"),
        (START - timedelta(minutes=1), False, "revoked"),
        (END, False, "revoked"),
    ]
    raised = [local(7, 12) + timedelta(days=i) for i in range(4)]
    acks = [60, 120, 600, None]
    clears = [300, 900, 1800, None]
    with engine.begin() as conn:
        for sid, operator, city, hours in stations:
            conn.execute(
                insert(table(Station)).values(
                    Station(
                        id=sid, name=f"站 {sid}", lat=22.54, lon=114.06, operator=operator,
                        city=city, opening_hours=hours,
                    ).model_dump()
                )
            )  # fmt: skip
            conn.execute(insert(table(StationState)).values(station_id=sid))
        for sid, at, status in history:
            conn.execute(
                insert(table(StatusChange)).values(
                    station_id=sid, at=at, status=status, source="report"
                )
            )
        for seq, (ts, granted, reason) in enumerate(doors, 1):
            conn.execute(
                insert(table(Event)).values(
                    station_id=A, event_id=uuid4(), seq=seq, type="access", ts=ts,
                    received_at=ts, granted=granted, reason=reason,
                )
            )  # fmt: skip
        for i, at in enumerate(raised):
            ack, clear = acks[i], clears[i]
            conn.execute(
                insert(table(Alarm)).values(
                    station_id=A, rule=f"rule_{i}", severity="warning", source="cloud",
                    state="raised" if clear is None else "cleared", since=at, raised_at=at,
                    acknowledged_at=None if ack is None else at + timedelta(seconds=ack),
                    cleared_at=None if clear is None else at + timedelta(seconds=clear),
                    updated_at=at,
                )
            )  # fmt: skip
        hours = (
            (START - timedelta(hours=1), 10, 10),  # October: not counted
            (START, 5, 4),  # the ragged start before the first whole UTC day
            (datetime(2026, 11, 5, 3, tzinfo=UTC), 3, 3),  # inside a day read from footfall_day
            (datetime(2026, 11, 28, tzinfo=UTC), 0, 0),  # the newest rolled hour: read raw
        )
        for at, entries, exits in hours:
            conn.execute(
                insert(table(FootfallHour)).values(
                    station_id=A, bucket_start=at, entries=entries, exits=exits, seconds=3600
                )
            )
        conn.execute(
            insert(table(FootfallDay)).values(
                station_id=A, bucket_start=datetime(2026, 11, 5, tzinfo=UTC), entries=3,
                exits=3, seconds=3600,
            )
        )  # fmt: skip
        conn.execute(
            insert(table(FootfallInterval)).values(
                station_id=A, interval_start=local(29, 12), seconds=300, entries=2, exits=1,
                occupancy=1, seq=100, received_at=local(29, 12),
            )
        )  # fmt: skip
