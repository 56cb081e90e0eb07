"""End-to-end event latency and ingest lag for a fleet of simulated stations in one process.

Run: flock /tmp/ws-bench.lock .venv/bin/python -m benchmarks.fleet_scale
     [--sizes 100 1000 5000] [--workers 1 2] [--seconds 40] [--time-scale 5]

Each run: real Mosquitto, a fresh PostgreSQL schema with the stations registered, K
`waystation cloud ingest` subprocesses (shared subscription), and `firmware_sim.fleet.Fleet`
in this process (one network thread, thread-free door hardware, footfall beams, no frame
rendering) playing the daily profile at lunch time (12:00, a meal peak) with `time_scale`
× 200 visits per station per day, heartbeats every 30 s. After `--seconds` of traffic,
visits pause and the run waits for every journal to drain.

Figures, over events journaled during the traffic window:
- latency to the database: the ingest's `received_at` − the station's journal time (ledger);
- latency to the ack: when the station got the cloud's ack covering the row (after the
  database commit) − journal time: the no-loss promise's full round trip;
- ingest lag: from pausing the traffic until, at every station, the last row journaled
  before the pause is acked (committed): how far behind the cloud was at that moment (max
  over stations); and the time until every journal was empty (`drained_s`; footfall
  intervals that close meanwhile count too);
- CPU: the fleet process (as % of one core), the ingest workers and the broker.
The 100-station run is the baseline measured in the same run (same machine, same code).

`--threads-baseline N` instead compares, at N stations (paho's select() stops at fd 1023, so
keep N ≤ 150), the same fleet and traffic with a paho network thread and a drain thread per
station (`Link(loop=None)`, a real station's setup) against the shared loop: threads, CPU of
the fleet process, and the same latencies.
"""

from __future__ import annotations

import argparse
import bisect
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ingest_throughput import cpu_s, fresh_db
from cloud.db import init_db, make_engine
from cloud.models import Event
from cloud.stations.registry import upsert
from firmware_sim.cities import make_records
from firmware_sim.fleet import TIMEZONE, Fleet, FleetConfig
from firmware_sim.union import SimUnion
from waystation.harness.ingest_pool import start_ingest, wait_ready
from waystation.mosquitto import MosquittoProcess, free_port


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(
    size: int, workers: int, seconds: float, time_scale: float, *, shared_loop: bool = True
) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="ws-fleet-"))
    broker = MosquittoProcess(workdir / "mosquitto", persistence=True).start()
    url, cleanup = fresh_db("postgresql")
    engine = make_engine(url)
    procs: list[subprocess.Popen[bytes]] = []
    fleet: Fleet | None = None
    try:
        init_db(engine)
        records = make_records(size, seed=7)
        upsert(engine, records)
        ports = [free_port() for _ in range(workers)]
        procs = start_ingest(broker.url, url, ports)
        wait_ready(ports)
        fleet = Fleet(
            records,
            SimUnion.create(7),
            FleetConfig(
                broker_url=broker.url,
                workdir=workdir / "stations",
                render_frames=False,
                footfall=True,
                shared_loop=shared_loop,
                visit_interval_s=None,
                light_hardware=True,
                doors=True,
                visits_per_day=200,
                time_scale=time_scale,
                telemetry_interval_s=30,
                seed=7,
                start_at=datetime(2026, 3, 2, 12, 0, tzinfo=TIMEZONE),
            ),
        )
        t_start = time.monotonic()
        fleet.start()
        start_s = time.monotonic() - t_start
        while fleet.counters().connected < size and time.monotonic() - t_start < 180:
            time.sleep(0.2)
        connect_s = time.monotonic() - t_start
        connected = fleet.counters().connected
        for station in fleet.stations:
            station.record_acks = True
        time.sleep(3)  # births, retained lists settle
        wall0, cpu0 = time.time(), time.process_time()
        mono0 = time.monotonic()
        others0 = [cpu_s(p.pid) for p in procs], cpu_s(broker.proc.pid)  # type: ignore[union-attr]
        journaled0 = fleet.counters().journaled
        busy0 = fleet.loop.stats.busy_s if fleet.loop else 0.0
        threads = threading.active_count()
        time.sleep(seconds)
        fleet.pause_traffic()
        wall1 = time.time()
        traffic_s = time.monotonic() - mono0
        fleet_cpu = time.process_time() - cpu0
        loop_busy = (fleet.loop.stats.busy_s if fleet.loop else 0.0) - busy0
        journaled = fleet.counters().journaled - journaled0
        paused = time.monotonic()
        while fleet.counters().backlog and time.monotonic() - paused < 120:
            time.sleep(0.1)
        drained_s = time.monotonic() - paused
        lag_s = 0.0
        backlog = fleet.counters().backlog
        worker_cpu = sum(cpu_s(p.pid) for p in procs) - sum(others0[0])
        broker_cpu = cpu_s(broker.proc.pid) - others0[1]  # type: ignore[union-attr]
        # Latencies of the events journaled in the traffic window.
        window: dict[tuple[str, str], float] = {}
        to_ack: list[float] = []
        for station in fleet.stations:
            acks = sorted(station.acks, key=lambda a: a[1])  # by upto_seq
            ack_seqs = [a[1] for a in acks]
            first_at = [t for t, _ in acks]  # → earliest time an ack covered ≥ that upto
            for i in range(len(first_at) - 2, -1, -1):
                first_at[i] = min(first_at[i], first_at[i + 1])
            ledger = station.ledger
            before = [e.seq for e in ledger if e.t <= wall1]
            if before:
                i = bisect.bisect_left(ack_seqs, before[-1])
                lag_s = max(lag_s, (first_at[i] if i < len(acks) else float("inf")) - wall1)
            for entry in ledger:
                if not (wall0 <= entry.t <= wall1):
                    continue
                if entry.kind == "events":
                    window[(station.sid, entry.key)] = entry.t
                i = bisect.bisect_left(ack_seqs, entry.seq)
                if i < len(acks):
                    to_ack.append(first_at[i] - entry.t)
        to_db: list[float] = []
        with engine.connect() as conn:
            rows = conn.execute(select(Event.station_id, Event.event_id, Event.received_at))
            for sid, eid, received in rows:
                t = window.get((sid, str(eid)))
                if t is not None:
                    to_db.append(received.timestamp() - t)
        missing = len(window) - len(to_db)
        return {
            "stations": size,
            "workers": workers,
            "network": "shared loop" if shared_loop else "thread per station",
            "threads": threads,
            "connected": connected,
            "start_s": round(start_s, 1),
            "all_connected_s": round(connect_s, 1),
            "traffic_s": round(traffic_s, 1),
            "journaled": journaled,
            "journaled_per_s": round(journaled / traffic_s, 1),
            "db_p50_ms": round(pct(to_db, 0.5) * 1000, 1),
            "db_p99_ms": round(pct(to_db, 0.99) * 1000, 1),
            "ack_p50_ms": round(pct(to_ack, 0.5) * 1000, 1),
            "ack_p99_ms": round(pct(to_ack, 0.99) * 1000, 1),
            "ingest_lag_s": round(lag_s, 2),
            "drained_s": round(drained_s, 2),
            "backlog_left": backlog,
            "events_missing": missing,
            "fleet_cpu_pct": round(100 * fleet_cpu / traffic_s, 1),
            "net_loop_busy_pct": round(100 * loop_busy / traffic_s, 1),
            "workers_cpu_pct": round(100 * worker_cpu / (traffic_s + drained_s), 1),
            "broker_cpu_pct": round(100 * broker_cpu / (traffic_s + drained_s), 1),
            "fleet_errors": fleet.stats.errors,
        }
    finally:
        if fleet is not None:
            fleet.stop(clean=False)
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        broker.stop()
        engine.dispose()
        cleanup()


def main() -> None:
    # SIGTERM (timeout, kill) must still stop the workers and the broker and drop the schema.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--time-scale", type=float, default=5.0)
    parser.add_argument("--threads-baseline", type=int, default=0, metavar="N")
    args = parser.parse_args()
    results = []
    if args.threads_baseline:
        for shared in (False, True):
            n = args.threads_baseline
            result = run(n, 1, args.seconds, args.time_scale, shared_loop=shared)
            results.append(result)
            print(json.dumps(result), flush=True)
        args.sizes = []
    for size in args.sizes:
        for workers in args.workers if size > 100 else [1]:  # 100 stations: the baseline
            result = run(size, workers, args.seconds, args.time_scale)
            results.append(result)
            print(json.dumps(result), flush=True)
    cols = ("stations", "workers", "network", "threads", "journaled_per_s", "db_p50_ms",
            "db_p99_ms", "ack_p50_ms", "ack_p99_ms", "ingest_lag_s", "drained_s",
            "fleet_cpu_pct", "net_loop_busy_pct",
            "workers_cpu_pct", "broker_cpu_pct", "events_missing")  # fmt: skip
    print("\n| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
