"""Ingest messages/s through a real Mosquitto into PostgreSQL and SQLite, 1 and 2 workers.

Run: .venv/bin/python benchmarks/ingest_throughput.py [--n 60000] [--stations 500]
     [--db postgresql sqlite] [--workers 1 2] [--mix journal|fleet]

Each run: a fresh database with `--stations` registered stations, `waystation cloud ingest`
worker processes (shared subscription), and this process as the load generator publishing `n`
pre-built messages at QoS 1 (`--mix journal`: 80 % access events, 20 % footfall
intervals; `--mix fleet`: what a fleet sends in an hour, nine in ten heartbeats) as fast as the
broker takes them. The rate is n / (first publish → the workers having committed all n, read off
their metrics), and the run then checks that the database holds exactly n rows (nothing
lost, nothing duplicated).
Baseline in the same run: a bare paho subscriber process that only counts the messages (the
broker + client ceiling on this machine). CPU seconds are reported for the generator, the
workers, the broker and PostgreSQL's server processes, so a reader can see who used the 2
cores.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cloud.db import init_db, make_engine
from cloud.models import DeadLetter, Event, FootfallInterval, Telemetry, table
from cloud.stations.registry import upsert
from protocol import topics
from protocol.registry import StationRecord
from waystation.harness.ingest_pool import start_ingest, wait_ready
from waystation.mosquitto import MosquittoProcess, free_port

PG = os.environ.get("WAYSTATION_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# Per 45 messages of a station in the `fleet` mix: 40 heartbeats, 4 footfall intervals, 1
# access event — a station's hour is 120 heartbeats (every 30 s), 12 five-minute intervals
# and a few visits (2.3 million visits a day over 186,000 stations is ~12 a day each).
FLEET_CYCLE = ["telemetry"] * 40 + ["footfall"] * 4 + ["event"]
MIXES = {
    "journal": "80 % access events, 20 % footfall intervals (every message journaled and acked)",
    "fleet": "89 % heartbeats, 9 % footfall intervals, 2 % access events (a fleet's hour)",
}


def messages(n: int, sids: list[str], mix: str = "journal") -> list[tuple[str, bytes]]:
    """n payloads in publish order, stations in turn; journal seqs run 1.. per station."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    seqs = dict.fromkeys(sids, 0)
    sent = dict.fromkeys(sids, 0)
    out = []
    for i in range(n):
        sid = sids[i % len(sids)]
        sent[sid] += 1
        k = sent[sid]
        ts = (base + timedelta(seconds=k)).isoformat()
        if mix == "fleet":
            what = FLEET_CYCLE[k % len(FLEET_CYCLE)]
        else:
            what = "footfall" if k % 5 == 0 else "event"
        if what == "telemetry":
            body = {"v": 1, "ts": ts, "sid": sid, "uptime_s": 3600 + k * 30, "interval_s": 30,
                    "door": "closed", "lock": "locked", "occupancy": k % 7,
                    "config_version": 3, "journal_backlog": 0, "trust_version": 12,
                    "revocation_version": 40, "revocation_age_s": 600.0, "trust_age_s": 3600.0,
                    "clock_synced": True, "camera_fps": 14.8, "decode_ms_p50": 6.1,
                    "decode_ms_p95": 11.4, "cpu_temp_c": 51.5, "load1": 0.4,
                    "mem_used_pct": 38.0, "disk_used_pct": 21.0, "wifi_dbm": -61.0,
                    "sensors": {"fridge_c": 4.2, "ambient_c": 24.5}}  # fmt: skip
            out.append((topics.telemetry(sid), json.dumps(body).encode()))
            continue
        seqs[sid] += 1
        seq = seqs[sid]
        if what == "footfall":
            start = (base + timedelta(minutes=5 * seq)).isoformat()
            body = {"v": 1, "ts": ts, "sid": sid, "seq": seq, "interval_start": start,
                    "seconds": 300, "entries": 3, "exits": 2, "occupancy": 1}  # fmt: skip
            out.append((topics.footfall(sid), json.dumps(body).encode()))
        else:
            body = {"v": 1, "ts": ts, "sid": sid, "seq": seq, "event_id": str(uuid.uuid4()),
                    "type": "access", "granted": True, "reason": "granted", "credential": "ws1",
                    "kid": "k1", "serial": f"{i:024x}"}  # fmt: skip
            out.append((topics.events(sid), json.dumps(body).encode()))
    return out


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _varint(len(body)) + body


def _publish_packet(topic: str, body: bytes, pid: int) -> bytes:
    t = topic.encode()
    return _packet(0x32, len(t).to_bytes(2, "big") + t + pid.to_bytes(2, "big") + body)


def publish(port: int, payloads: list[tuple[str, bytes]]) -> tuple[float, float]:
    """Publish at QoS 1 and wait for every PUBACK; (seconds, generator CPU seconds).

    A minimal MQTT 3.1.1 client on a raw socket: PUBLISH packets are encoded before the clock
    starts and written in windows of WINDOW unacknowledged messages, so the generator costs a
    few µs per message and the broker and ingest, not paho's Python loop, set the pace.
    """
    window = 20_000  # unacked messages in flight (packet ids stay unique within a window)
    packets = [_publish_packet(t, b, i % 65_535 + 1) for i, (t, b) in enumerate(payloads)]
    sock = socket.create_connection(("127.0.0.1", port))
    cid = f"bench-gen-{uuid.uuid4().hex[:8]}".encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
    sock.sendall(_packet(0x10, var))
    connack = sock.recv(4)
    assert connack[:2] == b"\x20\x02", connack
    assert connack[3] == 0, f"CONNACK refused: {connack!r}"
    acked = [0]
    acks_ready = threading.Condition()

    def read_acks() -> None:
        buf = b""
        while acked[0] < len(packets):
            chunk = sock.recv(65_536)
            if not chunk:
                return
            buf += chunk
            n, rest = divmod(len(buf), 4)  # PUBACK: 40 02 id id; nothing else arrives
            buf = buf[len(buf) - rest :]
            with acks_ready:
                acked[0] += n
                acks_ready.notify_all()

    reader = threading.Thread(target=read_acks, daemon=True)
    cpu0, t0 = time.process_time(), time.monotonic()
    reader.start()
    for start in range(0, len(packets), window // 2):
        with acks_ready:
            acks_ready.wait_for(lambda s=start: s - acked[0] <= window // 2, timeout=120)
        sock.sendall(b"".join(packets[start : start + window // 2]))
    with acks_ready:
        acks_ready.wait_for(lambda: acked[0] >= len(packets), timeout=300)
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    return elapsed, cpu


def sink(port: int, n: int) -> None:
    """Baseline subscriber: count n messages, print seconds from the first one."""
    got = [0]
    first = [0.0]
    done = threading.Event()

    def on_message(*_: object) -> None:
        if got[0] == 0:
            first[0] = time.monotonic()
        got[0] += 1
        if got[0] >= n:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(
        [
            (topics.all_stations(topics.Kind.EVENTS), 1),
            (topics.all_stations(topics.Kind.FOOTFALL), 1),
            (topics.all_stations(topics.Kind.TELEMETRY), 1),
        ]
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    print("ready", flush=True)
    done.wait(600)
    print(f"{time.monotonic() - first[0]:.3f} {time.process_time():.3f}", flush=True)
    client.loop_stop()


def fresh_db(kind: str) -> tuple[str, object]:
    """A URL to an empty database and a cleanup callable."""
    if kind == "sqlite":
        tmp = tempfile.mkdtemp(prefix="ws-bench-")
        return f"sqlite:///{tmp}/ingest.db", lambda: None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def postgres_cpu_s() -> float:
    """CPU seconds of every PostgreSQL server process on this machine (its whole work here)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().startswith("postgres"):
                    total += cpu_s(int(proc.name))
            except OSError:
                continue  # exited meanwhile
    return total


def handled_by_workers(ports: list[int]) -> float:
    """Messages the workers have committed (their `waystation_ingest_messages_total`, counted
    after each commit): a cheap progress reading. Counting rows in the database every 50 ms
    cost PostgreSQL ~10 % of a core on the machine being measured."""
    total = 0.0
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
            for line in r.read().decode().splitlines():
                if line.startswith("waystation_ingest_messages_total{"):
                    total += float(line.rsplit(" ", 1)[1])
    return total


def run(kind: str, workers: int, n: int, stations: int, broker: MosquittoProcess, mix: str) -> dict:
    url, cleanup = fresh_db(kind)
    engine = make_engine(url)
    try:
        init_db(engine)
        sids = [f"bench-{i:05d}" for i in range(stations)]
        upsert(engine, [StationRecord(id=s, name=s, lat=31.2, lon=121.4) for s in sids])
        payloads = messages(n, sids, mix)
        ports = [free_port() for _ in range(workers)]
        procs = start_ingest(broker.url, url, ports)
        try:
            wait_ready(ports)
            broker_cpu0 = cpu_s(broker.proc.pid)  # type: ignore[union-attr]
            worker_cpu0 = sum(cpu_s(p.pid) for p in procs)
            db_cpu0 = postgres_cpu_s() if kind == "postgresql" else 0.0
            t0 = time.monotonic()
            pub_s, gen_cpu = publish(broker.port, payloads)
            seen, last_change = -1.0, time.monotonic()
            while True:
                handled = handled_by_workers(ports)
                if handled >= n or time.monotonic() - last_change > 15:
                    break
                if handled != seen:
                    seen, last_change = handled, time.monotonic()
                time.sleep(0.05)
            total_s = time.monotonic() - t0
            worker_cpu = sum(cpu_s(p.pid) for p in procs) - worker_cpu0
            broker_cpu = cpu_s(broker.proc.pid) - broker_cpu0  # type: ignore[union-attr]
            db_cpu = postgres_cpu_s() - db_cpu0 if kind == "postgresql" else None
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
        count = select(func.count()).select_from
        with engine.connect() as conn:  # the exact check, once: what the database holds
            stored = sum(conn.scalar(count(table(m))) for m in (Event, FootfallInterval, Telemetry))
            dead = conn.scalar(count(table(DeadLetter)))
        assert dead == 0, f"{dead} dead letters: the generator's payloads are wrong"
        return {
            "db": kind, "workers": workers, "n": n, "stored": stored, "rate": n / total_s,
            "publish_rate": n / pub_s, "gen_cpu": gen_cpu, "worker_cpu": worker_cpu,
            "broker_cpu": broker_cpu, "db_cpu": db_cpu, "seconds": total_s,
        }  # fmt: skip
    finally:
        engine.dispose()
        cleanup()  # type: ignore[operator]


def baseline(n: int, stations: int, broker: MosquittoProcess, mix: str) -> dict:
    sids = [f"bench-{i:05d}" for i in range(stations)]
    payloads = messages(n, sids, mix)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--sink", str(broker.port), "--n", str(n)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    t0 = time.monotonic()
    pub_s, gen_cpu = publish(broker.port, payloads)
    _seconds, sub_cpu = map(float, proc.stdout.readline().split())
    proc.wait(30)
    total = time.monotonic() - t0
    return {"rate": n / total, "publish_rate": n / pub_s, "gen_cpu": gen_cpu, "sub_cpu": sub_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--db", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--mix",
        choices=sorted(MIXES),
        default="journal",
        help=str(MIXES).replace("%", "%%"),  # argparse formats help with %
    )
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        sink(args.sink, args.n)
        return
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoProcess(Path(tmp) / "broker", persistence=False).start()
        try:
            base = baseline(args.n, args.stations, broker, args.mix)
            print(
                f"n={args.n} messages, {args.stations} stations, {os.cpu_count()} cores, "
                f"mix {args.mix}: {MIXES[args.mix]}"
            )
            print(
                f"baseline (bare subscriber, no database): {base['rate']:,.0f} msg/s; "
                f"generator published at {base['publish_rate']:,.0f} msg/s using "
                f"{base['gen_cpu']:.2f} CPU s; subscriber {base['sub_cpu']:.1f} CPU s"
            )
            print("| database | workers | msg/s end to end | stored / sent | generator CPU s |"
                  " workers CPU s | worker µs/msg | broker CPU s | PostgreSQL CPU s |"
                  " vs baseline |")  # fmt: skip
            print("|---|---|---|---|---|---|---|---|---|---|")
            for kind in args.db:
                for w in args.workers:
                    r = run(kind, w, args.n, args.stations, broker, args.mix)
                    print(
                        f"| {kind} | {w} | {r['rate']:,.0f} | {r['stored']:,} / {r['n']:,} | "
                        f"{r['gen_cpu']:.2f} | {r['worker_cpu']:.1f} | "
                        f"{r['worker_cpu'] / r['n'] * 1e6:.0f} | {r['broker_cpu']:.1f} | "
                        f"{'—' if r['db_cpu'] is None else format(r['db_cpu'], '.1f')} | "
                        f"{r['rate'] / base['rate']:.2f}× |",
                        flush=True,
                    )
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
