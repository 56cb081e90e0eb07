"""A thousand stations in one process: every one connects and its events reach the cloud."""

from __future__ import annotations

import collections
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.db import init_db, make_engine
from cloud.models import Event, FootfallInterval
from cloud.stations.registry import upsert
from firmware_sim.cities import make_records
from firmware_sim.fleet import Fleet, FleetConfig, profile_rate
from firmware_sim.union import SimUnion
from tests.support.wait import wait_for
from waystation.mosquitto import free_port

WAYSTATION = str(Path(sys.executable).with_name("waystation"))
STATIONS = 1000


def test_profile_has_night_shift_and_meal_peaks() -> None:
    assert profile_rate(12) > 2 * profile_rate(15)  # lunch against a quiet afternoon
    assert profile_rate(18) > 2 * profile_rate(15)
    assert profile_rate(3) > 1.5 * profile_rate(0.5)  # the night shift comes at 2-5
    mean = sum(profile_rate(h / 10) for h in range(240)) / 240
    assert 0.97 < mean < 1.03


def _ingest(broker_url: str, db: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [WAYSTATION, "cloud", "ingest", "--broker", broker_url, "--db", db,
         "--metrics-port", str(port), "--metrics-addr", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _subscribed(port: int) -> bool:
    """Whether the ingest's /metrics says it is connected (False while it is not up yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
            return "waystation_ingest_connected 1.0" in r.read().decode()
    except OSError:
        return False


@pytest.mark.integration
def test_thousand_stations_in_one_process_reach_ingest(tmp_path: Path, mosquitto) -> None:
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(db)
    init_db(engine)
    records = make_records(STATIONS, seed=9)
    upsert(engine, records)
    port = free_port()
    ingest = _ingest(mosquitto.url, db, port)
    fleet = Fleet(
        records,
        SimUnion.create(9),
        FleetConfig(
            broker_url=mosquitto.url,
            workdir=tmp_path / "st",
            render_frames=False,
            footfall=True,
            shared_loop=True,
            visit_interval_s=None,
            visits_per_day=200,
            time_scale=10,
            telemetry_interval_s=10,
            seed=9,
            members=8,
        ),
    )
    threads_before = threading.active_count()
    try:
        wait_for(lambda: _subscribed(port), 30, "the ingest to subscribe", interval_s=0.1)
        fleet.start()
        assert threading.active_count() - threads_before <= 3  # scheduler + network loop
        wait_for(
            lambda: fleet.counters().connected >= STATIONS,
            30,
            f"{STATIONS} stations connected",
            interval_s=0.2,
        )
        assert fleet.counters().connected == STATIONS
        fleet.visit_each()  # and the profile's own traffic goes on meanwhile
        deadline = time.monotonic() + 20
        while not all(s.journaled for s in fleet.stations) and time.monotonic() < deadline:
            time.sleep(0.2)
        fleet.pause_traffic()  # a quiet settle: everything journaled must be acked
        # Footfall intervals keep being journaled while paused, so judge the snapshot that
        # ended the wait: a second read could catch a row written a moment later.
        deadline = time.monotonic() + 30
        counters = fleet.counters()
        while counters.backlog and time.monotonic() < deadline:
            time.sleep(0.2)
            counters = fleet.counters()
        ledgers = {s.sid: s.ledger for s in fleet.stations}
        assert fleet.loop is not None
        assert fleet.loop.stats.errors == 0
    finally:
        fleet.stop()
        ingest.terminate()
        ingest.wait(timeout=20)
    assert counters.backlog == 0, counters  # every row acked by the cloud, so deleted
    assert fleet.stats.errors == 0
    with engine.connect() as conn:
        events = collections.Counter(
            (sid, str(eid)) for sid, eid in conn.execute(select(Event.station_id, Event.event_id))
        )
        footfall = {sid for (sid,) in conn.execute(select(FootfallInterval.station_id))}
    journaled = {
        (sid, e.key) for sid, entries in ledgers.items() for e in entries if e.kind == "events"
    }
    assert len(ledgers) == STATIONS
    assert all(ledgers.values())
    assert journaled <= set(events)  # every journaled event is in the database …
    assert all(n == 1 for n in events.values())  # … exactly once
    with_events = {sid for sid, _ in events}
    assert with_events == set(ledgers)  # from every one of the 1,000 stations
    assert footfall <= set(ledgers)
