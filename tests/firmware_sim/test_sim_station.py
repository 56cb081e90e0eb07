from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.cities import make_records
from firmware_sim.fleet import Fleet, FleetConfig
from firmware_sim.station import SimStation
from firmware_sim.union import SimUnion
from tests.support.wait import wait_for
from waystation.mosquitto import MosquittoProcess as Mosquitto


class Collector:
    def __init__(self, broker: Mosquitto) -> None:
        self.messages: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sim-test-collector")
        self.client.on_message = self._on_message
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.connect("127.0.0.1", int(broker.port or 0))
        self.client.subscribe("ws/v1/#", qos=1)
        self.client.loop_start()
        assert done.wait(5)

    def _on_message(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def wait(self, predicate, timeout: float = 10.0) -> dict:
        def first_match() -> tuple[dict] | None:  # a 1-tuple: `{}` is a match too
            with self.lock:
                for topic, data in self.messages:
                    if predicate(topic, data):
                        return (data,)
            return None

        def seen() -> str:
            with self.lock:
                return f"a matching message; saw {[t for t, _ in self.messages]}"

        return wait_for(first_match, timeout, what=seen)[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_offline_station_visits(union: SimUnion, tmp_path: Path) -> None:
    record = make_records(1, seed=9)[0]
    station = SimStation(record, union, broker_url=None, workdir=tmp_path, rng=random.Random(1))
    station.start()
    try:
        decisions = [d for _ in range(12) for d in station.visit()]
        assert any(d.granted for d in decisions)
        assert station.agent.journal.backlog() >= len(decisions)
        assert (tmp_path / record.id / "trust" / "anchor.pem").exists()
    finally:
        station.stop()


@pytest.mark.integration
def test_station_online_then_power_cut(union: SimUnion, tmp_path: Path, mosquitto) -> None:
    collector = Collector(mosquitto)
    record = make_records(1, seed=9)[0]
    station = SimStation(
        record, union, broker_url=mosquitto.url, workdir=tmp_path, rng=random.Random(2),
        mqtt_protocol=311,
    )  # fmt: skip
    station.start()
    try:
        collector.wait(lambda t, d: t == f"ws/v1/{record.id}/state" and d["status"] == "online")
        decisions = []
        for _ in range(5):
            decisions += station.visit()
            time.sleep(0.01)
        assert decisions
        event = collector.wait(lambda t, d: t == f"ws/v1/{record.id}/events")
        assert event["sid"] == record.id
        assert event["seq"] == 1
        station.heartbeat()
        collector.wait(lambda t, d: t == f"ws/v1/{record.id}/telemetry")
    finally:
        station.stop(clean=False)
    lost = collector.wait(lambda t, d: t.endswith("/state") and d["status"] == "lost")
    assert lost["sess"] == 1
    collector.close()


@pytest.mark.integration
def test_small_fleet_online(tmp_path: Path, mosquitto) -> None:
    collector = Collector(mosquitto)
    records = make_records(3, seed=5, city="hangzhou")
    fleet = Fleet(
        records,
        SimUnion.create(5),
        FleetConfig(
            broker_url=mosquitto.url,
            workdir=tmp_path,
            visit_interval_s=0.2,
            telemetry_interval_s=0.5,
            members=4,
        ),
    )
    fleet.start()
    try:
        for r in records:
            collector.wait(lambda t, d, sid=r.id: t == f"ws/v1/{sid}/events")
    finally:
        fleet.stop()
    for r in records:
        collector.wait(
            lambda t, d, sid=r.id: t == f"ws/v1/{sid}/state" and d["status"] == "offline"
        )
    assert fleet.stats.visits > 0
    assert fleet.stats.errors == 0
    collector.close()
