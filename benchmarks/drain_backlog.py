"""Issue 9's drain target: a busy station offline for 24 h (≥ 5,000 events journaled) drains
at ≥ 2,000 events/s after reconnecting, without starving live events.

Run: flock /tmp/ws-bench.lock .venv/bin/python benchmarks/drain_backlog.py
     [--backlog 5000] [--live-hz 20] [--db postgresql|sqlite] [--inflight N] [--repeat 3]

Real Mosquitto (ACL, passwords, persistence), one real `waystation cloud ingest` process
(PostgreSQL by default), and one station's real `edge.link.mqtt.Link` over its real
`edge.journal.Journal`. The journal is filled offline with `--backlog` access events (the
24 h outage); then the link connects and the clock starts. Meanwhile live events are
journaled at `--live-hz` (a busy door). Figures:

- drain: seconds from connect until the journal is empty and acked, and events/s;
- live-event latency during the drain: journal write → the cloud's ack covering it (the row
  is committed in the database), p50 / p95 / max;
- baseline, same run: the same live events with an empty journal (no drain).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import uuid6
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cloud.db import init_db, make_engine
from cloud.stations.registry import upsert
from edge.clock import SystemClock
from edge.config import EdgeConfig, MqttConfig
from edge.journal import Journal
from edge.link.mqtt import Link
from edge.ports import LinkHooks
from firmware_sim.cities import make_records
from protocol.credential import Reason
from protocol.messages import AccessEvent, MetaPayload
from protocol.topics import Kind
from waystation.harness.ingest_pool import IngestPool
from waystation.harness.logins import ingest_login, station_password
from waystation.mosquitto import MosquittoProcess

PG = os.environ.get("WAYSTATION_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CLOUD_PW = "drain-cloud"  # a throwaway broker this script starts


def journal_event(journal: Journal, sid: str, clock: SystemClock) -> int:
    seq, _ = journal.append(
        Kind.EVENTS.value,
        lambda seq: AccessEvent(
            sid=sid,
            ts=clock.now(),
            event_id=uuid6.uuid7(),
            seq=seq,
            granted=True,
            reason=Reason.GRANTED,
            credential="ws1",
            kid="union-2026",
            serial=uuid.uuid4().hex[:24],
        ),
    )
    return seq


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Station:
    """One station's link and journal; acks timestamped per seq for the live latency."""

    def __init__(self, sid: str, port: int, workdir: Path, inflight: int | None) -> None:
        mqtt: dict[str, object] = {
            "broker": f"mqtt://{sid}:{station_password(sid)}@127.0.0.1:{port}"
        }
        if inflight is not None:
            mqtt["max_inflight"] = inflight
        self.sid = sid
        self.clock = SystemClock()
        self.config = EdgeConfig(
            station_id=sid,
            journal_path=workdir / sid / "journal.db",
            mqtt=MqttConfig.model_validate(mqtt),
        )
        self.journal = Journal(self.config.journal_path)
        self.journal.open()
        self.acks: list[tuple[float, int]] = []  # (monotonic, upto_seq)
        self.link = Link(
            self.config,
            self.journal,
            clock=self.clock,
            hooks=LinkHooks(
                meta=lambda: MetaPayload(sid=sid, ts=self.clock.now(), agent_version="bench"),
                on_ack=lambda upto: self.acks.append((time.monotonic(), upto)),
            ),
        )

    def acked_at(self, seq: int) -> float | None:
        for at, upto in self.acks:
            if upto >= seq:
                return at
        return None


def run_case(
    port: int, workdir: Path, sid: str, backlog: int, live_hz: float, inflight: int | None
) -> dict[str, float]:
    st = Station(sid, port, workdir, inflight)
    for _ in range(backlog):
        journal_event(st.journal, sid, st.clock)
    live: list[tuple[int, float]] = []
    stop = threading.Event()

    def door() -> None:
        while not stop.is_set():
            live.append((journal_event(st.journal, sid, st.clock), time.monotonic()))
            st.link.kick()
            stop.wait(1.0 / live_hz)

    t0 = time.monotonic()
    st.link.start()
    while not st.link.connected:
        time.sleep(0.005)
    connected = time.monotonic()
    door_thread = threading.Thread(target=door, daemon=True)
    door_thread.start()
    # the backlog is drained once an ack covers its last seq
    while st.acked_at(backlog) is None and time.monotonic() - t0 < 300:
        time.sleep(0.005)
    drained = time.monotonic()
    time.sleep(max(2.0, 0.5 * (drained - connected)))  # live events after the drain too
    stop.set()
    door_thread.join()
    deadline = time.monotonic() + 30
    while st.journal.backlog() and time.monotonic() < deadline:
        time.sleep(0.01)
    during = [
        (st.acked_at(seq) or float("nan")) - at for seq, at in live if at <= drained and backlog
    ]
    lat = [(st.acked_at(seq) or float("nan")) - at for seq, at in live]
    st.link.stop()
    st.journal.close()
    rate = backlog / (drained - connected) if backlog else float("nan")
    return {
        "backlog": backlog,
        "drain_s": drained - connected if backlog else 0.0,
        "rate": rate,
        "live": len(live),
        "live_p50_ms": 1000 * pct(lat, 0.5),
        "live_p95_ms": 1000 * pct(lat, 0.95),
        "live_max_ms": 1000 * max(lat) if lat else float("nan"),
        "during_n": len(during),
        "during_p50_ms": 1000 * pct(during, 0.5),
        "during_max_ms": 1000 * max(during) if during else float("nan"),
    }


def fresh_pg_schema() -> tuple[str, str]:
    schema = f"ws_drain_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = make_url(PG).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_pg_schema(schema: str) -> None:
    admin = create_engine(PG, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def count_events(db_url: str) -> int:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        n = int(conn.execute(text("SELECT COUNT(*) FROM event")).scalar_one())
    engine.dispose()
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--live-hz", type=float, default=20.0)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--inflight", type=int, default=None, help="max_inflight (default: as shipped)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ws-drain-"))
    sids = [f"sz-{i:04d}" for i in range(1, 2 * args.repeat + 2)]
    records = [
        r.model_copy(update={"id": sid})
        for r, sid in zip(make_records(len(sids)), sids, strict=True)
    ]
    schema = None
    if args.db == "postgresql":
        db_url, schema = fresh_pg_schema()
    else:
        db_url = f"sqlite:///{work / 'waystation.db'}"
    engine = make_engine(db_url)
    init_db(engine)
    upsert(engine, records)
    engine.dispose()
    users = {sid: station_password(sid) for sid in sids} | {ingest_login(0): CLOUD_PW}
    broker = MosquittoProcess(work / "mosquitto", users=users).start()
    ingest = IngestPool(
        [f"mqtt://{ingest_login(0)}:{CLOUD_PW}@127.0.0.1:{broker.port}"], db_url, work / "logs"
    )
    ingest.start_all()
    try:
        time.sleep(3.0)  # ingest migrates, connects and subscribes
        shipped = MqttConfig(broker="mqtt://x").max_inflight
        print(
            f"drain: backlog {args.backlog} events, live {args.live_hz:g}/s, db {args.db}, "
            f"max_inflight {args.inflight or shipped}"
        )
        it = iter(sids)
        results: dict[str, list[dict[str, float]]] = {"baseline": [], "drain": []}
        for _ in range(args.repeat):
            results["baseline"].append(
                run_case(broker.port, work, next(it), 0, args.live_hz, args.inflight)
            )
            results["drain"].append(
                run_case(broker.port, work, next(it), args.backlog, args.live_hz, args.inflight)
            )
        for name, runs in results.items():
            for r in runs:
                print(
                    f"{name:8s} backlog {r['backlog']:>6.0f}  drain {r['drain_s']:6.2f} s  "
                    f"{r['rate']:8.0f} ev/s  live n={r['live']:.0f} p50 {r['live_p50_ms']:6.0f} ms "
                    f"p95 {r['live_p95_ms']:6.0f} ms max {r['live_max_ms']:6.0f} ms  "
                    f"(during drain n={r['during_n']:.0f} p50 {r['during_p50_ms']:6.0f} ms "
                    f"max {r['during_max_ms']:6.0f} ms)"
                )
        rates = [r["rate"] for r in results["drain"]]
        print(f"drain rate median {statistics.median(rates):.0f} ev/s (target ≥ 2000)")
        expected = args.repeat * args.backlog + sum(
            r["live"] for runs in results.values() for r in runs
        )
        print(f"events in the database: {count_events(db_url)} of {expected:.0f} journaled")
    finally:
        ingest.stop()
        broker.stop()
        if schema is not None:
            drop_pg_schema(schema)


if __name__ == "__main__":
    main()
