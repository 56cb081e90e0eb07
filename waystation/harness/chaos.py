"""A chaos run: a simulated fleet with real traffic, a seeded fault plan, a settle, the audit.

`ChaosRun` owns what the faults need to touch: a Mosquitto with the project ACL and one
login per station (unless an external broker is given: then broker restarts are skipped),
`ingest_workers` real `waystation cloud ingest` subprocesses, each with a broker login of its
own (`cloud-ingest-1`, …: the broker takes the login as client id) and a persistent session
(SIGKILL and start again; 0 means a cloud already consumes the broker), and the stations.

Stations are `ChaosStation`s: a real `edge.agent.Agent` (`SimStation`, codes scanned as
text, beams counting footfall) behind its own `NetCut` proxy, with a wall clock that can be
skewed and a camera that can freeze. Each keeps a *ledger*: every row its journal ever
committed, appended to `ledger.jsonl` next to the journal after the commit, surviving kills
and restarts; it is what the audit holds the database to. (`firmware_sim.fleet` is getting
the same interface for 1,000+ stations in one process; `FaultInjector` and the audit only
need `waystation.harness.faults.FaultableStation` and `.ledger`.)

Timeline: traffic and faults for `minutes`; then the settle: every fault healed (killed
stations restarted), traffic stops, heartbeats go on, every journal drains and is acked;
then one station is stopped cleanly and one killed for good (so all three end states are
checked), and once their states have had time to reach the cloud, the audit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import numpy as np

from edge.clock import SystemClock
from firmware_sim.netcut import NetCut
from firmware_sim.station import SimStation
from firmware_sim.union import SimUnion
from firmware_sim.wallet import Wallet
from protocol.broker import BrokerUrl
from protocol.registry import StationRecord
from waystation.harness.audit import (
    AuditReport,
    LedgerEntry,
    Truth,
    audit,
    journal_backlog,
    ledger_path,
    read_ledger,
)
from waystation.harness.faults import ALL_KINDS, FaultInjector, FaultKind, FaultPlan, make_plan

log = logging.getLogger(__name__)

CAMERA_TICK_S = 1.0  # a frozen camera is looked at this often (CameraHealth needs 5 s of it)
LOST_SETTLE_S = 12.0 + 15.0 + 3.0  # LostGuard's live and retained holds, plus a batch


def station_password(sid: str, seed: int) -> str:
    return f"chaos-{seed}-{sid}"


def ingest_login(worker: int) -> str:
    """Ingest worker `worker`'s (0, 1, …) broker login: one each, since the broker takes the
    login as client id and two processes on one login would disconnect each other."""
    return f"cloud-ingest-{worker + 1}"


def ingest_logins(workers: int) -> list[str]:
    return [ingest_login(w) for w in range(workers)]


class OffsetClock(SystemClock):
    """The system clock plus `offset_s` on the wall side (monotonic time is untouched)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=self.offset_s)


class ChaosStation:
    """One station for a chaos run; implements `waystation.harness.faults.FaultableStation`."""

    def __init__(
        self,
        record: StationRecord,
        union: SimUnion,
        *,
        broker: tuple[str, int],
        password: str,
        workdir: Path,
        members: list[Wallet],
        rng: random.Random,
        telemetry_interval_s: float,
        footfall_interval_s: int,
    ) -> None:
        self.record = record
        self.sid = record.id
        self.union = union
        self.workdir = Path(workdir)
        self.members = members
        self.rng = rng
        self.telemetry_interval_s = telemetry_interval_s
        self.footfall_interval_s = footfall_interval_s
        self.proxy = NetCut(broker).start()
        self.broker_url = f"mqtt://{self.sid}:{password}@127.0.0.1:{self.proxy.port}"
        self.clock = OffsetClock()
        self.lock = threading.Lock()  # traffic vs faults: one at a time per station
        self.alive = False
        self.frozen = False
        self.truth = Truth.RUNNING
        self.restarts = 0
        self.sim: SimStation | None = None
        self.journal_path = self.workdir / self.sid / "journal.db"
        self.ledger_file = ledger_path(self.journal_path)
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        self._ledger: IO[str] = self.ledger_file.open("a", encoding="utf-8")
        self._ledger_lock = threading.Lock()
        self._good_frame = np.random.default_rng(0).integers(0, 255, (48, 64), dtype=np.uint8)

    # --- lifecycle ---------------------------------------------------------------------------

    def _build(self) -> SimStation:
        sim = SimStation(
            self.record,
            self.union,
            broker_url=self.broker_url,
            workdir=self.workdir,
            rng=random.Random(self.rng.getrandbits(64)),
            clock=self.clock,
            members=self.members,
            telemetry_interval_s=self.telemetry_interval_s,
            render_frames=False,
            footfall=True,
            footfall_interval_s=self.footfall_interval_s,
        )
        self._tap(sim)
        return sim

    def _tap(self, sim: SimStation) -> None:
        """Copy every committed journal row into the ledger (after the commit, so a row in
        the ledger is always a row the station promised to deliver)."""
        journal = sim.agent.journal
        append = journal.append

        def tapped(kind: str, make: Any) -> tuple[int, bytes]:
            seq, payload = append(kind, make)
            line = json.dumps({"seq": seq, "kind": str(kind), "payload": json.loads(payload)})
            with self._ledger_lock:
                self._ledger.write(line + "\n")
                self._ledger.flush()
            return seq, payload

        journal.append = tapped  # type: ignore[method-assign]

    def start(self) -> None:
        with self.lock:
            self.sim = self._build()
            self.sim.start()
            self.alive = True
            self.truth = Truth.RUNNING

    def kill(self) -> None:
        """Power cut: no `offline`, the broker sends the will; the journal stays on disk."""
        with self.lock:
            if self.sim is not None and self.alive:
                self.alive = False
                self.sim.stop(clean=False)
            self.truth = Truth.KILLED

    def restart(self) -> None:
        """Boot again from the same journal, footfall state and trust directory."""
        with self.lock:
            if self.alive:
                return
            self.sim = self._build()
            self.sim.start()
            self.alive = True
            self.frozen = False
            self.truth = Truth.RUNNING
            self.restarts += 1

    def stop(self) -> None:
        """A clean stop: retained `offline`, DISCONNECT."""
        with self.lock:
            if self.sim is not None and self.alive:
                self.alive = False
                self.sim.stop(clean=True)
            self.truth = Truth.STOPPED

    def drain_then(self, clean: bool, timeout_s: float = 30.0) -> bool:
        """Hold traffic off, wait for the journal to be acked empty, then stop (`clean`) or
        kill: the end states of a run, with nothing stranded in the journal."""
        with self.lock:
            drained = False
            deadline = time.monotonic() + timeout_s
            while self.alive and self.sim is not None and time.monotonic() < deadline:
                if self.sim.agent.journal.backlog() == 0:
                    drained = True
                    break
                time.sleep(0.05)
            if self.sim is not None and self.alive:
                self.alive = False
                self.sim.stop(clean=clean)
            self.truth = Truth.STOPPED if clean else Truth.KILLED
            return drained

    def close(self) -> None:
        """End of the run: kill if still running (no state published), close the proxy."""
        with self.lock:
            if self.sim is not None and self.alive:
                self.alive = False
                self.sim.stop(clean=False)
        self.proxy.stop()
        with self._ledger_lock:
            self._ledger.close()

    # --- faults ------------------------------------------------------------------------------

    def partition(self, on: bool) -> None:
        self.proxy.cut() if on else self.proxy.heal()

    def reset_connection(self) -> None:
        self.proxy.reset()

    @property
    def clock_offset_s(self) -> float:
        return self.clock.offset_s

    @clock_offset_s.setter
    def clock_offset_s(self, value: float) -> None:
        self.clock.offset_s = float(value)

    def freeze_camera(self, on: bool) -> None:
        with self.lock:
            was, self.frozen = self.frozen, on
            if was and not on and self.alive and self.sim is not None:
                self.sim.agent.on_frame(self._good_frame)  # camera_down cleared, state online

    # --- traffic (the fleet driver calls these; skipped while a fault holds the station) ----

    def _try(self, fn: Any) -> bool:
        if not self.lock.acquire(blocking=False):
            return False
        try:
            if not self.alive or self.sim is None:
                return False
            fn(self.sim)
            return True
        finally:
            self.lock.release()

    def visit(self) -> bool:
        """A member at the door; a frozen camera reads nothing."""
        return self._try(lambda sim: None if self.frozen else sim.visit())

    def heartbeat(self) -> bool:
        return self._try(lambda sim: sim.heartbeat())

    def camera_tick(self) -> bool:
        return self._try(lambda sim: sim.agent.on_frame(None) if self.frozen else None)

    # --- what the audit reads ------------------------------------------------------------------

    @property
    def ledger(self) -> list[LedgerEntry]:
        return read_ledger(self.ledger_file)

    def backlog(self) -> int:
        with self.lock:
            if self.alive and self.sim is not None:
                return self.sim.agent.journal.backlog()
        return journal_backlog(self.journal_path)

    def connected(self) -> bool:
        sim = self.sim
        return bool(self.alive and sim is not None and sim.agent.link and sim.agent.link.connected)


class IngestPool:
    """`waystation cloud ingest` subprocesses with fixed client ids (persistent sessions);
    worker i logs in with `broker_urls[i]`, a login of its own."""

    def __init__(self, broker_urls: list[str], db_url: str, logdir: Path) -> None:
        self.broker_urls = list(broker_urls)
        self.db_url = db_url
        self.workers = len(self.broker_urls)
        self.logdir = Path(logdir)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.kills = 0
        self._logs: list[IO[bytes]] = []

    def _command(self, worker: int) -> list[str]:
        script = Path(sys.executable).with_name("waystation")
        head = [str(script)] if script.exists() else [sys.executable, "-m", "waystation.cli"]
        return [
            *head,
            "cloud",
            "ingest",
            "--broker",
            self.broker_urls[worker],
            "--db",
            self.db_url,
            "--client-id",
            f"chaos-ingest-{worker}",
        ]

    def start(self, worker: int) -> None:
        if worker in self.procs and self.procs[worker].poll() is None:
            return
        self.logdir.mkdir(parents=True, exist_ok=True)
        out = (self.logdir / f"ingest-{worker}.log").open("ab")
        self._logs.append(out)
        root = Path(__file__).resolve().parents[2]  # the checkout: the project on PYTHONPATH
        env = os.environ | {"PYTHONPATH": str(root)}
        self.procs[worker] = subprocess.Popen(  # noqa: S603 - our own command line
            self._command(worker), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root
        )

    def start_all(self) -> None:
        for worker in range(self.workers):
            self.start(worker)

    def kill(self, worker: int) -> None:
        """SIGKILL: no clean stop, no `_cloud/state` offline of its own (the broker's will)."""
        proc = self.procs.get(worker)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
            self.kills += 1

    def wait_subscribed(self, timeout_s: float = 30.0) -> bool:
        """Until every worker logged its subscription (stations started before that would
        have their first messages dropped by the broker: no subscriber yet)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            logs = [self.logdir / f"ingest-{w}.log" for w in range(self.workers)]
            if all(
                p.exists() and "connected, subscribed" in p.read_text("utf-8", "replace")
                for p in logs
            ):
                time.sleep(0.5)  # the SUBACK follows the log line
                return True
            time.sleep(0.1)
        return False

    def alive(self) -> int:
        return sum(p.poll() is None for p in self.procs.values())

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for out in self._logs:
            out.close()


@dataclass
class ChaosConfig:
    stations: int = 8
    minutes: float = 1.0
    seed: int = 1
    db_url: str = "sqlite:///waystation-chaos.db"
    broker_url: str | None = None  # None: start (and restart) our own Mosquitto
    ingest_workers: int = 1
    workdir: Path = Path("waystation-chaos")
    visit_interval_s: float = 2.0  # mean gap between visits at one station
    telemetry_interval_s: float = 5.0
    footfall_interval_s: int = 10
    faults_per_minute: float = 2.0
    kinds: tuple[FaultKind, ...] = ALL_KINDS
    settle_timeout_s: float = 120.0
    city: str = "shenzhen"


@dataclass
class ChaosResult:
    report: AuditReport
    plan: FaultPlan
    played: list[str]
    skipped: list[str]
    settled_s: float
    drained: bool
    visits: int
    stats: dict[str, Any] = field(default_factory=dict)


class ChaosRun:
    """Set up, play, settle, audit. `run()` does it all and always cleans up."""

    def __init__(
        self,
        config: ChaosConfig,
        *,
        progress: Any = None,
        broker: Any = None,
        passwords: Any = None,
    ) -> None:
        """`broker`: a started `MosquittoProcess` to use (and restart) instead of our own;
        `passwords(user)` then gives each station's and each ingest login's password."""
        self.config = config
        self.progress = progress or (lambda msg: log.info("%s", msg))
        self.workdir = Path(config.workdir)
        self.records: list[StationRecord] = []
        self.stations: dict[str, ChaosStation] = {}
        self.broker: Any = broker
        self._own_broker = broker is None
        self._passwords = passwords
        self.ingest: IngestPool | None = None
        self.visits = 0
        self._traffic = threading.Event()  # set: visits run
        self._beats = threading.Event()  # set: heartbeats run
        self._stop = threading.Event()
        self._driver: threading.Thread | None = None

    # --- setup ----------------------------------------------------------------------------------

    def _setup(self) -> None:
        from cloud.db import init_db, make_engine
        from cloud.registry import upsert
        from firmware_sim.fleet import make_records
        from waystation.mosquitto import MosquittoProcess

        c = self.config
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.records = [
            r.model_copy(update={"opening_hours": "24/7"})
            for r in make_records(c.stations, seed=c.seed, city=c.city)
        ]
        if self._passwords is None:
            self._passwords = lambda user: station_password(user, c.seed)
        logins = ingest_logins(c.ingest_workers)
        if self.broker is not None or c.broker_url is None:
            if self.broker is None:
                users = {u: self._passwords(u) for u in [r.id for r in self.records] + logins}
                self.broker = MosquittoProcess(self.workdir / "mosquitto", users=users).start()
            host, port = "127.0.0.1", self.broker.port
            ingest_urls = [f"mqtt://{u}:{self._passwords(u)}@{host}:{port}" for u in logins]
        else:
            assert c.broker_url is not None
            ingest_urls = [c.broker_url.replace("{sid}", u) for u in logins]
            parsed = BrokerUrl.parse(c.broker_url.replace("{sid}", "cloud"))
            host, port = parsed.host, parsed.port
        self.engine = make_engine(c.db_url)
        init_db(self.engine)
        upsert(self.engine, self.records)
        if c.ingest_workers > 0:
            self.ingest = IngestPool(ingest_urls, c.db_url, self.workdir / "logs")
            self.ingest.start_all()
            if not self.ingest.wait_subscribed():
                log.warning("chaos: ingest not subscribed after 30 s (see %s)", self.ingest.logdir)
        template = c.broker_url or ""
        union = SimUnion.create(c.seed)
        rng = random.Random(f"waystation-chaos-fleet-{c.seed}")
        pool = [union.enroll(f"member-{i:04d}") for i in range(12)]
        for record in self.records:
            password = (
                self._passwords(record.id)
                if self.broker is not None
                else (BrokerUrl.parse(template.replace("{sid}", record.id)).password or "")
            )
            self.stations[record.id] = ChaosStation(
                record,
                union,
                broker=(host, port),
                password=password,
                workdir=self.workdir / "stations",
                members=pool,
                rng=random.Random(rng.getrandbits(64)),
                telemetry_interval_s=c.telemetry_interval_s,
                footfall_interval_s=c.footfall_interval_s,
            )
        for station in self.stations.values():
            station.start()
        self._wait(lambda: all(s.connected() for s in self.stations.values()), 60, "connected")

    def _wait(self, predicate: Any, timeout_s: float, what: str) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                log.warning("chaos: gave up waiting for %s after %.0f s", what, timeout_s)
                return False
            time.sleep(0.2)
        return True

    # --- traffic -------------------------------------------------------------------------------

    def _drive(self) -> None:
        c = self.config
        rng = random.Random(f"waystation-chaos-traffic-{c.seed}")
        now = time.monotonic()
        due: dict[tuple[str, str], float] = {}
        for sid in self.stations:
            due[(sid, "visit")] = now + rng.expovariate(1.0 / c.visit_interval_s)
            due[(sid, "beat")] = now + rng.uniform(0, c.telemetry_interval_s)
            due[(sid, "camera")] = now + rng.uniform(0, CAMERA_TICK_S)
        while not self._stop.is_set():
            now = time.monotonic()
            for (sid, kind), at in list(due.items()):
                if at > now:
                    continue
                station = self.stations[sid]
                try:
                    if kind == "visit":
                        if self._traffic.is_set() and station.visit():
                            self.visits += 1
                        due[(sid, kind)] = now + rng.expovariate(1.0 / c.visit_interval_s)
                    elif kind == "beat":
                        if self._beats.is_set():
                            station.heartbeat()
                        due[(sid, kind)] = now + c.telemetry_interval_s
                    else:
                        station.camera_tick()
                        due[(sid, kind)] = now + CAMERA_TICK_S
                except Exception:
                    log.exception("chaos: %s %s failed", sid, kind)
                    due[(sid, kind)] = now + 1.0
            self._stop.wait(0.02)

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> ChaosResult:
        c = self.config
        try:
            self._setup()
            plan = make_plan(
                c.seed,
                list(self.stations),
                c.minutes * 60.0,
                kinds=c.kinds,
                per_minute=c.faults_per_minute,
                ingest_workers=max(1, c.ingest_workers),
            )
            injector = FaultInjector(plan, self.stations, broker=self.broker, ingest=self.ingest)
            self._traffic.set()
            self._beats.set()
            self._driver = threading.Thread(target=self._drive, name="chaos-traffic", daemon=True)
            self._driver.start()
            self.progress(
                f"chaos: {len(self.stations)} stations, {len(plan.faults)} faults over "
                f"{c.minutes:g} min (seed {c.seed})"
            )
            injector.start()
            end = time.monotonic() + c.minutes * 60.0
            while time.monotonic() < end:
                time.sleep(min(5.0, max(0.0, end - time.monotonic())))
                self.progress(
                    f"chaos: {injector.elapsed():5.0f} s, {self.visits} visits, "
                    f"{len(injector.log)} fault actions"
                )
            # --- settle: heal, stop visits, drain ---
            self._traffic.clear()
            healed = injector.heal_all()
            self.progress(f"chaos: settling (healed {len(healed)})")
            settle_started = time.monotonic()
            drained = self._settle()
            settled_s = time.monotonic() - settle_started
            self._finish_states()
            # heartbeats may close footfall intervals: quiet them and let the last ones drain
            self._beats.clear()
            self._settle(timeout_s=20.0)
            report = self._audit()
            return ChaosResult(
                report=report,
                plan=plan,
                played=[f"{a.at_s:.1f}s {a.name}{'' if a.ok else ' FAILED'}" for a in injector.log],
                skipped=[f"{f.kind.value}@{f.at_s:.0f}s" for f in injector.skipped],
                settled_s=round(settled_s, 1),
                drained=drained,
                visits=self.visits,
                stats={
                    "ingest_kills": self.ingest.kills if self.ingest else 0,
                    "restarts": sum(s.restarts for s in self.stations.values()),
                    "kinds_played": sorted(k.value for k in injector.played),
                    "historical_stored": self._historical(),
                    "journaled_by_kind": dict(
                        Counter(e.kind for s in self.stations.values() for e in s.ledger)
                    ),
                },
            )
        finally:
            self._cleanup()

    def _settle(self, timeout_s: float | None = None) -> bool:
        """Wait until every running station is connected and its journal is empty."""
        running = [s for s in self.stations.values() if s.truth is Truth.RUNNING]

        def drained() -> bool:
            return all(s.connected() and s.backlog() == 0 for s in running)

        timeout_s = self.config.settle_timeout_s if timeout_s is None else timeout_s
        return self._wait(drained, timeout_s, "every journal drained")

    def _finish_states(self) -> None:
        """One station stopped cleanly and one killed for good (with ≥ 3 stations), then
        time for their `offline` / held `lost` to reach the database."""
        sids = sorted(self.stations)
        if len(sids) < 3:
            return
        rng = random.Random(f"waystation-chaos-end-{self.config.seed}")
        stop_sid, kill_sid = rng.sample(sids, 2)
        self.stations[stop_sid].drain_then(clean=True)
        self.stations[kill_sid].drain_then(clean=False)
        self.progress(f"chaos: stopped {stop_sid} cleanly, killed {kill_sid} for good")

        def states_reached() -> bool:
            report = self._audit()
            return all(s.status == s.truth.value for s in report.stations)

        time.sleep(LOST_SETTLE_S / 3)
        self._wait(states_reached, LOST_SETTLE_S + 15, "the end states in the database")

    def _historical(self) -> int:
        """Events the cloud stored as replayed from a journal (sent after a disconnect)."""
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return int(
                conn.execute(text("SELECT COUNT(*) FROM event WHERE historical")).scalar_one()
            )

    def _audit(self) -> AuditReport:
        ledgers = {sid: s.ledger for sid, s in self.stations.items()}
        truths = {sid: s.truth for sid, s in self.stations.items()}
        backlogs = {sid: s.backlog() for sid, s in self.stations.items()}
        return audit(self.engine, ledgers, truths, backlogs, now=datetime.now(UTC))

    def _cleanup(self) -> None:
        self._stop.set()
        if self._driver is not None:
            self._driver.join(10)
        for station in self.stations.values():
            with contextlib.suppress(Exception):
                station.close()
        if self.ingest is not None:
            self.ingest.stop()
        if self.broker is not None and self._own_broker:
            self.broker.stop()
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.dispose()
