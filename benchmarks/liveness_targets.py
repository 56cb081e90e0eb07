"""Issue 5's liveness targets, measured: how many seconds until the nearby API shows it.

Run: flock /tmp/ws-bench.lock .venv/bin/python benchmarks/liveness_targets.py
     [--stations 200] [--db sqlite|postgresql] [--skip-silent]

Real Mosquitto (ACL, passwords, persistence), one ingest worker, the nearby API in-process
(live-state reuse 1 s, as served), link-only stations (`waystation.harness.linkstation`: the real
`edge.link.mqtt.Link` and journal) with the production link defaults (keepalive 30 s, will
delay 10 s). The map is sampled every 0.25 s. Figures:

- killed (SIGKILL of the station's process) → the broker's `lost` → stored → not open;
- clean stop → `offline` → stored → not open;
- silent death (the station dies behind a blackhole: no FIN ever reaches the broker, as
  in a power cut at the station) → not open; runs ~60 s (skip with --skip-silent);
- radio flaps of 14 s (a blackhole; one ending in a reset): samples not open, `lost` sent;
- killed while 10 other stations flap (a reset every second, each back after 5 s), with the
  shipped will delay (10 s, cloud hold 2 s) and with will delay 0 + cloud hold 10 s:
  Mosquitto 2.0's pending-will queue holds the dead station's `lost` back (docs/operations.md);
- broker restart (SIGTERM, same port) with `--stations` stations: lowest open count,
  seconds until the count is back, stations stored or recorded lost/offline; once as shipped
  and once with the cloud's LostGuard switched off, to show what it prevents.

Baselines measured in the same run: the bare arithmetic (will delay + the cloud's hold +
batch wait + live-state reuse; 1.5 × keepalive + will delay for a silent death), and raw paho
clients' own reconnect time after the same broker restart.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cloud.ingest import subscriber
from edge.config import MqttConfig
from firmware_sim.netcut import NetCut
from waystation.harness.linkstation import LinkStation
from waystation.harness.liveness_rig import LivenessRig, records
from waystation.harness.logins import station_password

PG = os.environ.get("WAYSTATION_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TICK_S = 0.25


def first(times: list[float], after: float) -> float | None:
    later = [t for t in times if t >= after]
    return min(later) - after if later else None


def fmt(x: float | None) -> str:
    return "never" if x is None else f"{x:.1f} s"


class Clock:
    """Samples the map and the stored states every TICK_S until `until` says stop."""

    def __init__(self, rig: LivenessRig) -> None:
        self.rig = rig
        self.t0 = time.monotonic()
        self.closed: dict[str, list[float]] = {}  # sid → sample times it was not open
        self.stored: dict[str, list[tuple[float, str]]] = {}

    def now(self) -> float:
        return time.monotonic() - self.t0

    def run(self, plan: list[tuple[float, Callable[[], None]]], until: float) -> None:
        plan = sorted(plan, key=lambda p: p[0])
        while self.now() < until:
            t = self.now()
            while plan and plan[0][0] <= t:
                plan.pop(0)[1]()
            shown = self.rig.open_ids()
            for sid in self.rig.sids:
                if sid not in shown:
                    self.closed.setdefault(sid, []).append(t)
            for sid, (status, _sess) in self.rig.stored().items():
                self.stored.setdefault(sid, []).append((t, status))
            time.sleep(max(0.0, TICK_S - (self.now() - t)))

    def stored_at(self, sid: str, status: str) -> list[float]:
        return [t for t, s in self.stored.get(sid, []) if s == status]

    def seen(self, sid: str, status: str) -> list[float]:
        return [s.at - self.t0 for s in self.rig.observer.of(sid, status=status)]

    def cells(self, sid: str, status: str, act: float) -> str:
        """Seconds after `act` until the broker sent `status`, it was stored, the map showed it."""
        sent = fmt(first(self.seen(sid, status), act))
        stored = fmt(first(self.stored_at(sid, status), act))
        return f"`{status}` {sent} | {stored} | **{fmt(first(self.closed.get(sid, []), act))}**"


def single_station_targets(work: Path, db_url: str, silent: bool) -> None:
    sids = [f"sz-{i:04d}" for i in range(1, 6)]
    killed, clean, flap, reset, dead = sids
    rig = LivenessRig(work, records(5), db_url=db_url).start()
    proxies = {sid: NetCut(("127.0.0.1", rig.broker.port)).start() for sid in (flap, reset, dead)}
    links = {
        clean: LinkStation(clean, rig.url(clean), work / "st"),
        **{s: LinkStation(s, rig.url(s, proxies[s].port), work / "st") for s in proxies},
    }
    try:
        (proc,) = rig.spawn([killed])
        for link in links.values():
            link.start()
        while len(rig.live_ids()) < len(sids):
            time.sleep(0.1)
        clock = Clock(rig)
        act = 1.0
        plan: list[tuple[float, Callable[[], None]]] = [
            (act, proc.kill),
            (act, links[clean].stop),
            (act, proxies[flap].cut),
            (act, proxies[reset].cut),
            (act, proxies[dead].cut),
            (act + 0.01, links[dead].kill),  # dies behind the blackhole: no FIN gets out
            (act + 14, proxies[flap].heal),
            (act + 14, proxies[reset].reset),
            (act + 14, proxies[reset].heal),
        ]
        clock.run(plan, until=act + (70 if silent else 30))

        cfg = MqttConfig()
        settings = rig.settings
        tail = subscriber.LIVE_LOST_HOLD_S + settings.batch_max_wait_s + settings.live_state_ttl_s
        print(f"\nlink defaults: keepalive {cfg.keepalive_s} s, will delay {cfg.will_delay_s} s;")
        print(
            f"cloud: lost hold {subscriber.LIVE_LOST_HOLD_S} s, batch wait "
            f"{settings.batch_max_wait_s} s, live-state reuse {settings.live_state_ttl_s} s\n"
        )
        print("| target | broker sent | stored | not open on the map | baseline (arithmetic) |")
        print("|---|---|---|---|---|")
        batch_reuse = settings.batch_max_wait_s + settings.live_state_ttl_s
        print(
            f"| killed station (SIGKILL) ≤ 60 s | {clock.cells(killed, 'lost', act)} "
            f"| ≤ {cfg.will_delay_s + tail:.1f} s (will delay + hold + batch + reuse) |"
        )
        print(
            f"| clean stop ≤ 2 s | {clock.cells(clean, 'offline', act)} "
            f"| ≤ {batch_reuse:.1f} s (batch + reuse) |"
        )
        if silent:
            arithmetic = 1.5 * cfg.keepalive_s + 1 + cfg.will_delay_s + tail
            print(
                f"| silent death (power cut, no FIN) | {clock.cells(dead, 'lost', act)} "
                f"| ≤ {arithmetic:.1f} s (1.5 × keepalive + 1 s broker tick + the above) |"
            )
        for sid, what in ((flap, "14 s blackhole"), (reset, "14 s blackhole ending in a reset")):
            lost = clock.seen(sid, "lost")
            changes = len(clock.closed.get(sid, []))
            reborn = [t for t in clock.seen(sid, "online") if t > act]
            print(
                f"| flap: {what} changes nothing | {len(lost)} `lost`, "
                f"{len(reborn)} new birth(s) | — | **{changes} samples not open** "
                f"| broker notices silence after {1.5 * cfg.keepalive_s:.0f} s |"
            )
    finally:
        for sid, link in links.items():
            if sid != clean:
                link.kill()
        for proxy in proxies.values():
            proxy.stop()
        rig.close()


def churn(work: Path, db_url: str, *, will_delay_s: int, hold_s: float, seconds: float) -> None:
    """One station killed while 10 others flap (one connection reset every second, each back
    5 s later): Mosquitto's pending-will list is the bottleneck (see docs/operations.md)."""
    saved = subscriber.LIVE_LOST_HOLD_S
    subscriber.LIVE_LOST_HOLD_S = hold_s
    rig = LivenessRig(work, records(11), db_url=db_url).start()
    victim, flappers = rig.sids[0], rig.sids[1:]
    proxies = {sid: NetCut(("127.0.0.1", rig.broker.port)).start() for sid in flappers}
    links = [
        LinkStation(sid, rig.url(sid, proxies[sid].port), work / "st", will_delay_s=will_delay_s)
        for sid in flappers
    ]
    stop = threading.Event()

    def flap() -> None:
        for i in range(10_000):
            if stop.wait(1.0):
                return
            proxy = proxies[flappers[i % len(flappers)]]
            proxy.reset()
            proxy.cut()
            threading.Timer(5.0, proxy.heal).start()

    try:
        (proc,) = rig.spawn([victim], will_delay_s=will_delay_s)
        for link in links:
            link.start()
        while len(rig.live_ids()) < len(rig.sids):
            time.sleep(0.1)
        threading.Thread(target=flap, daemon=True).start()
        time.sleep(3.0)
        clock = Clock(rig)
        clock.run([(0.0, proc.kill), (seconds, stop.set)], until=seconds + 15)
        flaps = sum(len(clock.closed.get(sid, [])) for sid in flappers)
        print(
            f"| will delay {will_delay_s} s, cloud hold {hold_s:.0f} s, {seconds:.0f} s of churn "
            f"| {clock.cells(victim, 'lost', 0.0)} | {flaps} |"
        )
    finally:
        stop.set()
        for link in links:
            link.kill()
        for proxy in proxies.values():
            proxy.stop()
        rig.close()
        subscriber.LIVE_LOST_HOLD_S = saved


def restart(work: Path, db_url: str, n: int, *, guard: bool) -> None:
    rig = LivenessRig(work, records(n), db_url=db_url).start()
    try:
        if not guard:  # what ingest did before LostGuard: every `lost` stored as it comes
            rig.worker.lost_guard.offer = lambda msg, now: False  # type: ignore[method-assign]
        rig.spawn(rig.sids)
        while len(rig.live_ids()) < n:
            time.sleep(0.2)
        t0 = time.monotonic()
        rig.broker.restart()
        counts: list[tuple[float, int]] = []
        while time.monotonic() - t0 < 30:
            counts.append((time.monotonic() - t0, len(rig.open_ids())))
            if time.monotonic() - t0 > 20 and counts[-1][1] == n:
                break
            time.sleep(TICK_S)
        low = [t for t, c in counts if c < n]
        back = (max(low) + TICK_S) if low else 0.0
        false_states = sum(1 for s, _ in rig.stored().values() if s in ("lost", "offline"))
        history = {sid for sid, _ in rig.history()}
        sent = rig.observer.of(status="lost")
        label = "as shipped (LostGuard)" if guard else "LostGuard off"
        print(
            f"| {n} stations, {label} | {min(c for _, c in counts)} | **{fmt(back)}** "
            f"| {len(history)} | {false_states} | {len(sent)} "
            f"({sum(s.retained for s in sent)} retained) |"
        )
    finally:
        rig.close()


def raw_paho_baseline(work: Path, n: int) -> None:
    """n bare paho clients (same logins, 1 s first retry, no jitter): time to all back."""
    rig = LivenessRig(work, records(n), db_url=f"sqlite:///{work / 'raw.db'}").start()
    connects: dict[str, list[float]] = {}
    lock = threading.Lock()
    clients = []
    try:
        for sid in rig.sids:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=sid, protocol=mqtt.MQTTv5)
            c.username_pw_set(sid, station_password(sid))
            c.reconnect_delay_set(1, 60)

            def on_connect(*_a: object, sid: str = sid) -> None:
                with lock:
                    connects.setdefault(sid, []).append(time.monotonic())

            c.on_connect = on_connect
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 40
            c.connect_async("127.0.0.1", rig.broker.port, 30, clean_start=False, properties=props)
            c.loop_start()
            clients.append(c)
        while len(connects) < n:
            time.sleep(0.05)
        t0 = time.monotonic()
        rig.broker.restart()
        while sum(1 for v in connects.values() if v[-1] > t0) < n and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        back = max(v[-1] for v in connects.values()) - t0
        cells = f"all reconnected in **{back:.1f} s** | — | — | —"
        print(f"| {n} raw paho clients (baseline) | — | {cells} |")
    finally:
        for c in clients:
            c.disconnect()
            c.loop_stop()
        rig.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--skip-silent", action="store_true", help="skip the 60 s power-cut run")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; database {args.db}; map sampled every {TICK_S} s")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def url(name: str) -> str:
            if args.db == "sqlite":
                return f"sqlite:///{work / name}.db"
            return _pg_schema(name)

        single_station_targets(work / "single", url("single"), not args.skip_silent)
        print(
            "\n| killed station under churn | broker sent | stored | not open on the map "
            "| flapping stations' samples not open |"
        )
        print("|---|---|---|---|---|")
        churn(work / "churn10", url("churn10"), will_delay_s=10, hold_s=2, seconds=40)
        churn(work / "churn0", url("churn0"), will_delay_s=0, hold_s=10, seconds=40)
        print(
            "\n| broker restart | lowest open count | back to all open | stations in lost/offline "
            "history | stored lost/offline at the end | `lost` Mosquitto published |"
        )
        print("|---|---|---|---|---|---|")
        restart(work / "guard", url("guard"), args.stations, guard=True)
        restart(work / "noguard", url("noguard"), args.stations, guard=False)
        raw_paho_baseline(work / "raw", args.stations)
    for schema in SCHEMAS:
        _pg_admin(f'DROP SCHEMA "{schema}" CASCADE')


SCHEMAS: list[str] = []


def _pg_admin(sql: str) -> None:
    admin = create_engine(PG, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(sql))
    admin.dispose()


def _pg_schema(name: str) -> str:
    """A fresh PostgreSQL schema (dropped at the end) and the URL that uses it."""
    schema = f"ws_bench_{name}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE SCHEMA "{schema}"')
    SCHEMAS.append(schema)
    return (
        make_url(PG)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


if __name__ == "__main__":
    main()
