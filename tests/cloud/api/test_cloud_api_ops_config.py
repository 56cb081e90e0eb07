"""A station's desired config: an admin sets its override over HTTP, the cloud merges in the
holiday calendar and the registry's hours and publishes it retained on a real Mosquitto, a
station agent applies it and its door follows the registry hours on a public holiday; a
station that lags the desired version past the bound raises `config_mismatch`.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner

from cloud.alarms.models import Alarm
from cloud.alarms.monitor import Monitor
from cloud.auth import Role
from cloud.auth.models import AuditEntry
from cloud.db import session
from cloud.ingest.ingestor import Ingestor
from cloud.main import create_app
from cloud.models import Station
from cloud.settings import Settings
from cloud.stations.desired_config import OWNED_SCHEDULE_KEYS, document, merged
from edge.access.schedule import DoorMode
from edge.agent import Agent, Ports
from edge.config import EdgeConfig, ScheduleConfig
from edge.hw.relay import GpioRelay
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory
from protocol import topics
from protocol.messages import StatePayload, TelemetryPayload
from waystation.cli import app as cli
from waystation.mosquitto import MosquittoProcess

SID = "st-001"
URL = f"/api/v1/ops/stations/{SID}/config"
HOURS = "Mo-Su 08:00-20:00; PH off"  # the registry's: members admitted, closed on 国庆
SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _setup(add_station: Callable[..., Station], clock: Any) -> None:
    add_station(SID, opening_hours=HOURS)
    clock.now = datetime(2026, 9, 30, 2, tzinfo=UTC)


def retained(broker: MosquittoProcess) -> dict[str, Any]:
    """The retained config a station subscribing now receives."""
    got: queue.Queue[bytes] = queue.Queue()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="station-ear")
    sub.on_message = lambda _c, _u, m: got.put(m.payload) if m.retain else None
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe(topics.config(SID), qos=1)
    sub.loop_start()
    try:
        return json.loads(got.get(timeout=10))
    finally:
        sub.disconnect()
        sub.loop_stop()


def test_a_set_override_is_published_with_the_cloud_sections_and_the_door_follows_it(
    db_url: str,
    engine: Engine,
    clock: Any,
    mosquitto: MosquittoProcess,
    as_role: Callable[[Role], dict[str, str]],
    tmp_path: Path,
) -> None:
    admin, operator = as_role(Role.ADMIN), as_role(Role.OPERATOR)
    settings = Settings(db=db_url, broker=mosquitto.url, index_refresh_s=0)
    with TestClient(create_app(settings, clock=clock)) as client:
        override = {"door": {"pulse_s": 4}, "schedule": {"free": None}}
        first = client.put(URL, json={"override": override}, headers=admin)
        assert first.status_code == 200, first.text
        second = client.put(URL, json={"override": override}, headers=admin)
        assert second.json()["config_version"] > first.json()["config_version"]
        assert client.put(URL, json={"override": {}}, headers=operator).status_code == 403
        owned = client.put(URL, json={"override": {"schedule": {"members": "24/7"}}}, headers=admin)
        assert owned.status_code == 422
        assert "schedule.members" in owned.json()["detail"]
        seen = client.get(URL, headers=operator).json()
    assert seen["override"] == override
    assert seen["published_at"] is not None
    pushed = retained(mosquitto)
    assert pushed["config_version"] == second.json()["config_version"]
    config = pushed["config"]
    assert config["door"] == {"pulse_s": 4}
    assert {k: config["schedule"][k] for k in OWNED_SCHEDULE_KEYS} == {
        "members": HOURS, "timezone": "Asia/Shanghai", "lat": 31.2304, "lon": 121.4737,
    }  # fmt: skip
    assert config["schedule"]["free"] is None
    assert "2026-10-01" in config["holidays"]["holidays"]
    assert all(d[:4] in ("2026", "2027") for d in config["holidays"]["holidays"])
    with session(engine) as s:
        entries = list(s.exec(select(AuditEntry).where(AuditEntry.action == "config.set")))
    assert [e.detail["config_version"] for e in entries] == [
        first.json()["config_version"], second.json()["config_version"],
    ]  # fmt: skip

    # A station whose own TOML says members 24/7 applies it: closed on National Day.
    national_day = datetime(2026, 10, 1, 10, tzinfo=SH)
    factory = mock_factory()
    cfg = EdgeConfig(
        station_id=SID,
        journal_path=tmp_path / "journal.db",
        schedule=ScheduleConfig(free="Mo-Fr 09:00-17:00", members="24/7"),
    )
    agent = Agent(
        cfg, Ports(relay=GpioRelay(cfg.door, pin_factory=factory), clock=SimClock(national_day))
    )
    agent.start()
    try:
        raw = json.dumps(pushed).encode()
        result = agent.commands.on_config(raw)
        assert result is not None
        assert result.ok, result.detail
        agent.housekeeping()
        assert agent.door.mode is DoorMode.CLOSED
        schedule = agent.decider.schedule
        assert schedule.mode_at(datetime(2026, 10, 9, 10, tzinfo=SH)) is DoorMode.MEMBERS
        assert schedule.mode_at(datetime(2026, 10, 9, 21, tzinfo=SH)) is DoorMode.CLOSED
    finally:
        agent.stop()
        factory.close()


def test_push_config_publishes_registry_hours_changes_under_a_new_version(
    db_url: str, engine: Engine, mosquitto: MosquittoProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAYSTATION_BROKER", mosquitto.url)
    run = CliRunner().invoke(cli, ["stations", "push-config", "--all", "--db", db_url])
    assert run.exit_code == 0, run.output
    assert "1 stations (1 with a new config_version)" in run.output
    first = retained(mosquitto)
    with session(engine) as s:
        station = s.get(Station, SID)
        assert station is not None
        station.opening_hours = "Mo-Fr 09:00-18:00"
        s.add(station)
    run = CliRunner().invoke(cli, ["stations", "push-config", "--station", SID, "--db", db_url])
    assert run.exit_code == 0, run.output
    again = retained(mosquitto)
    assert again["config_version"] == first["config_version"] + 1
    assert again["config"]["schedule"]["members"] == "Mo-Fr 09:00-18:00"
    bad = CliRunner().invoke(cli, ["stations", "push-config", "--station", "nope", "--db", db_url])
    assert (bad.exit_code, bad.output.strip()) == (1, "error: no station 'nope'")


def test_config_mismatch_is_raised_past_the_bound_and_cleared_when_caught_up(
    engine: Engine, clock: Any
) -> None:
    from cloud.stations.desired_config import push

    clock.now = datetime.now(UTC).replace(microsecond=0)
    ingest = Ingestor(engine, clock=clock)

    def heartbeat(applied: int) -> None:
        payload = TelemetryPayload(
            sid=SID, uptime_s=1, interval_s=30, ts=clock.now, config_version=applied
        )
        ingest.handle(topics.telemetry(SID), payload.to_bytes())
        ingest.flush()

    state = StatePayload(sid=SID, status="online", sess=1, ts=clock.now, config_version=3)
    ingest.handle(topics.state(SID), state.to_bytes())
    heartbeat(3)
    monitor = Monitor(engine, clock=clock, config_lag_s=600)
    monitor.run_once()  # healthy and quiet: only a lagging config brings it back under watch
    sent: list[Any] = []
    _, changed = push(engine, sent.extend, [SID], clock.now)
    desired = json.loads(sent[0][1])["config_version"]
    assert (changed, desired) == (1, 4)  # above what the station runs

    def mismatch() -> list[str]:
        with session(engine) as s:
            rows = s.exec(select(Alarm).where(Alarm.rule == "config_mismatch"))
            return [a.state for a in rows]

    clock.now += timedelta(seconds=590)
    heartbeat(3)
    monitor.run_once()
    assert mismatch() == []  # within the bound
    clock.now += timedelta(seconds=20)
    heartbeat(3)
    monitor.run_once()
    assert mismatch() == ["raised"]
    clock.now += timedelta(seconds=20)
    heartbeat(desired)
    monitor.run_once()
    assert mismatch() == ["cleared"]
    heartbeat(9)  # someone published v9 by hand: the station would ignore our v4 as older
    assert push(engine, sent.extend, [SID], clock.now) == (1, 1)
    assert json.loads(sent[-1][1])["config_version"] == 10


def test_cloud_sections_win_over_the_override() -> None:
    station = Station(id=SID, name="x", lat=1.0, lon=2.0, opening_hours="24/7", tz="Asia/Urumqi")
    from cloud.stations.holidays import bundled

    doc = document(
        {"schedule": {"free": "Sa 10:00-12:00"}}, station, bundled(), datetime(2026, 1, 5).date()
    )
    assert doc["schedule"] == {"free": "Sa 10:00-12:00", "members": "24/7",
                               "timezone": "Asia/Urumqi", "lat": 1.0, "lon": 2.0}  # fmt: skip
    assert all(d.startswith(("2026", "2027")) for d in doc["holidays"]["holidays"])


def test_import_names_stations_whose_hours_changed_and_pushes_them_with_push(
    db_url: str, mosquitto: MosquittoProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Story: `stations import` changed a station's opening hours, the map followed at once,
    but its door kept admitting members by the old ones: nothing said the station's desired
    config had to be pushed again."""
    monkeypatch.setenv("WAYSTATION_BROKER", mosquitto.url)
    run = CliRunner().invoke(cli, ["stations", "push-config", "--all", "--db", db_url])
    assert run.exit_code == 0, run.output
    first = retained(mosquitto)
    sheet = tmp_path / "registry.csv"
    run = CliRunner().invoke(cli, ["stations", "export", str(sheet), "--db", db_url])
    assert run.exit_code == 0, run.output
    text = sheet.read_text(encoding="utf-8-sig")
    assert HOURS in text
    sheet.write_text(text.replace(HOURS, "Mo-Fr 09:00-18:00"), encoding="utf-8")

    run = CliRunner().invoke(cli, ["stations", "import", str(sheet), "--db", db_url])
    assert run.exit_code == 0, run.output
    assert "1 updated" in run.output
    assert f"1 stations were not sent the hours (config) they have now: {SID};" in run.output
    assert f"push-config --station {SID}" in run.output
    assert retained(mosquitto)["config_version"] == first["config_version"], "not pushed yet"

    run = CliRunner().invoke(cli, ["stations", "import", str(sheet), "--push", "--db", db_url])
    assert run.exit_code == 0, run.output
    assert "config pushed to 1 stations (1 with a new config_version)" in run.output
    pushed = retained(mosquitto)
    assert pushed["config_version"] == first["config_version"] + 1
    assert pushed["config"]["schedule"]["members"] == "Mo-Fr 09:00-18:00"
    run = CliRunner().invoke(cli, ["stations", "import", str(sheet), "--db", db_url])
    assert run.exit_code == 0, run.output
    assert "were not sent" not in run.output, "nothing left behind after the push"


BULK = "/api/v1/ops/config/bulk"


def test_a_fleet_wide_change_is_previewed_then_laid_over_each_override_and_published(
    db_url: str,
    engine: Engine,
    clock: Any,
    mosquitto: MosquittoProcess,
    as_role: Callable[[Role], dict[str, str]],
    add_station: Callable[..., Station],
) -> None:
    """Issue 18.2: one change for the stations of a partner in a city, with a preview of how
    many it touches; each station keeps the rest of its own override."""
    for sid, city, operator in [
        ("st-002", "深圳", "邮政"), ("st-003", "深圳", "邮政"), ("st-004", "深圳", "建行"),
        ("st-005", "广州", "邮政"),
    ]:  # fmt: skip
        add_station(sid, city=city, operator=operator, opening_hours=HOURS)
    admin, operator = as_role(Role.ADMIN), as_role(Role.OPERATOR)
    settings = Settings(db=db_url, broker=mosquitto.url, index_refresh_s=0)
    change = {"city": "深圳", "operator": "邮政", "sections": {"door": {"pulse_s": 5}}}
    with TestClient(create_app(settings, clock=clock)) as client:
        own = {"door": {"held_open_s": 90}, "telemetry_interval_s": 15}
        put = client.put(
            "/api/v1/ops/stations/st-002/config", json={"override": own}, headers=admin
        )
        assert put.status_code == 200, put.text
        preview = client.post(BULK, json=change, headers=admin)
        assert preview.status_code == 200, preview.text
        assert preview.json() == {
            "matched": 2, "station_ids": ["st-002", "st-003"], "applied": False, "published": 0
        }  # fmt: skip
        with session(engine) as s:  # a preview changes nothing
            assert all(e.action != "config.bulk" for e in s.exec(select(AuditEntry)))
        assert client.post(BULK, json=change | {"apply": True}, headers=operator).status_code == 403
        whole = client.post(BULK, json={"sections": {"door": {"pulse_s": 5}}}, headers=admin)
        assert whole.status_code == 422  # the whole fleet only by naming it
        owned = {"city": "深圳", "sections": {"schedule": {"members": "24/7"}}, "apply": True}
        refused = client.post(BULK, json=owned, headers=admin)
        assert refused.status_code == 422
        assert "schedule.members" in refused.json()["detail"]
        done = client.post(BULK, json=change | {"apply": True}, headers=admin)
        assert done.status_code == 200, done.text
        assert done.json()["published"] == 2
        kept = client.get("/api/v1/ops/stations/st-002/config", headers=admin).json()
        fresh = client.get("/api/v1/ops/stations/st-003/config", headers=admin).json()
        untouched = client.get("/api/v1/ops/stations/st-004/config", headers=admin)
    assert kept["override"] == {
        "door": {"held_open_s": 90, "pulse_s": 5},
        "telemetry_interval_s": 15,
    }
    assert fresh["override"] == {"door": {"pulse_s": 5}}
    assert untouched.status_code == 404  # never given a desired config
    with session(engine) as s:
        bulk = [e for e in s.exec(select(AuditEntry)) if e.action == "config.bulk"]
    assert len(bulk) == 1
    assert bulk[0].detail["stations"] == 2


def test_sections_are_laid_over_an_override_key_by_key() -> None:
    own = {"door": {"pulse_s": 3, "held_open_s": 90}, "telemetry_interval_s": 15}
    assert merged(own, {"door": {"pulse_s": None}}) == {
        "door": {"held_open_s": 90}, "telemetry_interval_s": 15
    }  # fmt: skip
    assert merged(own, {"door": {"pulse_s": None, "held_open_s": None}}) == {
        "telemetry_interval_s": 15
    }
    assert merged(own, {"telemetry_interval_s": None, "access": {"window_s": 60}}) == {
        "door": {"pulse_s": 3, "held_open_s": 90}, "access": {"window_s": 60}
    }  # fmt: skip
    assert own == {"door": {"pulse_s": 3, "held_open_s": 90}, "telemetry_interval_s": 15}
