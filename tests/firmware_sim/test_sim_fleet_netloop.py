"""The shared network loop: many links on one thread; partition and reset semantics."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.clock import SystemClock
from edge.config import EdgeConfig, MqttConfig
from edge.journal import Journal
from edge.link.mqtt import Link
from edge.ports import LinkHooks
from firmware_sim.netloop import NetLoop, PartitionedError
from protocol.messages import DoorEvent, MetaPayload
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


class Watcher:
    """A plain paho client (its own thread) that records what it sees."""

    def __init__(self, url: str, topic: str) -> None:
        port = int(url.rsplit(":", 1)[1])
        self.messages: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()  # the SUBACK: from here on it sees every message
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, 1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def make_link(tmp: Path, sid: str, url: str, loop: NetLoop, **mqtt_cfg: object) -> Link:
    config = EdgeConfig(
        station_id=sid,
        journal_path=tmp / sid / "journal.db",
        mqtt=MqttConfig.model_validate({"broker": url, "reconnect_min_s": 0.2} | mqtt_cfg),
    )
    journal = Journal(config.journal_path)
    journal.open()
    clock = SystemClock()
    return Link(
        config,
        journal,
        clock=clock,
        hooks=LinkHooks(meta=lambda: MetaPayload(sid=sid, ts=clock.now(), agent_version="t")),
        loop=loop,
    )


def journal_event(link: Link) -> int:
    from uuid import uuid4

    seq, _ = link.journal.append(
        "events",
        lambda s: DoorEvent(
            sid=link.sid, ts=link.clock.now(), seq=s, event_id=uuid4(), action="door_opened"
        ),
    )
    link.kick()
    return seq


@pytest.fixture
def loop():  # type: ignore[no-untyped-def]
    net = NetLoop("test-net").start()
    yield net
    net.close()


def test_many_links_one_thread(tmp_path: Path, mosquitto, loop: NetLoop) -> None:
    threads = threading.active_count()
    links = [make_link(tmp_path, f"st-{i:03d}", mosquitto.url, loop) for i in range(40)]
    for link in links:
        link.start()
    assert threading.active_count() == threads  # no paho thread, no drain thread
    wait_for(lambda: all(link.connected for link in links))
    watcher = Watcher(mosquitto.url, "ws/v1/+/events")
    wait_for(watcher.subscribed.is_set, 5, "the watcher's SUBACK")
    for link in links:
        journal_event(link)
    wait_for(lambda: len(watcher.messages) == 40)
    assert {t.split("/")[2] for t, _ in watcher.messages} == {link.sid for link in links}
    for link in links:
        link.stop()
    assert loop.stats.clients == 0
    assert loop.stats.sockets == 0
    assert loop.stats.errors == 0
    watcher.close()


def test_partition_holds_traffic_and_refuses_connects(tmp_path: Path, mosquitto, loop) -> None:
    link = make_link(tmp_path, "st-part", mosquitto.url, loop, keepalive_s=5)
    link.start()
    wait_for(lambda: link.connected)
    watcher = Watcher(mosquitto.url, "ws/v1/+/events")
    wait_for(watcher.subscribed.is_set, 5, "the watcher's SUBACK")
    loop.partition("st-part", True)
    assert loop.is_partitioned("st-part")
    journal_event(link)
    time.sleep(1.0)  # a window in which nothing may go out
    assert watcher.messages == []  # held: nothing written while cut …
    assert link.connected  # … and the socket is still open, as in a short radio gap
    assert link.journal.backlog() == 1  # the journal keeps it
    loop.partition("st-part", False)
    wait_for(lambda: len(watcher.messages) == 1)  # what waited goes out
    # A long cut: paho's keepalive gives up, and reconnecting is refused until it heals.
    loop.partition("st-part", True)
    wait_for(lambda: not link.connected, timeout_s=15)
    with pytest.raises(PartitionedError):
        loop.run(lambda: loop.connect(link._client))  # type: ignore[arg-type]
    time.sleep(1.0)  # a window in which it must not get back in
    assert not link.connected
    assert link.stats["connect_failures"] >= 1
    loop.partition("st-part", False)
    wait_for(lambda: link.connected, timeout_s=15)
    link.stop()
    watcher.close()


def test_reset_drops_the_connection_and_the_link_comes_back(tmp_path, mosquitto, loop) -> None:
    link = make_link(tmp_path, "st-reset", mosquitto.url, loop)
    link.start()
    wait_for(lambda: link.connected)
    watcher = Watcher(mosquitto.url, "ws/v1/st-reset/state")
    wait_for(lambda: any(b'"online"' in p for _, p in watcher.messages))
    loop.reset("st-reset")
    wait_for(lambda: any(b'"lost"' in p for _, p in watcher.messages))  # will sent
    wait_for(lambda: link.connected and link.stats["connects"] == 2)
    link.abort()  # power cut: no `offline`, the broker sends the will again
    wait_for(lambda: sum(b'"lost"' in p for _, p in watcher.messages) == 2)
    assert not any(b'"offline"' in p for _, p in watcher.messages)
    assert loop.stats.clients == 0
    watcher.close()


def test_calls_and_timers_run_on_the_loop_thread(loop: NetLoop) -> None:
    seen: list[str] = []
    done = threading.Event()
    loop.call_later(0.05, lambda: (seen.append("later"), done.set()))
    loop.call_soon(lambda: seen.append("soon"))
    cancelled = loop.call_later(0.01, lambda: seen.append("cancelled"))
    cancelled.cancel()
    assert loop.run(lambda: loop.in_loop) is True
    assert done.wait(2)
    assert seen == ["soon", "later"]
