"""Health monitor: seconds per run over the whole fleet, against reading the same rows alone.

Run: .venv/bin/python benchmarks/monitor_run.py [--sizes 20000 200000] [--db sqlite postgresql]

Every station is online with a fresh heartbeat (a realistic telemetry JSON with sensors), so
a run changes nothing: the steady state the monitor spends its life in. 1 % of stations have
a warm fridge (a pending alarm each), so they need the monitor's eye; the rest are quiet
(`Monitor._quiet`) and are not even read. Baseline in the same run: reading every station's
row alone — what judging every station on every run would at least pay.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_throughput import fresh_db

from cloud.alarms.fleetscan import STATES
from cloud.alarms.monitor import Monitor
from cloud.db import init_db, make_engine
from cloud.models import Station, StationState, table


def fill(url: str, n: int, now: datetime) -> None:
    engine = make_engine(url)
    init_db(engine)
    stations = [
        {"id": f"st-{i:07d}", "name": f"S{i}", "lat": 22.5 + i * 1e-6, "lon": 114.0,
         "amenities": [], "opening_hours": "24/7", "operator": "", "address": "", "city": "深圳",
         "tz": "Asia/Shanghai", "maintenance": False, "created_at": now, "updated_at": now}
        for i in range(n)
    ]  # fmt: skip
    telemetry = {"v": 1, "uptime_s": 1000.0, "interval_s": 30.0, "door": "closed",
                 "lock": "locked", "disk_used_pct": 41.0, "trust_age_s": 3600.0,
                 "revocation_age_s": 3600.0, "clock_synced": True, "camera_fps": 15.0}  # fmt: skip
    states = [
        {"station_id": s["id"], "status": "online", "sess": 1, "status_at": now,
         "last_seen": now, "last_heartbeat": now, "heartbeat_interval_s": 30.0,
         "door": "closed", "lock": "locked", "acked_seq": 0, "alarm_level": "none",
         "history_status": "online", "health": "ok", "attention": i % 100 == 0,
         "telemetry": telemetry | {"sensors": {"fridge_c": 9.0 if i % 100 == 0 else 4.0}}}
        for i, s in enumerate(stations)
    ]  # fmt: skip
    with engine.begin() as conn:
        for i in range(0, n, 20_000):
            conn.execute(insert(table(Station)), stations[i : i + 20_000])
            conn.execute(insert(table(StationState)), states[i : i + 20_000])
    engine.dispose()


def measure(kind: str, n: int, rounds: int) -> None:
    url, drop = fresh_db(kind)
    try:
        now = datetime.now(UTC)
        fill(url, n, now)
        engine = make_engine(url)
        monitor = Monitor(engine, clock=lambda: now)
        monitor.run_once()  # the first run makes the pending fridge rows
        runs, reads = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            with engine.connect() as conn:
                rows = conn.execute(STATES).all()
            reads.append(time.perf_counter() - t)
            t = time.perf_counter()
            report = monitor.run_once()
            runs.append(time.perf_counter() - t)
            assert report.raised == report.cleared == report.history == 0
            assert report.stations == len(range(0, n, 100))  # the warm fridges only
        assert len(rows) == n
        run, read = statistics.median(runs), statistics.median(reads)
        print(
            f"{kind:10s} {n:>9,d} stations  run {run * 1000:9.1f} ms  "
            f"({run / n * 1e6:5.2f} µs/station)  reading every row {read * 1000:8.1f} ms  "
            f"ratio {run / read:5.2f}×",
            flush=True,
        )
        engine.dispose()
    finally:
        drop()  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for kind in args.db:
        for n in args.sizes:
            measure(kind, n, args.rounds)


if __name__ == "__main__":
    main()
