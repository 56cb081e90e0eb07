"""Whole-fleet views: the GeoJSON map with open_now/basis, the status numbers, place search.

Run: .venv/bin/python benchmarks/fleet_view.py
     [--stations 200000] [--agents 0.05] [--repeat 5] [--searches 200]

A SQLite registry of `--stations` synthetic stations clustered around 36 Chinese cities (as in
benchmarks/nearby_latency.py), each with an address `<city>市<district>区<road>路<n>号` (12
districts and 40 roads a city), a share `--agents` of them with fresh live state. Timed
in-process, median of `--repeat` runs each:

- judge: `cloud.stations.fleetview.judge_fleet` (live-state read + the open-now rule for every
  station), what `/api/v1/stations.geojson` and `/api/v1/status` reuse for 30 s;
- render: the GeoJSON body from a judgement (`GeoJSONCache`, WGS-84);
- `GET /api/v1/stations.geojson` through the app, cold (a new judgement) and a 304;
- places: building `cloud.stations.places` for the snapshot; then `--searches` searches
  (district names, road names, whole addresses, station names), p50/p99;
- the ops views that judge maintenance in SQL (flag or a window active now, a correlated
  EXISTS per station on `ix_maintenance_window_station`), with `--windows` windows in the
  table (a third active, a third planned, a third ended): the live stream's poll of every
  station row (`cloud.api.ops_live`, every 2 s while someone watches) and the fleet summary
  (`cloud.ops.fleet.summary`); baseline, same run: the same statements with the registry flag
  alone in place of the window check.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nearby_latency import CITIES, stations

from cloud.api.public import GeoJSONCache
from cloud.db import init_db, make_engine
from cloud.main import create_app
from cloud.models import Station, StationState, table
from cloud.settings import Settings
from cloud.stations.fleetview import judge_fleet
from cloud.stations.index import load_snapshot
from cloud.stations.liveness import DEFAULT_POLICY
from cloud.stations.places import build
from cloud.stations.sight import SEEING
from protocol.registry import AMENITIES

DISTRICTS = (
    "福田",
    "南山",
    "罗湖",
    "宝安",
    "龙岗",
    "龙华",
    "光明",
    "坪山",
    "盐田",
    "东城",
    "西城",
    "朝阳",
)
ROADS = tuple(f"第{i}大道" if i % 5 == 0 else f"建设{i}路" for i in range(40))


def make_db(path: Path, n: int, agents: float) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    init_db(engine)
    lat, lon, bits = stations(n)
    city_of = np.array(
        [min(range(len(CITIES)), key=lambda c: (CITIES[c][1] - a) ** 2 + (CITIES[c][2] - b) ** 2)
         for a, b in zip(lat[:: max(1, n // 2000)], lon[:: max(1, n // 2000)], strict=True)]
    )  # fmt: skip
    now = datetime.now(UTC)
    hours = ["24/7", "24/7", "24/7", "Mo-Su 08:00-20:00"]
    rng = np.random.default_rng(3)
    live = rng.random(n) < agents
    st, ss = table(Station), table(StationState)
    with engine.begin() as conn:
        for lo in range(0, n, 20_000):
            hi = min(n, lo + 20_000)
            rows = []
            for i in range(lo, hi):
                city = CITIES[int(city_of[min(len(city_of) - 1, i // max(1, n // 2000))])][0]
                district = DISTRICTS[i % len(DISTRICTS)]
                road = ROADS[(i // 7) % len(ROADS)]
                rows.append(
                    {"id": f"s{i:07d}", "name": f"{district}区驿站 {i}", "lat": float(lat[i]),
                     "lon": float(lon[i]), "operator": "", "city": f"{city}市",
                     "amenities": [a for j, a in enumerate(AMENITIES) if int(bits[i]) >> j & 1],
                     "opening_hours": hours[i % 4], "tz": "Asia/Shanghai", "maintenance": False,
                     "address": f"{city}市{district}区{road}{i % 999 + 1}号", "capacity": 8,
                     "created_at": now, "updated_at": now}
                )  # fmt: skip
            conn.execute(insert(st), rows)
            states = [
                {"station_id": f"s{i:07d}", "status": "online", "sess": 1, "status_at": now,
                 "last_seen": now, "last_heartbeat": now, "heartbeat_interval_s": 3600.0,
                 "door": "closed", "lock": "locked", "occupancy": i % 9, "acked_seq": 0,
                 "alarm_level": "none"}
                for i in range(lo, hi) if live[i]
            ]  # fmt: skip
            if states:
                conn.execute(insert(ss), states)
    engine.dispose()
    return url


def median_ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=200_000)
    parser.add_argument("--agents", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--windows", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        url = make_db(Path(tmp) / "fleet.db", args.stations, args.agents)
        print(f"registry: {args.stations:,} stations, {args.agents:.0%} with agents, "
              f"built in {time.perf_counter() - t:.1f} s")  # fmt: skip
        engine = make_engine(url)
        snap = load_snapshot(engine)
        now = datetime.now(UTC)

        def judge():  # type: ignore[no-untyped-def]
            return judge_fleet(engine, snap, now=now, policy=DEFAULT_POLICY, sight=SEEING)

        view = judge()
        print(f"| {args.stations:,} stations | what | time |")
        print("|---|---|---|")
        print(f"| judge the whole fleet (live-state read + rule) | median | "
              f"{median_ms(judge, args.repeat):,.0f} ms |")  # fmt: skip
        render = median_ms(lambda: GeoJSONCache().get(view, "wgs84"), args.repeat)
        size = len(GeoJSONCache().get(view, "wgs84"))
        print(f"| render the GeoJSON body ({size / 1e6:.1f} MB) | median | {render:,.0f} ms |")
        settings = Settings(db=url, index_refresh_s=3600, fleet_view_s=0)
        with TestClient(create_app(settings)) as client:
            client.get("/api/v1/stations.geojson")  # load the index
            cold = median_ms(lambda: client.get("/api/v1/stations.geojson"), args.repeat)
            etag = client.get("/api/v1/stations.geojson").headers["etag"]
            print(f"| GET stations.geojson, judged anew each time | median | {cold:,.0f} ms |")
            settings304 = Settings(db=url, index_refresh_s=3600)
            with TestClient(create_app(settings304)) as c2:
                first = c2.get("/api/v1/stations.geojson")
                etag = first.headers["etag"]
                hit = median_ms(
                    lambda: c2.get("/api/v1/stations.geojson", headers={"If-None-Match": etag}),
                    args.repeat,
                )
                status = median_ms(lambda: c2.get("/api/v1/status"), args.repeat)
            print(f"| GET stations.geojson, unchanged (304) | median | {hit:,.1f} ms |")
            print(f"| GET status, judgement reused | median | {status:,.1f} ms |")
        build_ms = median_ms(lambda: build(snap), max(1, args.repeat // 2))
        index = build(snap)
        print(f"| build the place index ({len(index.places):,} places, {len(index.cities)} "
              f"cities) | median | {build_ms:,.0f} ms |")  # fmt: skip
        rng = np.random.default_rng(5)
        words = [*DISTRICTS[:6], "建设12路", "南山区", "第10大道"]
        queries = []
        for i in range(args.searches):
            kind = i % 4
            if kind == 0:
                queries.append(str(rng.choice(words)))
            elif kind == 1:
                c = CITIES[int(rng.integers(len(CITIES)))][0]
                queries.append(f"{c}市{DISTRICTS[i % 12]}区{ROADS[i % 40]}{i}号")
            elif kind == 2:
                queries.append(f"驿站 {int(rng.integers(args.stations))}")
            else:
                queries.append(CITIES[int(rng.integers(len(CITIES)))][0])
        times = []
        for q in queries:
            t = time.perf_counter()
            index.search(q)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
        print(f"| place search ({args.searches} mixed queries) | p50 / p99 | "
              f"{statistics.median(times):,.1f} / {p99:,.1f} ms |")  # fmt: skip
        ops_views(engine, args.stations, args.windows, args.repeat)
        engine.dispose()


def ops_views(engine: Engine, n: int, windows: int, repeat: int) -> None:
    """The maintenance check's cost in the ops views that make it in SQL (see the docstring)."""
    from cloud.api import ops_live
    from cloud.ops import fleet
    from cloud.stations import maintenance

    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    rng = np.random.default_rng(11)
    rows = []
    for k, i in enumerate(rng.choice(n, size=min(windows, n), replace=False)):
        start = now + (-hour, hour, -3 * hour)[k % 3]  # active, planned, ended
        rows.append(
            {"station_id": f"s{int(i):07d}", "starts_at": start, "ends_at": start + 2 * hour,
             "reason": "检修", "created_by": "bench", "created_at": now, "updated_at": now}
        )  # fmt: skip
    with engine.begin() as conn:
        if rows:
            conn.execute(insert(maintenance.WINDOW), rows)

    flag = maintenance.STATION.c.maintenance
    with engine.connect() as conn:
        poll = median_ms(lambda: ops_live._station_rows(conn, now), repeat)
        summ = median_ms(lambda: fleet.summary(conn, now), repeat)
        counted = fleet.summary(conn, now).maintenance
        with patch.object(fleet, "in_maintenance", lambda _now: flag):
            base_summ = median_ms(lambda: fleet.summary(conn, now), repeat)
    columns = list(ops_live._STATION_ROWS.selected_columns)
    columns[1 + ops_live.STATION_FIELDS.index("maintenance")] = flag
    base_rows = ops_live._STATION_ROWS.with_only_columns(*columns)
    with engine.connect() as conn, patch.object(ops_live, "_STATION_ROWS", base_rows):
        base_poll = median_ms(lambda: ops_live._station_rows(conn, now), repeat)
    print(f"| ops live poll, every station row ({len(rows):,} windows) | median | "
          f"{poll:,.0f} ms (flag only: {base_poll:,.0f} ms) |")  # fmt: skip
    print(f"| ops fleet summary ({counted:,} in maintenance) | median | "
          f"{summ:,.0f} ms (flag only: {base_summ:,.0f} ms) |")  # fmt: skip


if __name__ == "__main__":
    main()
