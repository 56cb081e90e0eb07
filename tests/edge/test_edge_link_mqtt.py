"""The MQTT link against a real mosquitto started by the test."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.config import EdgeConfig, MqttConfig
from edge.journal import Journal
from edge.link.mqtt import Link
from edge.ports import LinkHooks
from firmware_sim.clock import SystemClock
from firmware_sim.union import SimUnion
from protocol import topics
from protocol.messages import AccessEvent, AckPayload, MetaPayload
from tests.support.wait import wait_for
from waystation.mosquitto import MosquittoProcess as Mosquitto

pytestmark = pytest.mark.integration

SID = "sz-0001"
STATE = topics.state(SID)
EVENTS = topics.events(SID)


def access_event(seq: int) -> AccessEvent:
    return AccessEvent(sid=SID, event_id=uuid.uuid4(), seq=seq, granted=False, reason="malformed")


def meta() -> MetaPayload:
    return MetaPayload(sid=SID, agent_version="test", trust_version=1)


class Rig:
    def __init__(self, mosquitto: Mosquitto, tmp_path: Path, **mqtt: object) -> None:
        self.config = EdgeConfig(
            station_id=SID,
            journal_path=tmp_path / "journal.db",
            mqtt=MqttConfig(broker=mosquitto.url, reconnect_min_s=0.2, **mqtt),  # type: ignore[arg-type]
        )
        self.journal = Journal(self.config.journal_path)
        self.journal.open()
        self.acks: list[int] = []
        self.trust: list[bytes] = []
        self.revocations: list[bytes] = []
        self.link = Link(
            self.config,
            self.journal,
            clock=SystemClock(),
            hooks=LinkHooks(
                meta=meta,
                on_ack=self.acks.append,
                on_trust=self.trust.append,
                on_revocations=self.revocations.append,
            ),
        )

    def append(self, n: int = 1) -> None:
        for _ in range(n):
            self.journal.append("events", access_event)
        self.link.kick()

    def wait_connected(self, timeout: float = 10.0) -> None:
        wait_for(lambda: self.link.connected, timeout, "the link to connect")


@pytest.fixture
def rig(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(**mqtt: object) -> Rig:
        r = Rig(mosquitto, tmp_path, **mqtt)
        made.append(r)
        return r

    yield make
    for r in made:
        r.link.abort()
        r.journal.close()


def ack(watcher, upto: int) -> None:
    watcher.publish(topics.ack(SID), AckPayload(upto_seq=upto).to_bytes())


@pytest.mark.parametrize("protocol", [5, 311])
def test_birth_is_retained(rig, watch, protocol: int) -> None:
    early = watch()  # sees the birth go out
    r = rig(protocol=protocol)
    r.link.start()
    r.wait_connected()
    early.wait_for(lambda t, d, _: t == topics.meta(SID))
    early.wait_for(lambda t, d, _: t == STATE)
    watcher = watch()  # subscribes after the birth: sees the retained copies
    m = watcher.wait_for(lambda t, d, retained: t == topics.meta(SID) and retained)
    assert m["agent_version"] == "test"
    s = watcher.wait_for(lambda t, d, retained: t == STATE and retained)
    assert s["status"] == "online"
    assert s["sess"] == 1


def test_rows_stay_until_the_cloud_acks(rig, watch) -> None:
    watcher = watch()
    r = rig()
    r.link.start()
    r.wait_connected()
    r.append(3)
    for seq in (1, 2, 3):
        watcher.wait_for(lambda t, d, _, seq=seq: t == EVENTS and d["seq"] == seq)
    time.sleep(0.3)  # a window in which nothing may be deleted
    assert r.journal.backlog() == 3  # PUBACKed by the broker, still not deleted
    ack(watcher, 2)
    wait_for(lambda: r.journal.backlog() == 1, 5, "the ack to delete two rows")
    assert [row.seq for row in r.journal.pending()] == [3]
    assert r.acks == [2]
    ack(watcher, 3)
    wait_for(lambda: r.journal.backlog() == 0, 5, "the ack to delete the last row")
    assert all(not e["historical"] for e in watcher.on(EVENTS))


def test_at_most_max_inflight_unacked(rig, watch) -> None:
    watcher = watch()
    r = rig(max_inflight=2)
    r.link.start()
    r.wait_connected()
    r.append(5)
    watcher.wait_for(lambda t, d, _: t == EVENTS and d["seq"] == 2)
    time.sleep(0.3)  # a window in which a third may not go out
    assert [e["seq"] for e in watcher.on(EVENTS)] == [1, 2]
    ack(watcher, 1)
    watcher.wait_for(lambda t, d, _: t == EVENTS and d["seq"] == 3)
    time.sleep(0.2)  # a window in which a fourth may not go out
    assert [e["seq"] for e in watcher.on(EVENTS)] == [1, 2, 3]


def test_rows_journaled_while_offline_are_historical(rig, watch) -> None:
    watcher = watch()
    r = rig()
    r.append(2)  # before the link ever connected
    r.link.start()
    r.wait_connected()
    r.append(1)
    watcher.wait_for(lambda t, d, _: t == EVENTS and d["seq"] == 3)
    wait_for(lambda: len(watcher.on(EVENTS)) >= 3, what="all three events")
    flags = {e["seq"]: e["historical"] for e in watcher.on(EVENTS)}
    assert flags == {1: True, 2: True, 3: False}


def test_reconnect_resends_unacked_rows_unchanged(rig, watch) -> None:
    watcher = watch()
    r = rig(will_delay_s=0)  # no will delay: the flap itself must show `lost`
    r.link.start()
    r.wait_connected()
    r.append(2)
    watcher.wait_for(lambda t, d, _: t == EVENTS and d["seq"] == 2)
    first = {e["seq"]: e for e in watcher.on(EVENTS)}
    r.link.drop_connection()  # TCP cut without DISCONNECT
    lost = watcher.wait_for(lambda t, d, _: t == STATE and d["status"] == "lost")
    assert lost["sess"] == 1
    born = watcher.wait_for(
        lambda t, d, _: t == STATE and d["status"] == "online" and d["sess"] == 2
    )
    assert born["sess"] == 2
    wait_for(lambda: len(watcher.on(EVENTS)) >= 4, 10, "the two events resent")
    resent = watcher.on(EVENTS)[2:]
    assert {e["seq"] for e in resent} == {1, 2}
    for e in resent:
        assert e == first[e["seq"]]  # same event_id, same historical flag: a pure replay


def test_lwt_lost_when_killed_after_the_will_delay(rig, watch) -> None:
    watcher = watch()
    r = rig(will_delay_s=1)
    r.link.start()
    r.wait_connected()
    r.link.abort()  # like a power cut: no DISCONNECT, no offline state
    cut = time.monotonic()
    lost = watcher.wait_for(lambda t, d, _: t == STATE and d["status"] == "lost")
    assert time.monotonic() - cut >= 0.9  # the broker held the will for the delay
    assert lost["sess"] == r.link.sess == 1
    assert not [s for s in watcher.on(STATE) if s["status"] == "offline"]


def test_clean_stop_publishes_offline(rig, watch) -> None:
    watcher = watch()
    r = rig()
    r.link.start()
    r.wait_connected()
    r.link.stop()
    off = watcher.wait_for(lambda t, d, _: t == STATE and d["status"] == "offline")
    assert off["sess"] == 1
    time.sleep(0.3)  # a window for a (wrong) will to arrive
    assert not [s for s in watcher.on(STATE) if s["status"] == "lost"]  # no LWT
    late = watch()
    retained = late.wait_for(lambda t, d, retained: t == STATE and retained)
    assert retained["status"] == "offline"


def test_trust_lists_and_bad_input_reach_the_right_place(rig, watch) -> None:
    watcher = watch()
    union = SimUnion.create(3)
    watcher.publish(topics.TRUST_KEYS, union.trust.to_bytes(), retain=True)
    watcher.publish(topics.TRUST_REVOCATIONS, union.revocations.to_bytes(), retain=True)
    r = rig()
    r.link.start()
    r.wait_connected()
    wait_for(lambda: r.trust and r.revocations, 5, "the retained trust lists")
    assert r.trust == [union.trust.to_bytes()]
    assert r.revocations == [union.revocations.to_bytes()]
    # Garbage on every inbound topic is logged and counted, never fatal.
    watcher.publish(topics.ack(SID), b"\xff not json")
    watcher.publish(topics.cmd(SID, "unlock"), b"{}")
    watcher.publish(topics.CLOUD_STATE, b"[]")
    watcher.publish(topics.config(SID), b"{}")
    wait_for(lambda: r.link.stats["bad_ack"] >= 1, 5, "the bad ack counted")
    assert r.link.stats["bad_ack"] == 1
    assert r.link.connected
    r.append(1)
    watcher.wait_for(lambda t, d, _: t == EVENTS and d["seq"] == 1)


def test_cloud_back_online_resends_the_window(rig, watch) -> None:
    watcher = watch()
    watcher.publish(topics.CLOUD_STATE, b'{"v":1,"online":false}', retain=True)
    r = rig()
    r.link.start()
    r.wait_connected()
    r.append(1)
    watcher.wait_for(lambda t, d, _: t == EVENTS and d["seq"] == 1)
    watcher.publish(topics.CLOUD_STATE, b'{"v":1,"online":true}', retain=True)
    wait_for(lambda: len(watcher.on(EVENTS)) >= 2, 5, "the window resent")
    assert [e["seq"] for e in watcher.on(EVENTS)] == [1, 1]


def test_telemetry_only_while_connected(rig, watch) -> None:
    from protocol.messages import TelemetryPayload

    watcher = watch()
    r = rig()
    r.link.publish_telemetry(TelemetryPayload(sid=SID, uptime_s=1))  # not started: dropped
    assert r.link.stats["telemetry_dropped"] == 1
    r.link.start()
    r.wait_connected()
    r.link.publish_telemetry(TelemetryPayload(sid=SID, uptime_s=2))
    t = watcher.wait_for(lambda t, d, _: t == topics.telemetry(SID))
    assert t["uptime_s"] == 2
    assert r.journal.backlog() == 0  # never journaled


def test_broker_down_at_boot_then_up(tmp_path: Path, watch) -> None:
    """Story: a station boots during a broker outage; it must journal and drain later."""
    late = Mosquitto(tmp_path / "late")
    config = EdgeConfig(
        station_id=SID,
        journal_path=tmp_path / "j.db",
        mqtt=MqttConfig(broker=late.url, reconnect_min_s=0.1, reconnect_max_s=1.0),
    )
    with Journal(config.journal_path) as journal:
        link = Link(config, journal, clock=SystemClock(), hooks=LinkHooks(meta=meta))
        link.start()
        try:
            for _ in range(3):
                journal.append("events", access_event)
                link.kick()
            time.sleep(0.3)  # a window in which it cannot connect (no broker yet)
            assert not link.connected
            late.start()
            # The link may publish before any watcher could subscribe (events are not
            # retained), so the proof is the link's own record of what it sent.
            wait_for(lambda: link.stats["published"] >= 3, 10, "three events published")
            rows = journal.pending()
            assert [r.seq for r in rows if r.sent] == [1, 2, 3]
            assert all(json.loads(r.payload)["historical"] for r in rows)
            assert journal.backlog() == 3  # PUBACKed, not acked by a cloud
        finally:
            link.abort()
            late.stop()
