"""The link when things go wrong, against a real Mosquitto: radio flaps (will delay), a wrong
password (no retry storm), the cloud down (draining pauses), and the jittered backoff."""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.agent import Agent, Ports
from edge.config import EdgeConfig, MqttConfig
from edge.hw.relay import GpioRelay
from edge.journal import Journal
from edge.link.mqtt import Link
from edge.ports import LinkHooks
from firmware_sim.clock import SimClock, SystemClock
from firmware_sim.pins import mock_factory
from firmware_sim.union import SimUnion
from protocol import topics
from protocol.messages import AccessEvent, CloudStatePayload, MetaPayload
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

SID = "sz-0001"
STATE = topics.state(SID)
EVENTS = topics.events(SID)


class Rig:
    def __init__(self, broker_url: str, tmp_path: Path, **mqtt: object) -> None:
        self.config = EdgeConfig(
            station_id=SID,
            journal_path=tmp_path / "journal.db",
            mqtt=MqttConfig.model_validate({"broker": broker_url, "reconnect_min_s": 0.2} | mqtt),
        )
        self.journal = Journal(self.config.journal_path)
        self.journal.open()
        self.link = Link(
            self.config,
            self.journal,
            clock=SystemClock(),
            hooks=LinkHooks(meta=lambda: MetaPayload(sid=SID, agent_version="test")),
        )

    def append(self, n: int) -> None:
        for _ in range(n):
            self.journal.append(
                "events",
                lambda seq: AccessEvent(
                    sid=SID, event_id=uuid.uuid4(), seq=seq, granted=False, reason="malformed"
                ),
            )
        self.link.kick()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(broker_url: str, **mqtt: object) -> Rig:
        r = Rig(broker_url, tmp_path, **mqtt)
        made.append(r)
        return r

    yield make
    for r in made:
        r.link.abort()
        r.journal.close()


def test_a_flap_shorter_than_the_will_delay_never_shows_lost(rig, watch, mosquitto) -> None:
    watcher = watch()
    r = rig(mosquitto.url, will_delay_s=3)
    r.link.start()
    wait_for(lambda: r.link.connected, what="connect")
    cut = time.monotonic()
    r.link.drop_connection()  # TCP cut without DISCONNECT: the broker holds the will
    born = watcher.wait_for(
        lambda t, d, _: t == STATE and d["status"] == "online" and d["sess"] == 2
    )
    assert born["sess"] == 2
    time.sleep(max(0.0, 3.5 - (time.monotonic() - cut)))  # past the delay
    assert [s["status"] for s in watcher.on(STATE)] == ["online", "online"]


@pytest.mark.parametrize("protocol", [5, 311])
def test_a_wrong_password_stops_retrying_loudly(
    rig, secure_mosquitto, protocol: int, caplog: pytest.LogCaptureFixture
) -> None:
    broker = secure_mosquitto({SID: "right-password", "cloud": "cloud-password"})
    r = rig(broker.url, password="wrong-password", protocol=protocol, reconnect_min_s=0.1)
    before = broker.log().count("New connection from")  # start() probes the port once
    with caplog.at_level(logging.ERROR, logger="edge.link.mqtt"):
        r.link.start()
        wait_for(lambda: r.link.fatal is not None, what="fatal")
        time.sleep(2.0)  # at a 0.1 s backoff a retrying client would try ~10 more times
    assert not r.link.connected
    assert r.link.stats["fatal"] == 1
    assert r.link.stats["connect_refused"] == 1
    assert broker.log().count("New connection from") - before == 1  # one CONNECT, no storm
    assert broker.log().count("disconnected, not authorised") == 1
    assert "NOT retrying" in caplog.text
    assert SID in (r.link.fatal or "")


def test_the_door_admits_members_offline_after_a_wrong_password(
    config: EdgeConfig, union: SimUnion, clock: SimClock, secure_mosquitto
) -> None:
    broker = secure_mosquitto({SID: "right-password"})
    config = config.model_copy(
        update={"mqtt": MqttConfig(broker=broker.url, password="wrong-password")}
    )
    factory = mock_factory()
    agent = Agent(
        config,
        Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock),
        uplink=Link,
    )
    agent.start()
    try:
        assert agent.link is not None
        link = agent.link
        wait_for(lambda: link.fatal is not None, what="fatal")
        decision = agent.scan_text(union.enroll("m1").present(clock.timestamp()))
        assert decision.granted
        assert agent.journal.backlog() == 2  # access + door unlocked, kept for later
    finally:
        agent.stop()
        factory.close()


def test_draining_pauses_while_the_cloud_is_down(rig, watch, mosquitto) -> None:
    watcher = watch()
    watcher.publish(topics.CLOUD_STATE, CloudStatePayload(online=False).to_bytes(), retain=True)
    r = rig(mosquitto.url)
    r.link.start()
    wait_for(lambda: r.link.cloud_online is False, what="cloud state")
    r.append(3)
    time.sleep(1.5)  # more than a drain poll: nothing may go out
    assert watcher.on(EVENTS) == []
    assert r.journal.backlog() == 3
    r.append(1)  # the journal keeps growing meanwhile
    watcher.publish(topics.CLOUD_STATE, CloudStatePayload(online=True).to_bytes(), retain=True)
    watcher.wait_for(lambda t, d, _: t == EVENTS and d["seq"] == 4)
    assert [e["seq"] for e in watcher.on(EVENTS)] == [1, 2, 3, 4]


def test_what_went_out_before_any_cloud_listened_goes_again_at_its_first_word(
    rig, watch, mosquitto
) -> None:
    """A station up before any ingest worker: its first items reach no subscriber and the
    broker drops them. When the cloud first says `online`, the window goes out again rather
    than waiting for the ack timeout."""
    r = rig(mosquitto.url, ack_timeout_s=600)
    r.link.start()
    wait_for(lambda: r.link.connected, what="connect")
    r.append(2)
    client = r.link.live_client
    assert client is not None
    # Out of the client too (not just queued for paho's thread): a late first send would reach
    # the watcher below and show up twice.
    wait_for(
        lambda: r.link.outbox.inflight == 2 and not client.want_write(), what="sent into the void"
    )
    watcher = watch()  # the cloud arrives
    watcher.publish(topics.CLOUD_STATE, CloudStatePayload(online=True).to_bytes(), retain=True)
    watcher.wait_for(lambda t, d, _: t == EVENTS and d["seq"] == 2, timeout=5)
    assert [e["seq"] for e in watcher.on(EVENTS)] == [1, 2]


def test_reconnect_waits_carry_jitter(tmp_path: Path) -> None:
    """Nothing listens on the port: each failed attempt adds a random share of the step."""
    config = EdgeConfig(
        station_id=SID,
        journal_path=tmp_path / "journal.db",
        mqtt=MqttConfig(reconnect_min_s=0.1, reconnect_max_s=1.0, reconnect_jitter=1.0),
    )
    journal = Journal(config.journal_path)
    waits: list[float] = []

    class Recording(random.Random):
        def uniform(self, a: float, b: float) -> float:
            waits.append(b)
            return 0.0  # keep the test fast; the bounds are what is checked

    link = Link(config, journal, clock=SystemClock(),
                hooks=LinkHooks(meta=lambda: MetaPayload(sid=SID, agent_version="t")))  # fmt: skip
    link.backoff.rng = Recording()
    for _ in range(6):
        link._on_connect_fail(None, None)  # type: ignore[arg-type]
    assert waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])  # grows with paho's step


def test_a_restart_within_the_will_delay_shows_no_lost_either(rig, watch, mosquitto) -> None:
    """Story: `reboot` restarts the agent in ~2 s; a new client (clean start) must not flap."""
    watcher = watch()
    first = rig(mosquitto.url, will_delay_s=3)
    first.link.start()
    wait_for(lambda: first.link.connected, what="connect")
    first.link.abort()  # the old process dies without DISCONNECT
    cut = time.monotonic()
    first.journal.close()
    second = rig(mosquitto.url, will_delay_s=3)  # the same journal file: sess continues
    second.link.start()
    watcher.wait_for(lambda t, d, _: t == STATE and d["status"] == "online" and d["sess"] == 2)
    time.sleep(max(0.0, 3.5 - (time.monotonic() - cut)))  # past the delay: no `lost` may come
    assert [s["status"] for s in watcher.on(STATE)] == ["online", "online"]
