"""A chaos run: a simulated fleet with real traffic, a seeded fault plan, a settle, the audit.

`ChaosRun` owns what the faults need to touch: a Mosquitto with the project ACL and one
login per station (unless an external broker is given: then broker restarts are skipped),
`ingest_workers` real `waystation cloud ingest` subprocesses, each with a broker login of its
own (`cloud-ingest-1`, …: the broker takes the login as client id) and a persistent session
(SIGKILL and start again; 0 means a cloud already consumes the broker), and the stations.

Stations are `ChaosStation`s (`waystation.harness.chaos_station`): a real `edge.agent.Agent`
(`SimStation`, codes scanned as text, beams counting footfall) behind its own `NetCut` proxy,
with a wall clock that can be skewed and a camera that can freeze. Each keeps a *ledger*:
every row its journal ever committed, appended beside the journal after the commit,
surviving kills and restarts, with the counts of its footfall intervals; it is what the
audit holds the database to. (`FaultInjector` and the audit only need
`waystation.harness.injector.FaultableStation` and `.ledger`, which `firmware_sim.fleet`'s
stations have too.)

Timeline: traffic and faults for `minutes`; then the settle: every fault healed (killed
stations restarted), traffic stops, heartbeats go on, every journal drains and is acked;
then one station is stopped cleanly and one killed for good (so all three end states are
checked), and once their states have had time to reach the cloud, the audit.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from firmware_sim.union import SimUnion
from protocol.broker import BrokerUrl
from protocol.registry import StationRecord
from waystation.harness.audit import AuditReport, Evidence, Truth, audit
from waystation.harness.chaos_station import ChaosStation, StationSetup
from waystation.harness.faults import ALL_KINDS, FaultKind, FaultPlan, make_plan
from waystation.harness.ingest_pool import IngestPool
from waystation.harness.injector import FaultInjector
from waystation.harness.logins import ingest_logins, station_password

log = logging.getLogger(__name__)

CAMERA_TICK_S = 1.0  # a frozen camera is looked at this often (CameraHealth needs 5 s of it)
LOST_SETTLE_S = 12.0 + 15.0 + 3.0  # LostGuard's live and retained holds, plus a batch


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
        from cloud.stations.registry import upsert
        from firmware_sim.cities import make_records
        from waystation.mosquitto import MosquittoProcess

        c = self.config
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.records = [
            r.model_copy(update={"opening_hours": "24/7"})
            for r in make_records(c.stations, seed=c.seed, city=c.city)
        ]
        if self._passwords is None:
            self._passwords = lambda user: station_password(user, f"chaos-{c.seed}")
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
        setup = StationSetup(
            broker=(host, port),
            workdir=self.workdir / "stations",
            union=union,
            members=[union.enroll(f"member-{i:04d}") for i in range(12)],
            telemetry_interval_s=c.telemetry_interval_s,
            footfall_interval_s=c.footfall_interval_s,
        )
        for record in self.records:
            password = (
                self._passwords(record.id)
                if self.broker is not None
                else (BrokerUrl.parse(template.replace("{sid}", record.id)).password or "")
            )
            self.stations[record.id] = ChaosStation(
                record, setup, password=password, rng=random.Random(rng.getrandbits(64))
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
        evidence = {
            sid: Evidence(s.ledger, s.truth, s.backlog(), s.footfall_counts)
            for sid, s in self.stations.items()
        }
        return audit(self.engine, evidence, now=datetime.now(UTC))

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
