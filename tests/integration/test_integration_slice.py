"""The walking skeleton end to end: a member's QR at a simulated door → real Mosquitto (with
the project's ACL and passwords) → cloud ingest → database → nearby API.

Runs on SQLite and on PostgreSQL. Only the hardware is simulated (mock pins, rendered frames).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from sqlmodel import select

from cloud.db import init_db, make_engine, session
from cloud.ingest.subscriber import IngestWorker
from cloud.main import create_app
from cloud.models import DeadLetter, Event, StationState
from cloud.settings import Settings
from cloud.stations.registry import import_csv
from firmware_sim.cities import make_records, write_registry_csv
from firmware_sim.station import SimStation
from firmware_sim.union import SimUnion
from protocol import topics
from tests.support.wait import wait_for
from waystation.mosquitto import MosquittoProcess

pytestmark = pytest.mark.integration

CLOUD_PW = "cloud-secret"


@pytest.fixture
def broker(secure_mosquitto: Callable[[dict[str, str]], MosquittoProcess]) -> MosquittoProcess:
    """Mosquitto with the project's ACL, an ingest login and one login per station."""
    return secure_mosquitto(
        {"cloud-ingest-1": CLOUD_PW, "sz-0001": "pw-1", "sz-0002": "pw-2", "sz-0003": "pw-3"}
    )


@pytest.fixture
def cloud(
    broker: MosquittoProcess, db_url: str, tmp_path: Path
) -> Iterator[tuple[Engine, Settings]]:
    records = make_records(3, seed=5, city="shenzhen")
    assert [r.id for r in records] == ["sz-0001", "sz-0002", "sz-0003"]
    settings = Settings(
        db=db_url,
        broker=f"mqtt://cloud-ingest-1:{CLOUD_PW}@127.0.0.1:{broker.port}",
        mqtt_protocol=5,
        share_group="ingest",
        batch_max_wait_s=0.05,
    )
    engine = make_engine(settings.db)
    init_db(engine)
    import_csv(engine, write_registry_csv(records, tmp_path / "registry.csv"))
    worker = IngestWorker(engine, settings)
    worker.start()
    try:
        assert worker.subscribed.wait(10), f"ingest did not subscribe: {worker.fatal}"
        yield engine, settings
    finally:
        worker.stop()
        engine.dispose()


def station(
    sid: str, password: str, broker: MosquittoProcess, union: SimUnion, tmp_path: Path
) -> SimStation:
    """A simulated station whose only visitor is one valid member."""
    record = next(r for r in make_records(3, seed=5) if r.id == sid)
    return SimStation(
        record,
        union,
        broker_url=f"mqtt://{sid}:{password}@127.0.0.1:{broker.port}",
        workdir=tmp_path / "stations",
        rng=random.Random(1),
        members=[union.enroll(f"member-of-{sid}")],
    )


def events(engine: Engine, sid: str) -> list[Event]:
    with session(engine) as s:
        return list(s.exec(select(Event).where(Event.station_id == sid).order_by(Event.seq)))


def test_scan_flows_from_door_to_nearby_api(
    broker: MosquittoProcess, cloud: tuple[Engine, Settings], tmp_path: Path
) -> None:
    engine, settings = cloud
    union = SimUnion.create(5)
    sims = [
        station("sz-0001", "pw-1", broker, union, tmp_path),
        station("sz-0002", "pw-2", broker, union, tmp_path),
    ]
    for sim in sims:
        sim.start()
    try:
        door = sims[0]
        wait_for(lambda: door.agent.link is not None and door.agent.link.connected, 15, what="link")
        decisions = door.visit()
        assert [d.reason.value for d in decisions] == ["granted"]
        assert door.relay_pin.state, "the relay must be energised right after a grant"
        for sim in sims:
            sim.heartbeat()

        # Journal → broker → ingest → DB, then the cloud's ack empties the journal.
        wait_for(lambda: len(events(engine, "sz-0001")) >= 2, 15, what="events in the DB")
        wait_for(lambda: door.agent.journal.backlog() == 0, 15, what="journal drained by the ack")
        stored = events(engine, "sz-0001")
        access = [e for e in stored if e.type == "access"]
        assert len(access) == 1
        assert access[0].granted is True
        assert access[0].reason == "granted"
        assert access[0].serial == door.members[0].serial  # a pseudonym, never a name
        assert any(e.type == "door" and e.action == "unlocked" for e in stored)

        # The workers' API lists every station, nearest first, with distance and basis.
        target = door.record
        with TestClient(create_app(settings, engine=engine)) as client:

            def live() -> int:
                params = {"lat": target.lat, "lon": target.lon, "radius_m": 50_000}
                found = client.get("/api/v1/stations/nearby", params=params).json()["stations"]
                return sum(s["basis"] == "live" for s in found)

            wait_for(lambda: live() >= 2, 15, what="two stations their agents confirm")
            body = client.get(
                "/api/v1/stations/nearby",
                params={"lat": target.lat, "lon": target.lon, "radius_m": 50_000, "status": "open"},
            ).json()
            ids = [s["id"] for s in body["stations"]]
            assert ids[0] == "sz-0001"
            # sz-0003 never connected: open by its hours only, and the API says so.
            basis = {s["id"]: s["basis"] for s in body["stations"]}
            assert basis == {"sz-0001": "live", "sz-0002": "live", "sz-0003": "schedule"}
            assert body["stations"][0]["distance_m"] < 1
            assert all(s["open_now"] for s in body["stations"])
            assert (
                client.get("/api/v1/stations/nearby", params={"lat": 91, "lon": 0}).status_code
                == 422
            )
    finally:
        for sim in sims:
            sim.stop(clean=True)

    def state(sid: str) -> str | None:
        with session(engine) as s:
            row = s.get(StationState, sid)
            return row.status if row else None

    wait_for(lambda: state("sz-0001") == "offline", 15, what="clean stop recorded as offline")


def test_malformed_payload_is_dead_lettered_and_ingest_goes_on(
    broker: MosquittoProcess, cloud: tuple[Engine, Settings], tmp_path: Path
) -> None:
    engine, _ = cloud
    union = SimUnion.create(5)
    sim = station("sz-0002", "pw-2", broker, union, tmp_path)
    rogue = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sz-0003", protocol=mqtt.MQTTv5)
    rogue.username_pw_set("sz-0003", "pw-3")
    rogue.connect("127.0.0.1", broker.port)
    rogue.loop_start()
    try:
        for payload in (b"{not json", b'{"v": 1, "sid": "sz-0002", "type": "access"}'):
            rogue.publish(topics.events("sz-0003"), payload, qos=1).wait_for_publish(5)

        def dead() -> list[DeadLetter]:
            with session(engine) as s:
                return list(s.exec(select(DeadLetter).order_by(DeadLetter.id)))

        wait_for(lambda: len(dead()) == 2, 15, what="two dead letters")
        letters = dead()
        assert [d.reason for d in letters] == ["not_json", "schema"]
        assert letters[0].payload == b"{not json"  # kept byte for byte

        # The ACL keeps a station out of another's topics: nothing published there arrives.
        rogue.publish(topics.events("sz-0002"), b"spoof", qos=1).wait_for_publish(5)

        sim.start()
        wait_for(lambda: sim.agent.link is not None and sim.agent.link.connected, 15, what="link")
        assert [d.reason.value for d in sim.visit()] == ["granted"]
        wait_for(
            lambda: any(e.type == "access" for e in events(engine, "sz-0002")), 15, what="event"
        )
        assert len(dead()) == 2, "the spoofed message must have been refused by the broker"
        assert json.loads(letters[1].payload)["type"] == "access"
    finally:
        rogue.disconnect()
        rogue.loop_stop()
        sim.stop(clean=True)
