"""A simulated fleet: station records around a real city, and a runner that drives them.

`make_records` scatters stations around district centres of a city (WGS-84), with Chinese
names, operators and addresses in the style of real 户外劳动者服务站 listings.

`Fleet` runs thousands of `SimStation`s (each a real `edge.agent.Agent` with its own MQTT
session (client id = station id), journal and identity) in one process with two threads:
the scheduler (visits, door swings, heartbeats, from a heap of due times) and, with
`shared_loop=True`, one `firmware_sim.netloop.NetLoop` that drives every station's paho
client and journal drain over epoll (no thread per station, no select() limit at fd 1023).
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

Interface for fault injection (`firmware_sim.faults`, the chaos audit), on `fleet.stations`
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
import csv
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
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.journal import JournalClosedError
from firmware_sim.netloop import NetLoop
from firmware_sim.station import SimStation
from firmware_sim.union import SimUnion
from protocol.registry import CSV_COLUMNS, StationRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class City:
    name: str  # Chinese, as in addresses: 深圳市
    prefix: str  # station id prefix
    centre: tuple[float, float]  # WGS-84 lat, lon of the city centre
    districts: tuple[tuple[str, float, float], ...]  # name, lat, lon of its centre
    roads: tuple[str, ...]
    subdistricts: tuple[str, ...]  # 街道, for operator names


CITIES: dict[str, City] = {
    "shenzhen": City(
        "深圳市",
        "sz",
        (22.5431, 114.0579),
        (
            ("福田区", 22.5431, 114.0579),
            ("罗湖区", 22.5484, 114.1316),
            ("南山区", 22.5333, 113.9305),
            ("宝安区", 22.5553, 113.8836),
            ("龙华区", 22.6967, 114.0447),
            ("龙岗区", 22.7205, 114.2466),
        ),
        ("深南大道", "福华路", "红荔路", "滨河大道", "北环大道", "彩田路", "新洲路", "益田路"),
        ("莲花街道", "华富街道", "沙头街道", "南园街道", "粤海街道", "新安街道"),
    ),
    "beijing": City(
        "北京市",
        "bj",
        (39.9042, 116.4074),
        (
            ("东城区", 39.9288, 116.4160),
            ("西城区", 39.9123, 116.3660),
            ("朝阳区", 39.9215, 116.4436),
            ("海淀区", 39.9593, 116.2981),
            ("丰台区", 39.8585, 116.2871),
        ),
        ("长安街", "建国路", "朝阳北路", "中关村大街", "西直门外大街", "东三环中路"),
        ("建国门街道", "金融街街道", "三里屯街道", "中关村街道", "望京街道"),
    ),
    "shanghai": City(
        "上海市",
        "sh",
        (31.2304, 121.4737),
        (
            ("黄浦区", 31.2317, 121.4846),
            ("静安区", 31.2291, 121.4482),
            ("徐汇区", 31.1885, 121.4365),
            ("长宁区", 31.2204, 121.4243),
            ("浦东新区", 31.2215, 121.5447),
            ("杨浦区", 31.2595, 121.5260),
        ),
        ("南京东路", "淮海中路", "世纪大道", "延安西路", "四川北路", "肇嘉浜路"),
        ("外滩街道", "南京西路街道", "徐家汇街道", "陆家嘴街道", "五角场街道"),
    ),
    "hangzhou": City(
        "杭州市",
        "hz",
        (30.2741, 120.1551),
        (
            ("上城区", 30.2426, 120.1691),
            ("拱墅区", 30.3197, 120.1420),
            ("西湖区", 30.2592, 120.1300),
            ("滨江区", 30.2084, 120.2120),
            ("余杭区", 30.4190, 120.3000),
        ),
        ("延安路", "文三路", "天目山路", "江南大道", "莫干山路", "解放路"),
        ("湖滨街道", "米市巷街道", "西溪街道", "西兴街道", "五常街道"),
    ),
}

KINDS = ("户外劳动者服务站", "工会驿站", "劳动者港湾", "爱心驿站")
COMPANIES = ("顺丰速运", "美团", "饿了么", "中国石化", "中国邮政", "京东物流", "招商银行")
# Share of stations offering each amenity; water and seats are what makes it a station.
AMENITY_P = {
    "water": 1.0,
    "microwave": 0.7,
    "fridge": 0.35,
    "charging": 0.9,
    "toilet": 0.6,
    "mother_baby": 0.15,
    "first_aid": 0.55,
    "rest_seats": 1.0,
    "air_conditioning": 0.8,
}
DISTRICT_SPREAD_M = 1800.0  # standard deviation of a station's distance from its district
_M_PER_DEG_LAT = 111_320.0


def _operator(city: City, district: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice((f"{city.name}总工会", f"{district}总工会"))
    if roll < 0.8:
        return f"{district}{rng.choice(city.subdistricts)}办事处"
    return f"{rng.choice(COMPANIES)}{city.name[:-1]}分公司"


def _hours(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.75:
        return "24/7"
    return "Mo-Su 07:00-22:00" if roll < 0.92 else "Mo-Su 08:00-20:00"


def make_records(n: int, *, seed: int = 0, city: str = "shenzhen") -> list[StationRecord]:
    """`n` stations around `city` (shenzhen, beijing, shanghai, hangzhou); same seed, same list."""
    try:
        c = CITIES[city]
    except KeyError:
        raise ValueError(f"unknown city {city!r}; known: {', '.join(CITIES)}") from None
    rng = random.Random(f"waystation-fleet-{city}-{seed}")
    counters: dict[tuple[str, str], int] = {}
    records = []
    for i in range(1, n + 1):
        district, dlat, dlon = rng.choice(c.districts)
        north = rng.gauss(0.0, DISTRICT_SPREAD_M)
        east = rng.gauss(0.0, DISTRICT_SPREAD_M)
        lat = dlat + north / _M_PER_DEG_LAT
        lon = dlon + east / (_M_PER_DEG_LAT * math.cos(math.radians(dlat)))
        kind = rng.choice(KINDS)
        number = counters[(district, kind)] = counters.get((district, kind), 0) + 1
        amenities = [a for a, p in AMENITY_P.items() if rng.random() < p]
        records.append(
            StationRecord(
                id=f"{c.prefix}-{i:04d}",
                name=f"{district}{kind} #{number}",
                lat=round(lat, 6),
                lon=round(lon, 6),
                amenities=amenities,
                opening_hours=_hours(rng),
                operator=_operator(c, district, rng),
                address=f"{c.name}{district}{rng.choice(c.roads)}{rng.randint(1, 3999)}号",
                city=c.name,
            )
        )
    return records


def write_registry_csv(records: Iterable[StationRecord], path: Path | str) -> Path:
    """Write the registry CSV (`CSV_COLUMNS`, UTF-8) that `stations import` reads."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow(record.csv_row())
    return path


def read_registry_csv(path: Path | str) -> list[StationRecord]:
    with Path(path).open(encoding="utf-8", newline="") as fh:
        return [StationRecord.model_validate(row) for row in csv.DictReader(fh)]


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
        self,
        records: Iterable[StationRecord],
        union: SimUnion,
        *,
        broker_url: str | None,
        workdir: Path,
        mqtt_protocol: int = 5,
        visit_interval_s: float | None = 20.0,
        telemetry_interval_s: float = 30.0,
        seed: int = 0,
        members: int = 20,
        render_frames: bool = True,
        footfall: bool = False,
        shared_loop: bool = False,
        light_hardware: bool | None = None,
        doors: bool | None = None,
        visits_per_day: float = 200.0,
        time_scale: float = 1.0,
        start_at: datetime | None = None,
        broker_url_for: dict[str, str] | None = None,
    ) -> None:
        self.records = list(records)
        self.union = union
        self.broker_url = broker_url
        self.broker_url_for = broker_url_for or {}  # per-station URL (login), else broker_url
        self.workdir = Path(workdir)
        self.mqtt_protocol = mqtt_protocol
        # A fixed mean gap between visits at one station; None: the time-of-day profile.
        self.visit_interval_s = visit_interval_s
        self.visits_per_day = visits_per_day  # per station on average, profile mode
        self.time_scale = time_scale  # simulated seconds per real second (profile mode)
        self.start_at = (start_at or datetime.now(TIMEZONE)).astimezone(TIMEZONE)
        self.telemetry_interval_s = telemetry_interval_s
        self.members = members
        self.render_frames = render_frames
        self.footfall = footfall  # beams at every door: members walk in, footfall is journaled
        self.shared_loop = shared_loop
        # Thread-free relay and door inputs; door swings after a grant (default: fleet mode).
        self.light_hardware = shared_loop if light_hardware is None else light_hardware
        self.doors = shared_loop if doors is None else doors
        self.rng = random.Random(f"waystation-fleet-run-{seed}")
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
        if self.shared_loop:
            raise_fd_limit(len(self.records))
            self.loop = NetLoop("fleet-net").start()
        pool = [self.union.enroll(f"member-{i:05d}") for i in range(self.members)]
        expired = self.union.enroll_expired("fleet-expired") if self.shared_loop else None
        stations = []
        for record in self.records:
            station = SimStation(
                record,
                self.union,
                broker_url=self.broker_url_for.get(record.id, self.broker_url),
                workdir=self.workdir,
                mqtt_protocol=self.mqtt_protocol,
                rng=random.Random(self.rng.getrandbits(64)),
                members=pool,
                telemetry_interval_s=self.telemetry_interval_s,
                render_frames=self.render_frames,
                footfall=self.footfall,
                loop=self.loop,
                light_hardware=self.light_hardware,
            )
            stations.append(station)
        # Starting is mostly file I/O (journal, trust files, fsync): overlap it.
        with ThreadPoolExecutor(max_workers=8 if self.shared_loop else 1) as workers:
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
        with ThreadPoolExecutor(max_workers=64 if self.shared_loop else 1) as pool:
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
        elapsed = (time.monotonic() - self._started) * self.time_scale
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
        sim = self.start_at.timestamp() + (now - self._started) * self.time_scale
        local = datetime.fromtimestamp(sim, TIMEZONE)
        hour = local.hour + local.minute / 60 + local.second / 3600
        per_station = self.visits_per_day / 86_400 * profile_rate(hour) * self.time_scale
        return per_station * len(self.stations)

    def _schedule(self) -> None:
        now = time.monotonic()
        order = itertools.count()  # tie-breaker so the heap never compares stations
        heap: list[tuple[float, int, str, SimStation | None]] = []
        for station in self.stations:
            beat_at = now + self.rng.uniform(0.0, self.telemetry_interval_s)
            heap.append((beat_at, next(order), "heartbeat", station))
            if self.visit_interval_s is not None:
                visit_at = now + self.rng.expovariate(1.0 / self.visit_interval_s)
                heap.append((visit_at, next(order), "visit", station))
        if self.visit_interval_s is None and self.stations:
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
                    due += self.rng.expovariate(1.0 / (self.visit_interval_s or 20.0))
                elif kind == "door":
                    station.swing_door(is_open=False)
                    continue  # one-off
                else:
                    station.heartbeat()
                    self.stats.heartbeats += 1
                    due += self.telemetry_interval_s
            except Exception:
                self.stats.errors += 1
                log.exception("%s: %s failed", station.sid if station else "fleet", kind)
                due = time.monotonic() + self.telemetry_interval_s
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
