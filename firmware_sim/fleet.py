"""A simulated fleet: a runner that drives many simulated stations (their records come from
`firmware_sim.cities`).

`Fleet(records, union, FleetConfig(...))` runs thousands of `SimStation`s (each a real
`edge.agent.Agent` with its own MQTT session (client id = station id), journal and identity)
in one process with two threads: the scheduler (visits, door swings, heartbeats, from a heap
of due times) and, with `shared_loop=True`, one `firmware_sim.netloop.NetLoop` that drives
every station's paho client and journal drain over epoll (no thread per station, no select()
limit at fd 1023).
Fleet mode also uses thread-free door hardware (`SimStation(light_hardware=True)`) and raises
the open-file limit to its hard maximum (a station holds 3 descriptors: the socket, and the
journal's database and WAL; the journal runs in exclusive locking mode, so no -shm file),
saying so in the log.

Traffic: visits arrive as one Poisson stream for the whole fleet, thinned by a time-of-day
profile (`HOURLY`: night-shift workers 2-5 a.m., meal peaks 11-13 and 17-19, quiet
afternoons) and spread over stations by a per-station busyness weight; `time_scale`
compresses the day (60: an hour a minute). A granted visit opens the door, the member walks
through the beams (footfall), the door swings shut a few seconds later. Heartbeats and
footfall intervals run on real time. `render_frames=False` hands the decoded text to the
agent (`scan_text`) instead of rendering and decoding a QR frame per visit.

Interface for fault injection (`waystation.harness.injector`, the chaos audit), on `fleet.stations`
(a list of `SimStation`), each with:
- `.sid`; `.kill()`: power cut (connection dropped without DISCONNECT, so the broker sends the
  will; the agent stops without publishing `offline`; journal and identity stay on disk);
  `.restart()`: a fresh agent on the same journal and identity;
- `.partition(on)`: blackhole (the loop stops reading and writing the socket but keeps it
  open; the station keeps admitting and journaling); `.reset_connection()`: close the socket
  (the broker sees a drop, the link reconnects);
- `.clock_offset_s` (settable skew of the station's wall clock), `.freeze_camera(on)`;
- `.ledger`: list of `LedgerEntry(seq, key, kind, t)` (key = event_id or interval_start, t =
  journal time) of everything ever journaled, also what was acked and deleted, read from
  `<workdir>/<sid>/ledger.jsonl` (append-only; survives kill/restart).
`fleet.loop` is the `NetLoop` (None without `shared_loop`); `fleet.counters()` the live totals.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import queue
import random
import resource
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.journal import JournalClosedError
from firmware_sim.netloop import NetLoop
from firmware_sim.station import SimStation
from firmware_sim.union import SimUnion
from protocol.registry import StationRecord

log = logging.getLogger(__name__)


# Relative visit rate per hour of the day (local time). Night-shift sanitation workers and
# couriers at 2-5 a.m., meal peaks 11-13 and 17-19 (riders between orders), quiet afternoons.
HOURLY = (
    0.5, 0.5, 1.2, 1.5, 1.5, 1.2, 1.0, 1.3, 1.1, 1.0, 1.2, 2.6,
    3.0, 2.3, 0.8, 0.7, 0.9, 2.2, 2.8, 2.0, 1.3, 1.0, 0.8, 0.6,
)  # fmt: skip
TIMEZONE = ZoneInfo("Asia/Shanghai")
FDS_PER_STATION = 3  # socket + journal database and WAL (exclusive locking: no -shm file)
DOOR_OPEN_S = (2.0, 6.0)  # how long a member holds the door, seconds (uniform)


def profile_rate(hour: float) -> float:
    """Relative visit rate at `hour` (0-24, fractional), interpolated between hours; mean 1."""
    mean = sum(HOURLY) / 24
    h0 = int(hour) % 24
    frac = hour - math.floor(hour)
    return (HOURLY[h0] * (1 - frac) + HOURLY[(h0 + 1) % 24] * frac) / mean


def raise_fd_limit(stations: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard one; log it, and warn if it is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.info("open-file limit raised from %d to %d (RLIMIT_NOFILE hard limit)", soft, hard)
        soft = hard
    else:
        log.info("open-file limit %d (already the RLIMIT_NOFILE hard limit)", soft)
    need = stations * FDS_PER_STATION + 64
    if soft != resource.RLIM_INFINITY and soft < need:
        log.warning(
            "open-file limit %d is below the ~%d that %d stations need (%d each): stations "
            "past ~%d will fail to open journals or sockets; raise the hard limit (ulimit -Hn)",
            soft, need, stations, FDS_PER_STATION, (soft - 64) // FDS_PER_STATION,
        )  # fmt: skip
    return int(soft)


@dataclass(frozen=True)
class FleetConfig:
    """How a fleet runs: where its stations connect, how busy they are, in which mode."""

    broker_url: str | None  # None: every station offline (journals only grow)
    workdir: Path  # each station under workdir/<id>/
    mqtt_protocol: int = 5  # 5, or 311 (MQTT 3.1.1)
    visit_interval_s: float | None = 20.0  # a fixed mean gap per station; None: the profile
    telemetry_interval_s: float = 30.0  # heartbeat period, seconds
    seed: int = 0
    members: int = 20  # size of the enrolled member pool every station sees
    render_frames: bool = True  # False: decoded text straight to the agent (`scan_text`)
    footfall: bool = False  # beams at every door: members walk in, footfall is journaled
    shared_loop: bool = False  # one `NetLoop` thread for every station's link
    light_hardware: bool | None = None  # thread-free relay and door inputs; None: shared_loop
    doors: bool | None = None  # door swings after a grant; None: shared_loop
    visits_per_day: float = 200.0  # per station on average, profile mode
    time_scale: float = 1.0  # simulated seconds per real second (profile mode)
    start_at: datetime | None = None  # where the profile starts; None: now
    broker_url_for: Mapping[str, str] = field(default_factory=dict)  # per-station URL (login)


@dataclass
class FleetStats:
    visits: int = 0
    granted: int = 0
    denied: int = 0
    unread: int = 0  # visits whose code the camera did not read (no decision)
    heartbeats: int = 0
    door_swings: int = 0
    errors: int = 0


@dataclass(frozen=True)
class FleetCounters:
    """Live totals for the terminal (`sim fleet`) and benchmarks."""

    stations: int
    connected: int
    visits: int
    journaled: int
    acked: int  # journaled and already deleted on the cloud's ack
    backlog: int  # in the journals, not yet acked
    errors: int
    sim_time: datetime  # the time of day the traffic profile is at


class Fleet:
    """Runs simulated stations; one scheduler thread plays every visit and heartbeat."""

    def __init__(
        self, records: Iterable[StationRecord], union: SimUnion, config: FleetConfig
    ) -> None:
        self.records = list(records)
        self.union = union
        self.config = config
        self.start_at = (config.start_at or datetime.now(TIMEZONE)).astimezone(TIMEZONE)
        # Thread-free relay and door inputs; door swings after a grant (default: fleet mode).
        light, doors = config.light_hardware, config.doors
        self.light_hardware = config.shared_loop if light is None else light
        self.doors = config.shared_loop if doors is None else doors
        self.rng = random.Random(f"waystation-fleet-run-{config.seed}")
        self.stats = FleetStats()
        self.stations: list[SimStation] = []
        self.loop: NetLoop | None = None
        self._stop = threading.Event()
        self._traffic = threading.Event()  # clear: no visits (heartbeats go on)
        self._traffic.set()
        self._thread: threading.Thread | None = None
        self._inbox: queue.SimpleQueue[tuple[Callable[[], object], Future[object]]] = (
            queue.SimpleQueue()
        )
        self._started = time.monotonic()
        # Busyness per station (a station by a delivery hub sees ten times a quiet one's).
        self._weights = [self.rng.lognormvariate(0.0, 0.6) for _ in self.records]

    def start(self) -> None:
        """Enrol the member pool, start every station, then the scheduler."""
        if self.config.shared_loop:
            raise_fd_limit(len(self.records))
            self.loop = NetLoop("fleet-net").start()
        pool = [self.union.enroll(f"member-{i:05d}") for i in range(self.config.members)]
        expired = self.union.enroll_expired("fleet-expired") if self.config.shared_loop else None
        stations = []
        for record in self.records:
            station = SimStation(
                record,
                self.union,
                broker_url=self.config.broker_url_for.get(record.id, self.config.broker_url),
                workdir=self.config.workdir,
                mqtt_protocol=self.config.mqtt_protocol,
                rng=random.Random(self.rng.getrandbits(64)),
                members=pool,
                telemetry_interval_s=self.config.telemetry_interval_s,
                render_frames=self.config.render_frames,
                footfall=self.config.footfall,
                loop=self.loop,
                light_hardware=self.light_hardware,
            )
            stations.append(station)
        # Starting is mostly file I/O (journal, trust files, fsync): overlap it.
        with ThreadPoolExecutor(max_workers=8 if self.config.shared_loop else 1) as workers:
            list(workers.map(lambda s: s.start(expired), stations))
        self.stations = stations
        self._stop.clear()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._schedule, name="fleet", daemon=True)
        self._thread.start()

    def stop(self, clean: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

        def stop_one(station: SimStation) -> None:
            try:
                station.stop(clean=clean)
            except Exception:
                self.stats.errors += 1
                log.exception("%s: stop failed", station.sid)

        # A clean stop waits for the broker's PUBACK of `offline`: do many at once.
        with ThreadPoolExecutor(max_workers=64 if self.config.shared_loop else 1) as pool:
            list(pool.map(stop_one, self.stations))
        if self.loop is not None:
            self.loop.close()
            self.loop = None
        self.stations = []

    def pause_traffic(self, paused: bool = True) -> None:
        """Stop (or resume) visits; heartbeats, the link and the journals' drain go on. For a
        quiet settle period before comparing journals with the database."""
        if paused:
            self._traffic.clear()
        else:
            self._traffic.set()

    def submit(self, fn: Callable[[], object]) -> Future[object]:
        """Run `fn` on the scheduler thread, between visits (no race with a station's traffic)."""
        future: Future[object] = Future()
        self._inbox.put((fn, future))
        return future

    def visit_each(self) -> None:
        """Queue one visit at every station (tests: every station journals something)."""
        for station in self.stations:
            self.submit(lambda s=station: self._visit(s) and s.swing_door(is_open=False))

    def _run_inbox(self) -> None:
        while True:
            try:
                fn, future = self._inbox.get_nowait()
            except queue.Empty:
                return
            try:
                future.set_result(fn())
            except Exception as exc:
                self.stats.errors += 1
                future.set_exception(exc)

    # --- live figures ----------------------------------------------------------------------------

    def sim_time(self) -> datetime:
        """Where the traffic profile is: the start time plus elapsed × time_scale."""
        elapsed = (time.monotonic() - self._started) * self.config.time_scale
        return datetime.fromtimestamp(self.start_at.timestamp() + elapsed, TIMEZONE)

    def counters(self) -> FleetCounters:
        connected = journaled = backlog = 0
        for station in list(self.stations):
            journaled += station.journaled
            link = station.agent.link
            if station.killed:
                continue
            connected += bool(link is not None and link.connected)
            with contextlib.suppress(JournalClosedError, sqlite3.Error):  # killed meanwhile
                backlog += station.agent.journal.backlog()
        return FleetCounters(
            stations=len(self.stations),
            connected=connected,
            visits=self.stats.visits,
            journaled=journaled,
            acked=max(0, journaled - backlog),
            backlog=backlog,
            errors=self.stats.errors,
            sim_time=self.sim_time(),
        )

    # --- the scheduler ---------------------------------------------------------------------------

    def _fleet_rate(self, now: float) -> float:
        """Visits per real second for the whole fleet at monotonic time `now` (profile mode)."""
        sim = self.start_at.timestamp() + (now - self._started) * self.config.time_scale
        local = datetime.fromtimestamp(sim, TIMEZONE)
        hour = local.hour + local.minute / 60 + local.second / 3600
        config = self.config
        per_station = config.visits_per_day / 86_400 * profile_rate(hour) * config.time_scale
        return per_station * len(self.stations)

    def _schedule(self) -> None:
        now = time.monotonic()
        order = itertools.count()  # tie-breaker so the heap never compares stations
        heap: list[tuple[float, int, str, SimStation | None]] = []
        for station in self.stations:
            beat_at = now + self.rng.uniform(0.0, self.config.telemetry_interval_s)
            heap.append((beat_at, next(order), "heartbeat", station))
            if self.config.visit_interval_s is not None:
                visit_at = now + self.rng.expovariate(1.0 / self.config.visit_interval_s)
                heap.append((visit_at, next(order), "visit", station))
        if self.config.visit_interval_s is None and self.stations:
            heap.append((now, next(order), "arrival", None))
        heapq.heapify(heap)
        cum = list(itertools.accumulate(self._weights[: len(self.stations)]))
        while heap and not self._stop.is_set():
            self._run_inbox()
            due, _, kind, station = heap[0]
            wait = due - time.monotonic()
            if wait > 0:
                self._stop.wait(min(wait, 0.05))
                continue
            heapq.heappop(heap)
            if kind in ("arrival", "visit") and not self._traffic.is_set():
                heapq.heappush(heap, (due + 0.5, next(order), kind, station))
                continue
            try:
                if kind == "arrival":  # the fleet-wide stream: pick a station by busyness
                    station = self.rng.choices(self.stations, cum_weights=cum)[0]
                    if self._visit(station):
                        shut = due + self.rng.uniform(*DOOR_OPEN_S)
                        heapq.heappush(heap, (shut, next(order), "door", station))
                    rate = self._fleet_rate(time.monotonic())
                    due += self.rng.expovariate(rate) if rate > 0 else 1.0
                    station = None
                elif station is None:
                    continue
                elif kind == "visit":
                    if self._visit(station):
                        shut = due + self.rng.uniform(*DOOR_OPEN_S)
                        heapq.heappush(heap, (shut, next(order), "door", station))
                    due += self.rng.expovariate(1.0 / (self.config.visit_interval_s or 20.0))
                elif kind == "door":
                    station.swing_door(is_open=False)
                    continue  # one-off
                else:
                    station.heartbeat()
                    self.stats.heartbeats += 1
                    due += self.config.telemetry_interval_s
            except Exception:
                self.stats.errors += 1
                log.exception("%s: %s failed", station.sid if station else "fleet", kind)
                due = time.monotonic() + self.config.telemetry_interval_s
                if kind == "door":
                    continue
            heapq.heappush(heap, (max(due, time.monotonic()), next(order), kind, station))

    def _visit(self, station: SimStation) -> bool:
        """One visit; True if the member was let in and opened the door (fleet mode)."""
        decisions = station.visit()
        self.stats.visits += 1
        if not decisions:
            self.stats.unread += 1
        granted = False
        for decision in decisions:
            if decision.granted:
                self.stats.granted += 1
                granted = True
            else:
                self.stats.denied += 1
        if granted and self.doors:
            station.swing_door(is_open=True)
            self.stats.door_swings += 1
        return granted and self.doors
