"""Shared fixtures for the edge tests: a simulated union, a fixed clock, a real broker."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.config import AccessConfig, EdgeConfig
from firmware_sim.clock import SimClock
from firmware_sim.union import SimUnion
from tests.support.wait import wait_for
from waystation.mosquitto import MosquittoProcess as Mosquitto

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(NOW)


@pytest.fixture
def union() -> SimUnion:
    return SimUnion.create(7, now=NOW)


@pytest.fixture
def trust_dir(tmp_path: Path, union: SimUnion) -> Path:
    return union.write_trust_dir(tmp_path / "trust")


@pytest.fixture
def config(tmp_path: Path, trust_dir: Path) -> EdgeConfig:
    return EdgeConfig(
        station_id="sz-0001",
        journal_path=tmp_path / "journal.db",
        access=AccessConfig(trust_dir=trust_dir),
    )


class Watcher:
    """A test-side MQTT client (the cloud's seat): records what it receives, can publish."""

    def __init__(self, broker: Mosquitto, topic_filter: str = "ws/v1/#") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-watcher-{id(self):x}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect("127.0.0.1", int(broker.port or 0))
        self.client.subscribe(topic_filter, qos=1)
        self.client.loop_start()
        assert subscribed.wait(5), "watcher could not subscribe"

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def wait_for(
        self, predicate: Callable[[str, dict[str, Any], bool], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first message (JSON) for which predicate(topic, data, retained) holds."""

        def first_match() -> tuple[dict[str, Any]] | None:  # a 1-tuple: `{}` is a match too
            with self._lock:
                for topic, payload, retained in self.messages:
                    try:
                        data = json.loads(payload)
                    except ValueError:
                        continue
                    if predicate(topic, data, retained):
                        return (data,)
            return None

        def seen() -> str:
            with self._lock:
                return f"a matching message; saw {[(t, p[:120]) for t, p, _ in self.messages]}"

        return wait_for(first_match, timeout, what=seen)[0]

    def on(self, topic: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if t == topic and p]

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def watch(mosquitto: Mosquitto) -> Iterator[Callable[..., Watcher]]:
    """Make watchers on the test's broker (or on `broker=` another one)."""
    made: list[Watcher] = []

    def make(topic_filter: str = "ws/v1/#", *, broker: Mosquitto | None = None) -> Watcher:
        watcher = Watcher(broker or mosquitto, topic_filter)
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        watcher.close()
