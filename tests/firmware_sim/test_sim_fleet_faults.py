"""The fault interface of fleet stations (what the chaos runs drive), on a real broker."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.cities import make_records
from firmware_sim.fleet import Fleet, FleetConfig
from firmware_sim.union import SimUnion

pytestmark = pytest.mark.integration


class Seen:
    """Every message under ws/v1/ (a plain paho client on its own thread)."""

    def __init__(self, port: int) -> None:
        self.items: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="faults-watcher")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("ws/v1/#", qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        with self.lock:
            self.items.append((message.topic, json.loads(message.payload or b"{}")))

    def find(self, topic: str, timeout_s: float = 10.0, **fields: object) -> dict | None:
        deadline = time.monotonic() + timeout_s
        while True:
            with self.lock:
                for t, d in self.items:
                    if t == topic and all(d.get(k) == v for k, v in fields.items()):
                        return d
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_kill_restart_partition_skew_freeze(tmp_path: Path, mosquitto) -> None:
    records = make_records(3, seed=4)
    fleet = Fleet(
        records,
        SimUnion.create(4),
        FleetConfig(
            broker_url=mosquitto.url,
            workdir=tmp_path,
            render_frames=False,
            shared_loop=True,
            visit_interval_s=None,
            visits_per_day=0,
            telemetry_interval_s=60,
            seed=4,
            members=4,
        ),
    )
    seen = Seen(mosquitto.port)
    fleet.start()
    a, b, c = fleet.stations
    try:
        for s in fleet.stations:
            assert seen.find(f"ws/v1/{s.sid}/state", status="online", sess=1)

        def visit(station):  # type: ignore[no-untyped-def]
            return fleet.submit(station.visit).result(timeout=10)

        # Power cut and power back: the will, then a new session on the same journal.
        assert visit(a)
        before = a.ledger
        a.kill()
        assert seen.find(f"ws/v1/{a.sid}/state", status="lost", sess=1)
        assert visit(a) == []  # no power, no door
        a.restart()
        assert seen.find(f"ws/v1/{a.sid}/state", status="online", sess=2)
        assert visit(a)
        after = a.ledger
        assert after[: len(before)] == before  # the ledger survived the kill
        seqs = [e.seq for e in after]
        assert seqs == sorted(set(seqs))
        assert len(after) > len(before)
        # Partition: the door keeps admitting and journaling; nothing leaves until it heals.
        b.partition(True)
        assert visit(b)
        key = b.ledger[-1].key
        assert seen.find(f"ws/v1/{b.sid}/events", timeout_s=1.0, event_id=key) is None
        assert b.agent.journal.backlog() >= 1
        b.partition(False)
        assert seen.find(f"ws/v1/{b.sid}/events", event_id=key)
        # Reset: the broker sees the drop (will), the link comes back in a new session.
        b.reset_connection()
        assert seen.find(f"ws/v1/{b.sid}/state", status="lost", sess=1)
        assert seen.find(f"ws/v1/{b.sid}/state", status="online", sess=2)
        # Clock skew: the station's payloads carry its (wrong) time.
        c.clock_offset_s = 3600
        assert visit(c)
        event = seen.find(f"ws/v1/{c.sid}/events", event_id=c.ledger[-1].key)
        assert event is not None
        skew = datetime.fromisoformat(event["ts"]) - datetime.now(UTC)
        assert 3500 < skew.total_seconds() < 3700
        # A frozen camera reads nothing.
        c.freeze_camera(True)
        assert visit(c) == []
        c.freeze_camera(False)
        assert visit(c)
        assert fleet.stats.errors == 0
    finally:
        fleet.stop()
        seen.close()
