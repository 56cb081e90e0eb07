"""`/healthz` on an ingest worker's metrics port: 200 while subscribed with a live writer, 503
naming what failed otherwise, and the lag of what waits (the metrics stay on the port)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.db import make_engine
from cloud.ingest import health
from cloud.ingest.subscriber import IngestWorker
from cloud.settings import Settings
from protocol import topics
from waystation.mosquitto import MosquittoProcess, free_port

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout_s: float = 15.0) -> T:
    deadline = time.monotonic() + timeout_s
    while (value := probe()) is None:
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
    return value


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def worker(tmp_path: Path, mosquitto: MosquittoProcess) -> Iterator[IngestWorker]:
    """A worker on the test broker whose database is a SQLite file in a missing directory:
    every write fails, so what it receives waits (the database-away case)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    settings = Settings(broker=mosquitto.url, batch_max_wait_s=0.05)  # type: ignore[arg-type]
    made = IngestWorker(engine, settings)
    try:
        yield made
    finally:
        made.stop(timeout=2)
        engine.dispose()


@pytest.mark.integration
def test_healthz_follows_the_broker_and_the_writer(
    worker: IngestWorker, mosquitto: MosquittoProcess
) -> None:
    port = free_port()
    server = health.serve(worker.metrics.registry, worker.health, port, "127.0.0.1")
    try:
        status, body = get(port, "/healthz")
        assert status == 503  # not started: neither connected nor writing
        assert json.loads(body)["failing"] == ["connected", "writer_alive"]

        worker.start()

        def answer(code: int) -> dict[str, Any] | None:
            status, body = get(port, "/healthz")
            return json.loads(body) if status == code else None

        up = wait_for(lambda: answer(200))
        assert up["status"] == "ok"
        assert up["connected"] is True
        assert up["writer_alive"] is True
        assert up["client_id"] == worker.client_id
        metrics = get(port, "/metrics")[1].decode()
        assert "waystation_ingest_connected 1.0" in metrics  # the metrics share the port

        mosquitto.stop()
        down = wait_for(lambda: answer(503))
        assert down["failing"] == ["connected"]  # the writer still runs

        worker.stop(timeout=2)
        dead = wait_for(lambda: answer(503) if not worker.health().writer_alive else None)
        assert "writer_alive" in dead["failing"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
def test_lag_is_the_age_of_the_oldest_message_not_yet_stored(
    worker: IngestWorker, mosquitto: MosquittoProcess
) -> None:
    assert worker.health().lag_s == 0.0
    worker.start()
    wait_for(lambda: True if worker.subscribed.is_set() else None)
    station = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="st-1")
    station.connect("127.0.0.1", mosquitto.port)
    station.loop_start()
    try:
        station.publish(topics.telemetry("st-1"), b"{}", qos=1).wait_for_publish(5)
        waiting = wait_for(lambda: h if (h := worker.health()).lag_s >= 0.5 else None)
    finally:
        station.disconnect()
        station.loop_stop()
    assert waiting.pending + waiting.queue >= 1  # the message, held while writes fail
    assert waiting.ok  # a slow database is lag, not a dead worker
