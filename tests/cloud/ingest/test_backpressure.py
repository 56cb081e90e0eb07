"""A writer slower than the broker: paho stops reading and the broker holds the rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import Engine, func, select

from cloud.ingest import subscriber
from cloud.ingest.subscriber import IngestWorker
from cloud.models import Event, table
from cloud.settings import Settings
from protocol import topics
from protocol.messages import AccessEvent
from tests.support.wait import wait_for
from waystation.mosquitto import MosquittoProcess

SID = "st-slow"
N = 1_500


@pytest.mark.integration
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_flood_faster_than_the_database_is_held_back_not_dropped(
    engine: Engine,
    add_station: Callable[..., Any],
    mosquitto: MosquittoProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_station(SID)
    # Without the pause these bounds drop most of the flood: the writer below takes ~300
    # messages a second while the broker delivers thousands.
    monkeypatch.setattr(subscriber, "QUEUE_MAX", 1_000)
    monkeypatch.setattr(subscriber, "READ_PAUSE_AT", 100)
    settings = Settings(
        broker=f"mqtt://127.0.0.1:{mosquitto.port}", batch_max=30, batch_max_wait_s=0.05
    )  # type: ignore[arg-type]
    worker = IngestWorker(engine, settings)
    flush = worker.ingestor.flush

    def slow_flush() -> list[tuple[str, int]]:
        time.sleep(0.1)  # a database that keeps up with 300 msg/s, no more
        return flush()

    worker.ingestor.flush = slow_flush  # type: ignore[method-assign]
    held: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            held.append(len(worker._inbox))
            time.sleep(0.005)

    station = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv311)
    station.max_inflight_messages_set(1_000)
    station.connect("127.0.0.1", mosquitto.port)
    station.loop_start()
    worker.start()
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert worker.subscribed.wait(10)
        infos = [
            station.publish(
                topics.events(SID),
                AccessEvent(
                    sid=SID, event_id=uuid4(), seq=seq, granted=True, reason="granted"
                ).to_bytes(),
                qos=1,
            )
            for seq in range(1, N + 1)
        ]
        for info in infos:
            info.wait_for_publish(30)
        count = select(func.count()).select_from(table(Event))

        def stored() -> int:
            with engine.connect() as conn:
                return int(conn.scalar(count) or 0)

        wait_for(
            lambda: stored() == N,
            60,
            what=lambda: f"{N} events stored ({worker.dropped} dropped)",
            interval_s=0.1,
        )
        assert worker.dropped == 0
        with engine.connect() as conn:
            assert conn.scalar(count) == N
        assert max(held) < 1_000  # paused near READ_PAUSE_AT (plus a burst), not at the bound
        assert max(held) >= 100  # and the pause was really reached
    finally:
        stop.set()
        watcher.join()
        worker.stop()
        station.disconnect()
        station.loop_stop()
