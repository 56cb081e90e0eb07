"""Nearby search: p50/p99 in-process and over HTTP, against numpy brute force, same run.

Run: .venv/bin/python benchmarks/nearby_latency.py [--sizes 200000 2000000]
     [--http-sizes 200000] [--queries 2000] [--http-seconds 10] [--rate 1500] [--lockstep]
     [--server-pythonpath DIR]
(`--sizes` with no value skips the in-process index part.)

Stations are synthetic, clustered around 36 real Chinese city centres (weights roughly by
population, spread growing with the city). Queries stand where stations are (a rider near a
city), radius 5 km, limit 20.

- in-process: `GridIndex.nearest` alone, then the finder as the API runs it (index + one
  SQLite query for the candidates' registry rows and live state + opening hours), against
  `GridIndex.brute_force` (haversine over every station with numpy) on the same queries;
- HTTP: `waystation cloud serve --workers 2` on a SQLite registry of that size, driven by a
  keep-alive asyncio client over 32 connections, every request at a new point: first closed
  loop (the most it answers), then paced at `--rate` (default 1,500 req/s, the target) with
  latency counted from when each request was due; requests/s, p50/p99, the server's CPU per
  request (its worker processes, from /proc) and the client's CPU. Paced connections are
  staggered, so requests arrive evenly (one every 1/rate s); `--lockstep` also runs the
  old pacing, where all connections' requests fell due at the same instants (bursts of 32
  every 21 ms: queueing that no spare capacity removes).
- `--server-pythonpath DIR` runs the server from another source tree, e.g. an older commit
  from `git archive <commit> | tar -x -C DIR`, for a same-run comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import uvloop
from sqlalchemy import func, insert, select, text
from sqlmodel import Session

from cloud.db import init_db, make_engine
from cloud.models import Station, StationState, table
from cloud.stations.geoindex import GridIndex
from cloud.stations.index import load_snapshot, registry_version
from cloud.stations.liveness import LivenessPolicy
from protocol.registry import AMENITIES
from waystation.mosquitto import free_port

# The SQL-only reference search lives with the tests; run as a script, the checkout is not
# on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import nearby_reference

WAYSTATION = str(Path(sys.executable).with_name("waystation"))
# (name, lat, lon, weight): city centres, WGS-84
CITIES = [
    ("上海", 31.2304, 121.4737, 25), ("北京", 39.9042, 116.4074, 22),
    ("重庆", 29.5630, 106.5516, 16), ("广州", 23.1291, 113.2644, 19),
    ("深圳", 22.5431, 114.0579, 18), ("成都", 30.5728, 104.0668, 21),
    ("天津", 39.3434, 117.3616, 14), ("武汉", 30.5928, 114.3055, 13),
    ("西安", 34.3416, 108.9398, 13), ("杭州", 30.2741, 120.1551, 12),
    ("南京", 32.0603, 118.7969, 9), ("郑州", 34.7466, 113.6253, 13),
    ("长沙", 28.2282, 112.9388, 10), ("沈阳", 41.8057, 123.4315, 9),
    ("青岛", 36.0671, 120.3826, 10), ("苏州", 31.2989, 120.5853, 13),
    ("东莞", 23.0207, 113.7518, 10), ("佛山", 23.0215, 113.1214, 9),
    ("哈尔滨", 45.8038, 126.5349, 10), ("济南", 36.6512, 117.1201, 9),
    ("合肥", 31.8206, 117.2272, 9), ("昆明", 25.0389, 102.7183, 8),
    ("大连", 38.9140, 121.6147, 7), ("福州", 26.0745, 119.2965, 8),
    ("厦门", 24.4798, 118.0894, 5), ("南宁", 22.8170, 108.3665, 9),
    ("贵阳", 26.6470, 106.6302, 6), ("石家庄", 38.0428, 114.5149, 11),
    ("长春", 43.8171, 125.3235, 9), ("南昌", 28.6820, 115.8579, 6),
    ("太原", 37.8706, 112.5489, 5), ("乌鲁木齐", 43.8256, 87.6168, 4),
    ("兰州", 36.0611, 103.8343, 4), ("拉萨", 29.6520, 91.1721, 1),
    ("海口", 20.0440, 110.1999, 3), ("呼和浩特", 40.8426, 111.7490, 3),
]  # fmt: skip
T0 = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)


def stations(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = np.array([c[3] for c in CITIES], dtype=float)
    city = rng.choice(len(CITIES), n, p=w / w.sum())
    spread = 0.04 * np.sqrt(w)[city]  # degrees: ~20 km for Shanghai, ~4 km for Lhasa
    lat = np.array([c[1] for c in CITIES])[city] + rng.normal(0, 1, n) * spread
    lon = np.array([c[2] for c in CITIES])[city] + rng.normal(0, 1, n) * spread
    bits = rng.integers(0, 1 << len(AMENITIES), n).astype(np.uint64)
    return lat, lon, bits


def queries(lat: np.ndarray, lon: np.ndarray, q: int, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(lat), q)
    return np.column_stack((lat[pick], lon[pick])) + rng.normal(0, 0.01, (q, 2))


def pct(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def timed(fn, qs: np.ndarray) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for qlat, qlon in qs:
        t = time.perf_counter_ns()
        fn(float(qlat), float(qlon))
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def in_process(n: int, nq: int) -> None:
    lat, lon, bits = stations(n)
    t = time.perf_counter()
    grid = GridIndex.build(lat, lon, bits)
    build_s = time.perf_counter() - t
    qs = queries(lat, lon, nq)
    for qlat, qlon in qs[:20]:  # same answers as brute force
        a = grid.nearest(float(qlat), float(qlon), radius_m=5_000, k=20)
        b = grid.brute_force(float(qlat), float(qlon), radius_m=5_000, k=20)
        assert a.positions.tolist() == b.positions.tolist()
    idx = timed(lambda a, b: grid.nearest(a, b, radius_m=5_000, k=20), qs)
    brute = timed(
        lambda a, b: grid.brute_force(a, b, radius_m=5_000, k=20), qs[: max(20, nq // 40)]
    )
    (i50, i99), (b50, b99) = pct(idx), pct(brute)
    what = f"grid index (build {build_s:.2f} s)"
    print(f"| {n:,} | {what} | {i50:,.0f} µs | {i99:,.0f} µs | {b50 / i50:,.0f}× |")
    print(
        f"| {n:,} | baseline: numpy brute force | {b50:,.0f} µs | {b99:,.0f} µs | 1× |", flush=True
    )


def make_db(path: Path, n: int) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    init_db(engine)
    lat, lon, bits = stations(n)
    hours = ["24/7", "24/7", "Mo-Su 06:00-22:00", "Mo-Fr 08:00-20:00"]
    st, ss = table(Station), table(StationState)
    with engine.begin() as conn:
        for lo in range(0, n, 20_000):
            hi = min(n, lo + 20_000)
            conn.execute(insert(st), [
                {"id": f"s{i:07d}", "name": f"驿站 {i}", "lat": float(lat[i]), "lon": float(lon[i]),
                 "amenities": [a for j, a in enumerate(AMENITIES) if int(bits[i]) >> j & 1],
                 "opening_hours": hours[i % 4], "operator": "", "address": "", "city": "",
                 "tz": "Asia/Shanghai", "maintenance": False, "created_at": T0, "updated_at": T0}
                for i in range(lo, hi)
            ])  # fmt: skip
            conn.execute(insert(ss), [
                {"station_id": f"s{i:07d}", "status": "online", "sess": 1, "status_at": T0,
                 "last_seen": T0, "last_heartbeat": T0, "heartbeat_interval_s": 30.0,
                 "door": "closed", "lock": "locked", "occupancy": i % 7, "acked_seq": 0}
                for i in range(lo, hi)
            ])  # fmt: skip
    engine.dispose()
    return url


def finder_in_process(url: str, n: int, nq: int) -> None:
    engine = make_engine(url)
    snap = load_snapshot(engine)
    lat, lon, _ = stations(n)
    qs = queries(lat, lon, nq)
    policy = LivenessPolicy()
    with Session(engine) as s:

        def run(a: float, b: float) -> None:
            nearby_reference.nearby_indexed(
                s, snap, lat=a, lon=b, radius_m=5_000, now=T0, policy=policy, limit=20
            )

        def sql(a: float, b: float) -> None:
            nearby_reference.nearby(
                s, lat=a, lon=b, radius_m=5_000, now=T0, policy=policy, limit=20
            )

        full = timed(run, qs[: nq // 4])
        box = timed(sql, qs[: max(20, nq // 40)])
    (f50, f99), (s50, s99) = pct(full), pct(box)
    what = "finder (index, registry in snapshot, SQLite live-state SELECT, hours; no TTL cache)"
    print(f"| {n:,} | {what} | {f50:,.0f} µs | {f99:,.0f} µs | {s50 / f50:,.1f}× |")
    print(
        f"| {n:,} | baseline: foundation SQL lat/lon box finder | {s50:,.0f} µs | {s99:,.0f} µs "
        "| 1× |",
        flush=True,
    )
    engine.dispose()


def version_check(url: str, n: int, runs: int = 20) -> None:
    """CPU of the registry version check each API worker runs every `index_refresh_s`
    (`registry_version`), against what it was before migration 0024: count and newest edit
    in one SELECT on a registry without `ix_station_updated_at` (a copy of the same database
    with the index dropped), same run."""
    engine = make_engine(url)
    station = table(Station)
    old = select(func.count(), func.max(station.c.updated_at)).select_from(station)
    path = Path(url.removeprefix("sqlite:///"))
    copy = path.with_name(f"{path.stem}-no-index.db")
    shutil.copyfile(path, copy)
    before_engine = make_engine(f"sqlite:///{copy}")
    with before_engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_station_updated_at"))

    def cpu_ms(fn: Callable[[], object]) -> float:
        fn()
        start = time.process_time()
        for _ in range(runs):
            fn()
        return 1000 * (time.process_time() - start) / runs

    def before() -> None:
        with before_engine.connect() as conn:
            conn.execute(old).one()

    now_ms, old_ms = cpu_ms(lambda: registry_version(engine)), cpu_ms(before)
    print(f"| {n:,} | registry version check (`registry_version`), CPU | {now_ms:.2f} ms | | "
          f"{old_ms / now_ms:.0f}× |")  # fmt: skip
    print(
        f"| {n:,} | baseline: the check before migration 0024 (one SELECT, no index), CPU "
        f"| {old_ms:.2f} ms | | 1× |"
    )
    engine.dispose()
    before_engine.dispose()
    copy.unlink()


async def _client(
    port: int,
    paths: list[str],
    stop: float,
    lat_out: list[float],
    interval: float = 0.0,
    phase: float = 0.0,
) -> None:
    """One keep-alive connection. `interval` 0: closed loop (next request as soon as the last
    answer is in). Otherwise paced: request i is due at start + phase + i × interval, and its
    latency counts from when it was due, so a stalled server is not hidden by the client
    waiting."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    start = time.perf_counter() + phase
    while time.monotonic() < stop:
        path = paths[i % len(paths)]
        due = start + i * interval
        i += 1
        if interval:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        t = due if interval else time.perf_counter()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        lat_out.append((time.perf_counter() - t) * 1000)
    writer.close()


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (0 for any that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _drive(
    port: int,
    paths: list[str],
    seconds: float,
    connections: int,
    rate: float,
    server: list[int],
    *,
    lockstep: bool = False,
) -> str:
    """Run the clients; `rate` 0 saturates (closed loop), else paces to `rate` requests/s,
    connections staggered by interval/connections unless `lockstep`."""
    latencies: list[float] = []
    cpu0, t0, server0 = time.process_time(), time.monotonic(), _cpu_s(server)

    async def drive() -> None:
        stop = time.monotonic() + seconds
        interval = connections / rate if rate else 0.0
        step = 0.0 if lockstep else interval / connections
        await asyncio.gather(
            *(
                _client(port, paths[i::connections], stop, latencies, interval, i * step)
                for i in range(connections)
            )
        )

    uvloop.run(drive())  # a cheaper client: it shares the 2 cores with the server
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    server_ms = (_cpu_s(server) - server0) * 1000 / max(1, len(latencies))
    p50, p99 = pct(latencies)
    return (
        f"{len(latencies) / elapsed:,.0f} req/s | p50 {p50:.1f} ms | p99 {p99:.1f} ms "
        f"| server {server_ms:.2f} ms CPU/request | client CPU {cpu / elapsed:.0%} of a core |"
    )


def http(
    url: str,
    n: int,
    seconds: float,
    connections: int,
    rate: float,
    *,
    lockstep: bool = False,
    pythonpath: str | None = None,
) -> None:
    """Saturation (closed loop: the most the server answers; latency there is just queueing,
    32 connections / rate), then paced at the target `rate` (latency a rider would see)."""
    port = free_port()
    env = os.environ | {
        "WAYSTATION_RATE_LIMIT_PER_S": "100000",
        "WAYSTATION_RATE_LIMIT_BURST": "1000000",
    }
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.Popen(
        [WAYSTATION, "cloud", "serve", "--port", str(port), "--db", url, "--workers", "2",
         "--no-access-log"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    lat, lon, _ = stations(n)
    # Every request of a run at a new point: no answer is ever served from repetition.
    qs = queries(lat, lon, int(max(rate, 3_000) * seconds * 2), seed=3)
    paths = [
        f"/api/v1/stations/nearby?lat={a:.6f}&lon={b:.6f}&radius_m=5000&limit=20" for a, b in qs
    ]
    warmup = paths[-200:]  # points no measured request uses
    try:
        deadline = time.monotonic() + 170
        warm = 0
        while warm < len(warmup):  # both workers have built their index
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{warmup[warm]}") as r:
                    r.read()
                warm += 1
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        server = _children(proc.pid)
        what = f"HTTP, 2 uvicorn workers, {connections} connections"
        if pythonpath:
            what += f", server from {pythonpath}"
        half = len(paths) // 2
        saturated = _drive(port, paths[:half], seconds, connections, 0, server)
        print(f"| {n:,} | {what}, closed loop (saturation) | {saturated}", flush=True)
        paced = _drive(port, paths[half:], seconds, connections, rate, server)
        print(f"| {n:,} | {what}, paced at {rate:,.0f} req/s | {paced}", flush=True)
        if lockstep:
            burst = _drive(port, paths[half:], seconds, connections, rate, server, lockstep=True)
            print(f"| {n:,} | {what}, paced at {rate:,.0f} req/s, lockstep | {burst}", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, default=[200_000, 2_000_000])
    parser.add_argument("--http-sizes", nargs="*", type=int, default=[200_000])
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--http-seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1_500, help="paced run, requests/s")
    parser.add_argument(
        "--lockstep", action="store_true", help="also pace with every connection due at once"
    )
    parser.add_argument(
        "--server-pythonpath", help="run the HTTP server from this source tree (a baseline)"
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; radius 5 km, limit 20; {len(CITIES)} city clusters")
    print("| stations | what | p50 | p99 | speed-up (p50) |\n|---|---|---|---|---|")
    for n in args.sizes:
        in_process(n, args.queries)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.http_sizes:
            url = make_db(Path(tmp) / f"nearby-{n}.db", n)
            finder_in_process(url, n, args.queries)
            version_check(url, n)
            http(
                url,
                n,
                args.http_seconds,
                args.connections,
                args.rate,
                lockstep=args.lockstep,
                pythonpath=args.server_pythonpath,
            )


if __name__ == "__main__":
    main()
