"""Alarm → webhook latency through real ingest, and ingest throughput with and without the
notifier (issue 18 target: a raised alarm reaches a webhook receiver within 5 s of the
station's event being stored; ingest throughput unchanged with 10 channels configured and one
receiver hanging).

Run: PYTHONPATH=. .venv/bin/python benchmarks/notify_latency.py [--db postgresql sqlite]
     [--n 60000] [--probes 30] [--pairs K (throughput only, K off/on pairs)]

Each database: a fresh one with 500 stations (the throughput load) and `--probes` probe
stations; 10 webhook channels on loopback receivers in this process, one of which never
answers (its channel's timeout, 10 s, holds one notifier thread per try); one routing rule
per channel (every alarm). One `waystation cloud ingest` process (which runs the health
monitor and the notifier, WAYSTATION_NOTIFY_INTERVAL_S default 1 s) on a real Mosquitto.

1. Latency: each probe station publishes a `forced_open` alarm event over MQTT (QoS 1), one
   every 0.2 s. For every (alarm, healthy channel), latency = the receiver's arrival time −
   the event row's `received_at` (the cloud's clock when ingest read the message, which is
   before its commit: the figure errs long). Same host, same clock.
2. Throughput: `--n` journal messages (80 % access events, 20 % footfall; the generator of
   benchmarks/ingest_throughput.py) with 100 more alarm events spread through them, so the
   notifier works (10 channels × 100 alarms, one channel hanging) while ingest runs; rate =
   n / (first publish → the worker's metrics count all of them). Then the same on a fresh
   database with the notifier off (WAYSTATION_NOTIFY_INTERVAL_S=0).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_throughput import cpu_s, fresh_db, handled_by_workers, messages, publish

from cloud.alarms.models import Alarm
from cloud.db import init_db, make_engine
from cloud.models import Event, table
from cloud.notify import service
from cloud.stations.registry import upsert
from protocol import topics
from protocol.registry import StationRecord
from waystation.harness.ingest_pool import start_ingest, wait_ready
from waystation.mosquitto import MosquittoProcess, free_port

CHANNELS = 10  # the last one hangs
STATIONS = 500


class Receivers:
    """CHANNELS loopback webhook receivers; arrivals[(channel, station, kind)] = time.time()."""

    def __init__(self) -> None:
        self.arrivals: dict[tuple[int, str, str], float] = {}
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.servers: list[ThreadingHTTPServer] = []
        for n in range(CHANNELS):
            self.servers.append(self._serve(n, hang=n == CHANNELS - 1))

    def _serve(self, n: int, *, hang: bool) -> ThreadingHTTPServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner.lock:
                    key = (n, body["data"].get("station_id") or "", body["type"])
                    owner.arrivals.setdefault(key, at)
                if hang:
                    owner.release.wait(600)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.servers[n].server_address[1]}/hook"

    def close(self) -> None:
        self.release.set()
        for s in self.servers:
            s.shutdown()
            s.server_close()


class Watcher:
    """When each probe station's alarm row became visible to another connection (its commit),
    polled every 20 ms: seen[station] = time.time()."""

    def __init__(self, url: str) -> None:
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.engine = make_engine(url)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        alarms = table(Alarm)
        query = select(alarms.c.station_id).where(alarms.c.station_id.like("probe-%"))
        while not self.stop.wait(0.02):
            with self.engine.connect() as conn:
                for sid in conn.execute(query).scalars():
                    self.seen.setdefault(sid, time.time())

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.engine.dispose()


def latencies(
    arrivals: dict[tuple[int, str, str], float],
    want: set[tuple[int, str, str]],
    since: dict[str, float],
) -> list[float]:
    return [arrivals[k] - since[k[1]] for k in want if k in arrivals and k[1] in since]


def summary(lat: list[float]) -> str:
    p95 = statistics.quantiles(lat, n=20)[-1] if len(lat) > 1 else lat[0]
    return f"{statistics.median(lat):.2f} / {p95:.2f} / {max(lat):.2f} s"


def alarm(sid: str, seq: int) -> tuple[str, bytes]:
    body = {
        "v": 1, "ts": datetime.now(UTC).isoformat(), "sid": sid, "seq": seq,
        "event_id": str(uuid.uuid4()), "type": "alarm", "alarm": "forced_open",
        "state": "raised", "detail": "benchmark",
    }  # fmt: skip
    return topics.events(sid), json.dumps(body).encode()


def setup(kind: str, probes: int, receivers: Receivers | None) -> tuple[str, Any, Any, list[str]]:
    url, cleanup = fresh_db(kind)
    engine = make_engine(url)
    init_db(engine)
    sids = [f"bench-{i:05d}" for i in range(STATIONS)]
    probe_ids = [f"probe-{i:04d}" for i in range(probes + 100)]
    upsert(engine, [StationRecord(id=s, name=s, lat=31.2, lon=121.4) for s in sids + probe_ids])
    if receivers is not None:
        now = datetime.now(UTC)
        with engine.begin() as conn:
            for n in range(CHANNELS):
                body = service.ChannelIn(name=f"hook-{n}", kind="webhook", target=receivers.url(n))
                channel = service.add_channel(conn, body, now)
                service.add_rule(conn, service.RuleIn(name=f"all-{n}", channel_id=channel.id), now)
    return url, engine, cleanup, probe_ids


def ingest_rate(
    url: str,
    broker: MosquittoProcess,
    payloads: list[tuple[str, bytes]],
    notify: bool,
    drained: Any = None,
) -> tuple[float, float]:
    """(messages/s, ingest process CPU µs per message) through one ingest process, from the
    first publish to its metrics counting all; with `drained`, the process then runs on until
    `drained()` holds (the notifier catching up), at most 120 s."""
    os.environ["WAYSTATION_NOTIFY_INTERVAL_S"] = "1" if notify else "0"
    port = free_port()
    (proc,) = start_ingest(broker.url, url, [port])
    try:
        wait_ready([port])
        time.sleep(1.0)
        cpu0, t0 = cpu_s(proc.pid), time.monotonic()
        publish(broker.port, payloads)
        while handled_by_workers([port]) < len(payloads):
            if time.monotonic() - t0 > 300:
                raise TimeoutError("ingest did not finish")
            time.sleep(0.05)
        rate = len(payloads) / (time.monotonic() - t0)
        cpu = (cpu_s(proc.pid) - cpu0) / len(payloads) * 1e6
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if notify:
            print(f"  notifier process CPU: {sum(cpu_s(int(c)) for c in children):.1f} s")
        deadline = time.monotonic() + 120
        while drained is not None and not drained() and time.monotonic() < deadline:
            time.sleep(0.1)
        return rate, cpu
    finally:
        proc.terminate()
        proc.wait(30)


def received(engine: Any) -> dict[str, float]:
    """station → its alarm event's `received_at` (ingest read the message), unix seconds."""
    ev = table(Event)
    with engine.connect() as conn:
        rows = conn.execute(select(ev.c.station_id, ev.c.received_at).where(ev.c.type == "alarm"))
        return {sid: at.timestamp() for sid, at in rows}


def journal_load(n: int, alarm_sids: list[str]) -> list[tuple[str, bytes]]:
    """n journal messages with one alarm event per `alarm_sids` spread evenly through them."""
    load = messages(n, [f"bench-{i:05d}" for i in range(STATIONS)], "journal")
    step = max(1, len(load) // len(alarm_sids))
    for i, sid in enumerate(alarm_sids):
        load.insert(i * step + i, alarm(sid, 1))
    return load


def run(kind: str, broker: MosquittoProcess, n: int, probes: int) -> dict[str, Any]:
    receivers = Receivers()
    url, engine, cleanup, probe_ids = setup(kind, probes, receivers)
    quiet_ids, load_ids = probe_ids[:probes], probe_ids[probes:]
    healthy = range(CHANNELS - 1)
    out: dict[str, Any] = {"db": kind}
    watcher = Watcher(url)
    try:
        os.environ["WAYSTATION_NOTIFY_INTERVAL_S"] = "1"
        port = free_port()
        (proc,) = start_ingest(broker.url, url, [port])
        want = {(c, s, "alarm.raised") for c in healthy for s in quiet_ids}
        try:
            wait_ready([port])
            time.sleep(2.0)  # the notifier's first poll sets its cursor
            for sid in quiet_ids:
                publish(broker.port, [alarm(sid, 1)])
                time.sleep(0.2)
            deadline = time.monotonic() + 60
            while not want <= receivers.arrivals.keys() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(30)
        got = received(engine)
        out["idle_read"] = latencies(receivers.arrivals, want, got)
        out["idle_commit"] = latencies(receivers.arrivals, want, watcher.seen)
        out["idle_arrived"] = f"{len(out['idle_read'])}/{len(want)}"
        out["hanging_got"] = sum(1 for k in receivers.arrivals if k[0] == CHANNELS - 1)
        # throughput with the notifier busy: journal load with 100 alarms spread through it
        want = {(c, s, "alarm.raised") for c in healthy for s in load_ids}
        out["rate_on"] = ingest_rate(
            url, broker, journal_load(n, load_ids), notify=True,
            drained=lambda: want <= receivers.arrivals.keys(),
        )  # fmt: skip
        got = received(engine)
        out["load_read"] = latencies(receivers.arrivals, want, got)
        out["load_commit"] = latencies(receivers.arrivals, want, watcher.seen)
        out["load_arrived"] = f"{len(out['load_read'])}/{len(want)}"
    finally:
        watcher.close()
        receivers.close()
        engine.dispose()
        cleanup()
    out["rate_off"] = rate_without(kind, broker, n, probes, load_ids)
    return out


def rate_without(
    kind: str, broker: MosquittoProcess, n: int, probes: int, load_ids: list[str]
) -> tuple[float, float]:
    """The same load on a fresh database with the notifier off (no channels either)."""
    url, engine, cleanup, _ = setup(kind, probes, None)
    watcher = Watcher(url)  # the same observer as in the run with the notifier on
    try:
        return ingest_rate(url, broker, journal_load(n, load_ids), notify=False)
    finally:
        watcher.close()
        engine.dispose()
        cleanup()


def pairs(kind: str, broker: MosquittoProcess, n: int, count: int) -> None:
    """Throughput only, `count` times notifier off and on in alternating order (off first in
    even rounds), each on a fresh database: the order and the machine's other load move
    single runs by tens of percent."""
    load_ids = [f"probe-{i:04d}" for i in range(100)]
    print("| database | round | notifier | ingest msg/s | ingest CPU µs/msg |")
    print("|---|---|---|---|---|")
    for i in range(count):
        for notify in (False, True) if i % 2 == 0 else (True, False):
            if not notify:
                rate, cpu = rate_without(kind, broker, n, 0, load_ids)
            else:
                receivers = Receivers()
                url, engine, cleanup, _ = setup(kind, 0, receivers)
                want = {(c, s, "alarm.raised") for c in range(CHANNELS - 1) for s in load_ids}
                watcher = Watcher(url)
                try:
                    rate, cpu = ingest_rate(
                        url, broker, journal_load(n, load_ids), notify=True,
                        drained=lambda w=want, r=receivers: w <= r.arrivals.keys(),
                    )  # fmt: skip
                finally:
                    watcher.close()
                    receivers.close()
                    engine.dispose()
                    cleanup()
            state = "on" if notify else "off"
            print(f"| {kind} | {i + 1} | {state} | {rate:,.0f} | {cpu:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument(
        "--pairs", type=int, default=0, help="throughput only: this many off/on pairs"
    )
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout's code
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoProcess(Path(tmp) / "broker", persistence=False).start()
        if args.pairs:
            try:
                for kind in args.db:
                    pairs(kind, broker, args.n, args.pairs)
            finally:
                broker.stop()
            return
        try:
            print(f"{CHANNELS} webhook channels (1 hanging), {args.probes} probe alarms, "
                  f"{args.n:,} journal messages + 100 alarms, {os.cpu_count()} cores")  # fmt: skip
            print(
                "latency p50 / p95 / max, from the alarm row's commit (first visible to "
                "another connection) and from ingest reading the message (received_at)"
            )
            print("| database | phase | arrived | from commit | from receipt |"
                  " hanging channel got | ingest msg/s |")  # fmt: skip
            print("|---|---|---|---|---|---|---|")
            for kind in args.db:
                r = run(kind, broker, args.n, args.probes)
                print(
                    f"| {kind} | idle, 1 alarm / 0.2 s | {r['idle_arrived']} | "
                    f"{summary(r['idle_commit'])} | {summary(r['idle_read'])} | "
                    f"{r['hanging_got']} | — |"
                )
                (on, on_cpu), (off, off_cpu) = r["rate_on"], r["rate_off"]
                print(
                    f"| {kind} | under ingest load, notifier on | {r['load_arrived']} | "
                    f"{summary(r['load_commit'])} | {summary(r['load_read'])} | — | "
                    f"{on:,.0f} ({on_cpu:.0f} µs/msg) |"
                )
                print(
                    f"| {kind} | same load, notifier off | — | — | — | — | "
                    f"{off:,.0f} ({off_cpu:.0f} µs/msg) |",
                    flush=True,
                )
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
