"""A liveness rig: real Mosquitto (ACL, passwords, persistence) → cloud ingest → database →
nearby API, with link-only stations, a state observer and a sampler of what the map shows.

Shared by `tests/integration/test_integration_liveness.py` and
`benchmarks/liveness_targets.py`, so the targets are measured the way they are tested. The
API runs in-process through starlette's TestClient: this module needs the `dev` extra.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from cloud.alarms.monitor import start_monitor
from cloud.db import init_db, make_engine
from cloud.ingest.mqttclient import release_wake_sockets
from cloud.ingest.subscriber import IngestWorker
from cloud.main import create_app
from cloud.settings import Settings
from cloud.stations.registry import upsert
from firmware_sim.cities import CITIES, make_records
from protocol.registry import StationRecord
from waystation.harness.logins import ingest_login, station_password
from waystation.mosquitto import MosquittoProcess

CLOUD_PASSWORD = "cloud-secret"  # noqa: S105 - a throwaway broker the rig starts
# One login per process (the broker takes the login as client id): the ingest worker, and
# the observer on the diagnostics login that may read everything.
INGEST_LOGIN = ingest_login(0)
OBSERVER_LOGIN = "cloud-admin"
STATIONS_PER_PROCESS = 100  # see waystation.harness.linkstation: paho's select() and 1024 fds


def records(n: int, *, seed: int = 7) -> list[StationRecord]:
    """`n` Shenzhen stations, all open 24/7 so the hour of the run cannot close any."""
    return [r.model_copy(update={"opening_hours": "24/7"}) for r in make_records(n, seed=seed)]


@dataclass(frozen=True, slots=True)
class StateSeen:
    at: float  # monotonic
    sid: str
    status: str
    sess: int | None
    retained: bool


class Observer:
    """A plain subscription to every station's state, as any dashboard would have."""

    def __init__(self, port: int) -> None:
        self.seen: list[StateSeen] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self._client.username_pw_set(OBSERVER_LOGIN, CLOUD_PASSWORD)
        self._client.on_connect = lambda c, *_: c.subscribe("ws/v1/+/state", 1)
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(0.2, 1)
        self._port = port

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
            sid = msg.topic.split("/")[2]
        except (ValueError, IndexError):
            return
        if sid.startswith("_"):
            return  # the cloud's own state
        seen = StateSeen(time.monotonic(), sid, body.get("status"), body.get("sess"), msg.retain)
        with self._lock:
            self.seen.append(seen)

    def start(self) -> Observer:
        self._client.connect_async("127.0.0.1", self._port, 30)
        self._client.loop_start()
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        release_wake_sockets(self._client)  # bound callbacks: a cycle

    def of(self, sid: str | None = None, *, status: str | None = None) -> list[StateSeen]:
        with self._lock:
            return [
                s
                for s in self.seen
                if (sid is None or s.sid == sid) and (status is None or s.status == status)
            ]


class StationProcess:
    """`python -m waystation.harness.linkstation` with some stations: a real process to kill.
    Nothing runs until `start()`."""

    def __init__(
        self, broker_url: str, sids: list[str], workdir: Path, **options: float | int
    ) -> None:
        cmd = [sys.executable, "-m", "waystation.harness.linkstation", "--broker", broker_url]
        cmd += ["--workdir", str(workdir)]
        for sid in sids:
            cmd += ["--sid", sid]
        for name, value in options.items():
            cmd += [f"--{name.replace('_', '-')}", str(value)]
        self.cmd = cmd
        self.sids = sids
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> StationProcess:
        root = Path(__file__).resolve().parents[2]  # the checkout: the project on PYTHONPATH
        env = os.environ | {"PYTHONPATH": str(root)}
        self._proc = subprocess.Popen(  # noqa: S603 - our interpreter and module
            self.cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=root
        )
        return self

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError("StationProcess not started")
        return self._proc

    def wait_ready(self, timeout_s: float = 60.0) -> int:
        """Block until the process says its stations are connected; returns how many are."""
        stdout = self.proc.stdout
        assert stdout is not None
        result: list[int] = []

        def read() -> None:
            line = stdout.readline()
            if line:
                result.append(int(json.loads(line)["ready"]))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout_s)
        if not result:
            raise TimeoutError(f"stations {self.sids[:3]}… not ready within {timeout_s} s")
        return result[0]

    def kill(self) -> None:
        """SIGKILL: the kernel closes the sockets; no DISCONNECT, no `offline`."""
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


class LivenessRig:
    """Broker, one ingest worker, the API (in-process) and an observer; `start()` first.
    `settings` override the cloud's (e.g. a short `stale_open_grace_s`); with a positive
    `monitor_interval_s` among them, the health monitor runs too, recording the worker's
    presence as `waystation cloud ingest` does."""

    def __init__(
        self,
        workdir: Path,
        stations: list[StationRecord],
        *,
        db_url: str,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.overrides = {"monitor_interval_s": 0.0} | (settings or {})
        self.workdir = Path(workdir)
        self.stations = stations
        self.sids = [r.id for r in stations]
        users = {sid: station_password(sid) for sid in self.sids}
        users |= {INGEST_LOGIN: CLOUD_PASSWORD, OBSERVER_LOGIN: CLOUD_PASSWORD}
        self.broker = MosquittoProcess(self.workdir / "mosquitto", users=users)
        self.db_url = db_url
        self.processes: list[StationProcess] = []
        self._centres = [(lat, lon) for _name, lat, lon in CITIES["shenzhen"].districts]

    def start(self) -> LivenessRig:
        self.broker.start()
        self.settings = Settings(
            db=self.db_url,
            broker=f"mqtt://{INGEST_LOGIN}:{CLOUD_PASSWORD}@127.0.0.1:{self.broker.port}",
            mqtt_protocol=5,
            share_group="ingest",
            rate_limit_per_s=10_000,  # the sampler asks several times a second
            rate_limit_burst=10_000,
            **self.overrides,
        )
        self.engine = make_engine(self.settings.db)
        init_db(self.engine)
        upsert(self.engine, self.stations)
        self.worker = IngestWorker(self.engine, self.settings)
        self.worker.start()
        if not self.worker.subscribed.wait(15):
            raise RuntimeError(f"ingest did not subscribe: {self.worker.fatal}")
        self.client = TestClient(create_app(self.settings, engine=self.engine))
        self.client.__enter__()
        self.observer = Observer(self.broker.port).start()
        self._stop_monitor = threading.Event()
        self.monitor = start_monitor(
            self.engine,
            self.settings,
            self._stop_monitor,
            worker=(self.worker.client_id, self.worker.subscribed.is_set),
        )
        return self

    def close(self) -> None:
        self._stop_monitor.set()
        if self.monitor is not None:
            self.monitor.join(10)
        for proc in self.processes:
            proc.stop()
        self.observer.stop()
        self.client.__exit__(None, None, None)
        self.worker.stop()
        self.engine.dispose()
        self.broker.stop()

    def url(self, sid: str, port: int | None = None) -> str:
        """A station's broker URL with its login; `port` for a NetCut in between."""
        return f"mqtt://{sid}:{station_password(sid)}@127.0.0.1:{port or self.broker.port}"

    def spawn(self, sids: list[str], **options: float | int) -> list[StationProcess]:
        """Run `sids` as link-only stations in processes of their own (≤ 100 per process)."""
        made = []
        for i in range(0, len(sids), STATIONS_PER_PROCESS):
            part = sids[i : i + STATIONS_PER_PROCESS]
            template = f"mqtt://{{sid}}:{station_password('{sid}')}@127.0.0.1:{self.broker.port}"
            made.append(
                StationProcess(template, part, self.workdir / "stations", **options).start()
            )
        for proc in made:
            ready = proc.wait_ready()
            if ready != len(proc.sids):
                raise RuntimeError(f"only {ready} of {len(proc.sids)} stations connected")
        self.processes += made
        return made

    def open_ids(self) -> set[str]:
        """The stations the nearby API shows as open now (≤ 100 per query: several centres)."""
        return set(self.open_stations())

    def live_ids(self) -> set[str]:
        """The stations shown open because their agent confirms it (basis `live`); a station
        never heard from is open by its hours (basis `schedule`) before its first birth."""
        return {sid for sid, s in self.open_stations().items() if s["basis"] == "live"}

    def open_stations(self) -> dict[str, dict[str, Any]]:
        """As `open_ids`, each with what the API says of it (basis, status…)."""
        found: dict[str, dict[str, Any]] = {}
        for lat, lon in self._centres:
            response = self.client.get(
                "/api/v1/stations/nearby",
                params={"lat": lat, "lon": lon, "radius_m": 50_000, "limit": 100, "status": "open"},
            )
            response.raise_for_status()
            found.update((s["id"], s) for s in response.json()["stations"])
        return found

    def alarms(self) -> list[tuple[str | None, str, str]]:
        """(station, rule, state) of every alarm row."""
        query = text("SELECT station_id, rule, state FROM alarm ORDER BY id")
        with self.engine.connect() as conn:
            return [(sid, rule, state) for sid, rule, state in conn.execute(query)]

    def stored(self) -> dict[str, tuple[str, int | None]]:
        """Each station's stored status and session."""
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT station_id, status, sess FROM station_state"))
            return {sid: (status, sess) for sid, status, sess in rows}

    def intervals(self) -> dict[str, float | None]:
        """Each station's heartbeat interval as the cloud stored it (None: no heartbeat heard
        yet, so it is judged by the 30 s default: online for 90 s after its last word)."""
        query = text("SELECT station_id, heartbeat_interval_s FROM station_state")
        with self.engine.connect() as conn:
            return {sid: interval for sid, interval in conn.execute(query)}

    def presence(self) -> list[tuple[Any, ...]]:
        """The ingest workers' presence rows (worker, connected, since, seen_at): what the
        cloud's sight counts a station's silence from (`cloud.stations.sight`)."""
        query = text("SELECT worker, connected, since, seen_at FROM ingest_presence")
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def history(self, statuses: tuple[str, ...] = ("lost", "offline")) -> list[tuple[str, str]]:
        """Reported status changes in the uptime history with one of `statuses`."""
        query = text("SELECT station_id, status FROM station_status_history")
        with self.engine.connect() as conn:
            return [(sid, status) for sid, status in conn.execute(query) if status in statuses]
