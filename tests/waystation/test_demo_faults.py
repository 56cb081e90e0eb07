"""The demo's fault plan raises the alarms it is there to show, and clears them again.

Story: tried as a new user would, a 10-minute `waystation demo` raised no alarm at all, so
the alarm inbox, the map colours and the station pages had nothing to show. The plan now
plays a station going offline, a warm fridge, a door held open and a dying camera; here on
a shortened schedule, through the real chain (simulated stations on a real Mosquitto, the
ingest worker, the health monitor with the demo's thresholds, SQLite).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from cloud.alarms.models import Alarm
from cloud.alarms.monitor import start_monitor
from cloud.db import init_db, make_engine
from cloud.ingest.subscriber import IngestWorker
from cloud.models import StationState, table
from cloud.settings import Settings
from cloud.stations.registry import import_csv
from firmware_sim.cities import make_records, write_registry_csv
from firmware_sim.fleet import Fleet, FleetConfig
from firmware_sim.union import SimUnion
from tests.support.wait import wait_for
from waystation.demo_faults import RULE, DemoTimings, FaultPlayer, demo_thresholds, plan
from waystation.mosquitto import MosquittoProcess

pytestmark = pytest.mark.integration
ALARM = table(Alarm)
STATE = table(StationState)
TIMINGS = DemoTimings(first_s=1.0, gap_s=0.5, lasts_s=25.0, cycle_s=3600.0, alarm_after_s=3.0)


def test_the_plan_spares_the_door_page_station_and_spreads_over_the_others() -> None:
    faults = plan(["door", "a", "b", "c", "d"], DemoTimings())
    assert [(f.kind, f.sid) for f in faults] == [
        ("offline", "a"),
        ("fridge_warm", "b"),
        ("door_held_open", "c"),
        ("camera_down", "d"),
    ]
    assert [f.start_s for f in faults] == [45.0, 75.0, 105.0, 135.0]
    assert all(f.end_s - f.start_s == 240.0 for f in faults)
    assert {f.sid for f in plan(["only"])} == {"only"}


def test_demo_thresholds_shorten_only_the_long_waits() -> None:
    rules = {r.name: r for r in demo_thresholds(60.0)}
    assert rules["station_offline"].raise_above == 60.0
    assert (rules["fridge_warm"].raise_after_s, rules["fridge_warm"].clear_after_s) == (60.0, 30.0)
    assert rules["fridge_warm"].raise_above == 8.0  # the limit itself is the real one
    assert rules["disk_full"].raise_after_s == 300  # untouched


def _alarms(engine: Engine) -> dict[tuple[str, str], str]:
    with engine.connect() as conn:
        rows = conn.execute(select(ALARM.c.station_id, ALARM.c.rule, ALARM.c.state))
        return {(r.station_id, r.rule): r.state for r in rows}


def _health(engine: Engine, sid: str) -> str | None:
    with engine.connect() as conn:
        found = conn.execute(select(STATE.c.health).where(STATE.c.station_id == sid))
        return found.scalar_one_or_none()


def test_the_demo_fault_plan_raises_each_alarm_and_clears_it(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    settings = Settings(
        db=f"sqlite:///{tmp_path / 'cloud.db'}",
        broker=mosquitto.url,
        batch_max_wait_s=0.05,
        monitor_interval_s=0.5,
        heartbeat_grace_intervals=3,
    )
    engine = make_engine(settings.db)
    init_db(engine)
    records = make_records(5, seed=3, city="shenzhen")
    import_csv(engine, write_registry_csv(records, tmp_path / "registry.csv"))
    worker = IngestWorker(engine, settings)
    fleet = Fleet(
        records,
        SimUnion.create(3),
        FleetConfig(
            broker_url=mosquitto.url,
            workdir=tmp_path / "stations",
            visit_interval_s=2.0,
            telemetry_interval_s=1.0,
            render_frames=False,
            seed=3,
            members=4,
        ),
    )
    stop = threading.Event()
    player: FaultPlayer | None = None
    monitor = None
    try:
        worker.start()
        assert worker.subscribed.wait(10), worker.fatal
        monitor = start_monitor(engine, settings, stop, thresholds=demo_thresholds(3.0))
        fleet.start()
        for st in fleet.stations:  # the real 30 s held-open limit, shortened like the rest
            fleet.submit(
                lambda st=st: setattr(
                    st.agent.door,
                    "config",
                    st.agent.door.config.model_copy(update={"held_open_s": 2.0}),
                )
            ).result(10)
        wait_for(lambda: all(_health(engine, r.id) == "ok" for r in records), 30, what="all ok")
        player = FaultPlayer(fleet, TIMINGS, stop).start()
        expected = {(f.sid, f.rule) for f in player.faults}
        assert {rule for _, rule in expected} == set(RULE.values())
        assert records[0].id not in {sid for sid, _ in expected}

        def raised() -> set[tuple[str, str]]:
            now = _alarms(engine)
            return {key for key in expected if now.get(key) == "raised"}

        wait_for(lambda: raised() == expected, 40, what=f"all four alarms raised: {expected}")
        offline_sid = next(f.sid for f in player.faults if f.kind == "offline")
        assert _health(engine, offline_sid) == "down"  # the map colours it red meanwhile
        others = {k: v for k, v in _alarms(engine).items() if k not in expected}
        assert others == {}, others  # nothing else went off

        def cleared() -> bool:
            now = _alarms(engine)
            return all(now.get(key) == "cleared" for key in expected)

        wait_for(cleared, 60, what="all four alarms cleared after the faults end")
        wait_for(lambda: _health(engine, offline_sid) == "ok", 30, what="back online")
        kinds = [(kind, what) for _, kind, what in player.played]
        assert sorted(kinds) == sorted(
            [(f.kind, "begin") for f in player.faults] + [(f.kind, "end") for f in player.faults]
        )
    finally:
        stop.set()
        if player is not None:
            player.join(5)
        fleet.stop(clean=True)
        worker.stop()
        if monitor is not None:
            monitor.join(5)
        engine.dispose()
