"""`cloud.ops.uptime`: a local day's seconds split by the status in force; the newest history
row at or before the day's start carries into it; only the passed part of today counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection

from cloud.models import StatusChange, table
from cloud.ops.uptime import Day, days, split

HISTORY = table(StatusChange)
# 2026-03-02 00:00 in Shanghai (UTC+8)
MIDNIGHT = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_split_counts_each_status_from_its_change() -> None:
    changes = [(MIDNIGHT + 2 * H, "lost"), (MIDNIGHT + 3 * H, "online")]
    assert split(changes, MIDNIGHT, MIDNIGHT + 24 * H, "online") == {
        "online": 23 * 3600.0,
        "lost": 3600.0,
    }


def test_split_without_history_is_unknown_until_the_first_change() -> None:
    assert split([(MIDNIGHT + 6 * H, "online")], MIDNIGHT, MIDNIGHT + 24 * H, None) == {
        "unknown": 6 * 3600.0,
        "online": 18 * 3600.0,
    }
    assert split([], MIDNIGHT, MIDNIGHT + H, None) == {"unknown": 3600.0}


def test_split_ignores_changes_after_the_end_and_stacks_simultaneous_ones() -> None:
    changes = [
        (MIDNIGHT, "degraded"),  # at the very start: replaces what was in force
        (MIDNIGHT + H, "lost"),
        (MIDNIGHT + H, "online"),  # the same instant: the last one wins
        (MIDNIGHT + 30 * H, "offline"),
    ]
    assert split(changes, MIDNIGHT, MIDNIGHT + 2 * H, "online") == {
        "degraded": 3600.0,
        "online": 3600.0,
    }


def test_day_percentages() -> None:
    day = Day(
        date(2026, 3, 2),
        {"online": 18 * 3600.0, "degraded": 3 * 3600.0, "lost": 3 * 3600.0},
        86400.0,
    )
    assert day.up_pct == 75.0
    assert day.available_pct == 87.5
    empty = Day(date(2026, 3, 2), {}, 0.0)
    assert (empty.up_pct, empty.available_pct) == (None, None)


def change(db: Connection, sid: str, at: datetime, status: str) -> None:
    db.execute(HISTORY.insert().values(station_id=sid, at=at, status=status, source="report"))


def test_days_reads_the_history_in_the_stations_local_days(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    put_station("st-2")
    change(db, sid, MIDNIGHT - 30 * H, "online")  # two days back: carries into the window
    change(db, sid, MIDNIGHT - 24 * H + 6 * H, "lost")  # Mar 1, 06:00 local
    change(db, sid, MIDNIGHT - 24 * H + 12 * H, "online")  # Mar 1, 12:00 local
    change(db, sid, MIDNIGHT + 2 * H, "degraded")  # Mar 2, 02:00 local
    change(db, "st-2", MIDNIGHT - 24 * H + 1 * H, "offline")  # another station: not read
    now = MIDNIGHT + 4 * H  # Mar 2, 04:00 local
    mar1, mar2 = days(db, sid, "Asia/Shanghai", last=2, now=now)
    assert (mar1.day, mar2.day) == (date(2026, 3, 1), date(2026, 3, 2))
    assert mar1.seconds == {"online": 18 * 3600.0, "lost": 6 * 3600.0}
    assert mar1.observed_s == 86400.0
    assert mar1.up_pct == 75.0
    assert mar2.seconds == {"online": 2 * 3600.0, "degraded": 2 * 3600.0}
    assert mar2.observed_s == 4 * 3600.0  # today so far
    assert (mar2.up_pct, mar2.available_pct) == (50.0, 100.0)


def test_days_of_a_station_without_history_are_unknown(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    (today,) = days(db, sid, "Asia/Shanghai", last=1, now=MIDNIGHT + 6 * H)
    assert today.seconds == {"unknown": 6 * 3600.0}
    assert (today.up_pct, today.available_pct) == (None, None)  # no data, not "0 % up"


def test_a_station_online_since_it_first_appeared_is_100_percent_up(
    db: Connection, put_station: Callable[..., str]
) -> None:
    """Story: a demo station online the whole 10 minutes it had existed showed a red 3.76 %
    bar for today (and 0 % for the days before it existed): the hours before its first
    status row were `unknown` and counted as down."""
    sid = put_station("st-1")
    born = MIDNIGHT + 4 * H + 15 * timedelta(minutes=1)  # 04:15 local, first birth
    change(db, sid, born, "online")
    now = born + 10 * timedelta(minutes=1)
    yesterday, today = days(db, sid, "Asia/Shanghai", last=2, now=now)
    assert today.seconds == {"unknown": born.timestamp() - MIDNIGHT.timestamp(), "online": 600.0}
    assert today.known_s == 600.0
    assert (today.up_pct, today.available_pct) == (100.0, 100.0)
    assert (yesterday.up_pct, yesterday.available_pct) == (None, None)  # it did not exist


def test_unknown_hours_do_not_dilute_real_downtime(
    db: Connection, put_station: Callable[..., str]
) -> None:
    sid = put_station("st-1")
    change(db, sid, MIDNIGHT + 20 * H, "online")
    change(db, sid, MIDNIGHT + 21 * H, "lost")
    (today,) = days(db, sid, "Asia/Shanghai", last=1, now=MIDNIGHT + 22 * H)
    assert today.known_s == 2 * 3600.0
    assert (today.up_pct, today.available_pct) == (50.0, 50.0)
