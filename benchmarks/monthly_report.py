"""The monthly report over a city's year of data: how long `GET /api/v1/ops/reports/monthly`
takes, and a baseline computing the same uptime the station page's way, station by station.

Run: .venv/bin/python benchmarks/monthly_report.py
     [--stations 1000] [--days 365] [--repeat 5]

A SQLite database (temporary) with N stations in one city, a third open 08:00-20:00 and the
rest 24/7, and `days` days of data ending with the month reported: per station an outage
every five days (two status-history rows), six door decisions a day (one in six refused),
an alarm a week (acknowledged after 1–30 minutes, most cleared) and footfall per UTC hour
in `footfall_hour` and per UTC day in `footfall_day` (the roll-ups), the newest day as
raw intervals. Timed, median of `repeat`:
the report by city, by station and as CSV through the app (`TestClient`, no network), the
report's parts alone (opening intervals with a cold cache, uptime, door decisions, footfall,
alarms), and the baseline: `cloud.ops.uptime.days` for every station (one query pair per
station, no opening hours).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from cloud.alarms.models import Alarm
from cloud.auth import Role, create_user, issue_token, passwords
from cloud.db import init_db, make_engine
from cloud.main import create_app
from cloud.models import (
    FootfallInterval,
    Station,
    StationState,
    StatusChange,
    table,
)
from cloud.ops import uptime
from cloud.reports import activity, liveopen, openhours
from cloud.reports.month import Month, window
from cloud.settings import Settings

MONTH = Month(2026, 11)
END = datetime(2026, 11, 30, 16, tzinfo=UTC)  # the month's end in Shanghai
NOW = END + timedelta(hours=6)
BATCH = 20_000
FLUSH_ROWS = 500_000  # rows of footfall_hour buffered before a write
PASSWORD = "correct horse battery"  # noqa: S105 - a throwaway account in a temp database


def _put(engine: Engine, model: type, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        for i in range(0, len(rows), BATCH):
            conn.execute(insert(table(model)), rows[i : i + BATCH])


EVENT_COLS = ("station_id", "event_id", "seq", "type", "ts", "received_at", "historical",
              "granted", "reason")  # fmt: skip
ROLLUP_COLS = ("station_id", "bucket_start", "entries", "exits", "max_occupancy", "seconds")


def _t(at: datetime) -> str:
    """A UTC time as SQLAlchemy stores `UTCDateTime` in SQLite (naive, microseconds)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _fast(engine: Engine, name: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Plain DB-API executemany for the big tables (10× the Core insert's speed)."""
    sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608 - this file's constants
    with engine.begin() as conn:
        conn.exec_driver_sql(sql, rows)


def _flush(engine: Engine, pending: dict[str, list[Any]], counts: dict[str, int]) -> None:
    """Write what `build` has made so far, one transaction per table (few commits)."""
    _put(engine, StatusChange, pending["history"])
    _fast(engine, "event", EVENT_COLS, pending["events"])
    _put(engine, Alarm, pending["alarms"])
    _fast(engine, "footfall_hour", ROLLUP_COLS, pending["footfall_hour"])
    _fast(engine, "footfall_day", ROLLUP_COLS, pending["footfall_day"])
    _put(engine, FootfallInterval, pending["raw"])
    for key, rows in pending.items():
        if key in counts:
            counts[key] += len(rows)
        rows.clear()


def build(engine: Engine, stations: int, days: int, rnd: random.Random) -> dict[str, int]:
    """The data set; row counts per table."""
    start = END - timedelta(days=days)
    sids = [f"bm-{i:05d}" for i in range(stations)]
    _put(engine, Station, [
        Station(id=sid, name=f"站 {i}", lat=22.5 + i * 1e-4, lon=114.0, city="深圳",
                operator=f"运营方 {i % 7}",
                opening_hours="Mo-Su 08:00-20:00" if i % 3 == 0 else "24/7").model_dump()
        for i, sid in enumerate(sids)
    ])  # fmt: skip
    _put(engine, StationState, [{"station_id": sid} for sid in sids])
    counts = dict.fromkeys(("history", "events", "alarms", "footfall_hour", "footfall_day"), 0)
    pending: dict[str, list[Any]] = {k: [] for k in (*counts, "raw")}
    stamps = [_t(start + timedelta(hours=h)) for h in range(days * 24)]  # shared, made once
    for sid in sids:
        history = [{"station_id": sid, "at": start, "status": "online", "source": "report"}]
        for d in range(0, days, 5):
            down = start + timedelta(days=d, seconds=rnd.randrange(86_400))
            up = down + timedelta(seconds=rnd.randrange(60, 4 * 3600))
            history += [
                {"station_id": sid, "at": down, "status": "lost", "source": "report"},
                {"station_id": sid, "at": up, "status": "online", "source": "report"},
            ]
        events, alarms, hours = [], [], []
        daily: dict[str, int] = {}
        for d in range(days):
            day = start + timedelta(days=d)
            for k in range(6):
                ts = day + timedelta(seconds=rnd.randrange(86_400))
                reason = "granted" if k else rnd.choice(("revoked", "expired", "replayed"))
                events.append((sid, uuid4().hex, d * 6 + k + 1, "access", _t(ts), _t(ts),
                               0, int(k != 0), reason))  # fmt: skip
            if d % 7 == 0:
                raised = day + timedelta(seconds=rnd.randrange(86_400))
                ack = raised + timedelta(seconds=rnd.randrange(60, 1800))
                cleared = raised + timedelta(seconds=rnd.randrange(300, 7200))
                alarms.append({
                    "station_id": sid, "rule": f"r{d}", "severity": "warning",
                    "source": "cloud", "state": "cleared", "since": raised,
                    "raised_at": raised, "acknowledged_at": ack, "cleared_at": cleared,
                    "updated_at": cleared,
                })  # fmt: skip
            for h in range(24 if d < days - 1 else 0):
                n = rnd.randrange(0, 12)
                hours.append((sid, stamps[d * 24 + h], n, n, 2, 3600))
                daily[stamps[d * 24]] = daily.get(stamps[d * 24], 0) + n
        days_rows = [(sid, at, n, n, 2, 86_400) for at, n in daily.items()]
        raw = [
            {"station_id": sid, "interval_start": END - timedelta(minutes=5 * (k + 1)),
             "seconds": 300, "entries": 1, "exits": 1, "occupancy": 0, "seq": 10_000_000 + k,
             "received_at": END}
            for k in range(288)
        ]  # fmt: skip
        pending["history"] += history
        pending["events"] += events
        pending["alarms"] += alarms
        pending["footfall_hour"] += hours
        pending["footfall_day"] += days_rows
        pending["raw"] += raw
        if len(pending["footfall_hour"]) >= FLUSH_ROWS:
            _flush(engine, pending, counts)
    _flush(engine, pending, counts)
    return counts


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    passwords.HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'report.db'}"
        engine = make_engine(url)
        init_db(engine)
        t0 = time.perf_counter()
        counts = build(engine, args.stations, args.days, random.Random(7))
        made = ", ".join(f"{n:,} {k}" for k, n in counts.items())
        print(f"built in {time.perf_counter() - t0:.0f} s: {args.stations} stations, {made}")
        create_user(engine, "union", Role.VIEWER, PASSWORD)
        head = {"Authorization": f"Bearer {issue_token(engine, 'union')}"}
        app = create_app(Settings(db=url), clock=lambda: NOW)
        rows: list[tuple[str, float]] = []
        with TestClient(app) as client:
            for by, fmt in (("city", "json"), ("station", "json"), ("operator", "csv")):
                params = {"month": str(MONTH), "by": by, "format": fmt}

                def ask(params: dict[str, str] = params) -> None:
                    r = client.get("/api/v1/ops/reports/monthly", params=params, headers=head)
                    assert r.status_code == 200, r.text

                rows.append((f"GET …/monthly by={by} format={fmt}", _median_ms(ask, args.repeat)))
        win = window(MONTH, "Asia/Shanghai", NOW)
        assert win is not None
        where = table(Station).c.tz == "Asia/Shanghai"
        with engine.connect() as conn:
            stations = conn.execute(table(Station).select()).all()

            def spans() -> dict[str, Any]:
                openhours._intervals.cache_clear()
                return {
                    s.id: openhours.open_intervals(
                        s.opening_hours, s.tz, (s.lat, s.lon), win.start, win.end
                    )
                    for s in stations
                }

            found = spans()
            parts: list[tuple[str, Callable[[], Any]]] = [
                ("opening intervals (cold cache)", spans),
                ("uptime while open (status history)",
                 lambda: liveopen.live_open(conn, where, win, found)),
                ("door decisions by reason", lambda: activity.decisions(conn, where, win)),
                ("footfall in/out", lambda: activity.footfall(conn, where, win)),
                ("alarm response times", lambda: activity.alarm_times(conn, where, win)),
                ("baseline: station-page uptime, station by station",
                 lambda: [uptime.days(conn, s.id, s.tz, last=30, now=END) for s in stations]),
            ]  # fmt: skip
            for name, fn in parts:
                rows.append((name, _median_ms(fn, args.repeat)))
        engine.dispose()
    print(f"\nmonth {MONTH}, {args.stations} stations, median of {args.repeat}")
    print("| what | median |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:,.1f} ms |")


if __name__ == "__main__":
    main()
