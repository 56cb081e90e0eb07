"""Commands and the desired config through a real Mosquitto: the test plays the cloud."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from edge.agent import Agent, Ports
from edge.config import EdgeConfig, MqttConfig
from edge.hw.relay import GpioRelay
from edge.link.mqtt import Link
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory, relay_pin
from protocol import topics
from protocol.messages import CommandPayload, ConfigPayload
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

SID = "sz-0001"
RESULT = topics.cmd_result(SID)


class Station:
    def __init__(self, config: EdgeConfig, clock: SimClock, reboots: list[int]) -> None:
        self.factory = mock_factory()
        self.agent = Agent(
            config,
            Ports(
                relay=GpioRelay(config.door, pin_factory=self.factory),
                clock=clock,
                reboot=lambda: reboots.append(1),
            ),
            uplink=Link,
        )
        self.pin = relay_pin(self.factory, config.door.relay_pin)
        self.stopped = False

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.agent.stop()
            self.factory.close()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r.payload) for r in self.agent.journal.pending(limit=1000)]


def start_online(s: Station) -> None:
    s.agent.start()
    assert s.agent.link is not None
    link = s.agent.link
    wait_for(lambda: link.connected, 10, "a connection")
    # The subscriptions are in place once SUBACK came back, which the link does not expose.
    time.sleep(0.2)


@pytest.fixture
def online(config: EdgeConfig, mosquitto) -> EdgeConfig:
    return config.model_copy(update={"mqtt": MqttConfig(broker=mosquitto.url)})


@pytest.fixture
def reboots() -> list[int]:
    return []


@pytest.fixture
def station(online: EdgeConfig, clock: SimClock, reboots: list[int]) -> Iterator[Station]:
    s = Station(online, clock, reboots)
    start_online(s)
    yield s
    s.stop()


@pytest.fixture
def cloud(watch) -> Callable[..., dict[str, Any]]:
    """Send a command, return its cmd_result."""
    watcher = watch()

    def send(name: str, payload: bytes, cmd_id: str | None) -> dict[str, Any]:
        watcher.publish(topics.cmd(SID, name), payload)
        return watcher.wait_for(lambda t, d, _: t == RESULT and d["cmd_id"] == cmd_id)

    send.watcher = watcher  # type: ignore[attr-defined]
    return send


def command(clock: SimClock, cmd_id: str, expires_in_s: float = 60.0) -> bytes:
    return CommandPayload(
        cmd_id=cmd_id, expires_at=clock.now() + timedelta(seconds=expires_in_s)
    ).to_bytes()


def test_unlock_pulses_the_door_and_journals_a_remote_unlock(station, cloud, clock) -> None:
    result = cloud("unlock", command(clock, "u-1"), "u-1")
    assert result["ok"] is True
    assert result["sid"] == SID
    assert station.pin.state  # relay energised: lock released
    [door] = [e for e in station.events() if e["type"] == "door"]
    assert (door["action"], door["cause"]) == ("unlocked", "remote")


def test_a_duplicate_is_refused_even_after_a_restart(
    station, cloud, clock, online, reboots
) -> None:
    assert cloud("unlock", command(clock, "u-2"), "u-2")["ok"] is True
    cloud.watcher.messages.clear()  # type: ignore[attr-defined]
    again = cloud("unlock", command(clock, "u-2"), "u-2")
    assert (again["ok"], again["detail"]) == (False, "duplicate")
    station.stop()
    restarted = Station(online, clock, reboots)
    start_online(restarted)
    try:
        cloud.watcher.messages.clear()  # type: ignore[attr-defined]
        third = cloud("unlock", command(clock, "u-2"), "u-2")
        assert (third["ok"], third["detail"]) == (False, "duplicate")
        unlocks = [e for e in restarted.events() if e.get("cause") == "remote"]
        assert len(unlocks) == 1  # the door opened once for three deliveries
    finally:
        restarted.stop()


def test_an_expired_command_is_refused_and_does_nothing(station, cloud, clock) -> None:
    result = cloud("unlock", command(clock, "u-3", expires_in_s=-1), "u-3")
    assert (result["ok"], result["detail"]) == (False, "expired")
    assert not station.pin.state
    assert station.events() == []


@pytest.mark.parametrize(
    ("payload", "cmd_id"),
    [
        (b"{not json", "?"),
        (b'{"v":1,"cmd_id":"m-1"}', "m-1"),  # no expires_at: the refusal still names it
        (b'{"v":1,"cmd_id":"m-2","expires_at":"2026-03-01T12:01:00","args":{}}', "m-2"),
        # Story: an id with a control character made the refusal itself invalid: no answer.
        (b'{"v":1,"cmd_id":"m\\u0000x"}', "?"),
    ],
)
def test_a_malformed_command_is_refused(station, cloud, payload: bytes, cmd_id: str) -> None:
    result = cloud("unlock", payload, cmd_id)
    assert result["ok"] is False
    assert result["detail"].startswith("malformed")
    assert not station.pin.state


def test_rebirth_republishes_meta_and_state(station, cloud, clock) -> None:
    watcher = cloud.watcher  # type: ignore[attr-defined]
    assert cloud("rebirth", command(clock, "r-1"), "r-1")["ok"] is True
    watcher.wait_for(lambda t, d, retained: t == topics.meta(SID) and not retained)
    state = watcher.wait_for(lambda t, d, r: t == topics.state(SID) and not r)
    assert (state["status"], state["sess"]) == ("online", 1)


def test_sync_resends_the_unacked_window(station, cloud, clock, union) -> None:
    watcher = cloud.watcher  # type: ignore[attr-defined]
    station.agent.scan_text(union.enroll("m1").present(clock.timestamp()))
    watcher.wait_for(lambda t, d, _: t == topics.events(SID) and d["seq"] == 2)
    assert cloud("sync", command(clock, "s-1"), "s-1")["ok"] is True
    wait_for(lambda: len(watcher.on(topics.events(SID))) >= 4, 5, "the window resent")
    assert [e["seq"] for e in watcher.on(topics.events(SID))] == [1, 2, 1, 2]


def test_reboot_calls_the_hook_after_answering(station, cloud, clock, reboots) -> None:
    result = cloud("reboot", command(clock, "b-1"), "b-1")
    assert (result["ok"], result["detail"]) == (True, "restarting")
    assert reboots == [1]


def test_a_retained_config_is_applied_and_reported(station, cloud) -> None:
    watcher = cloud.watcher  # type: ignore[attr-defined]
    desired = ConfigPayload(config_version=7, config={"door": {"pulse_s": 2.5}})
    watcher.publish(topics.config(SID), desired.to_bytes(), retain=True)
    result = watcher.wait_for(lambda t, d, _: t == RESULT and d["cmd_id"] == "config-7")
    assert result["ok"] is True
    assert station.agent.config.door.pulse_s == 2.5
    state = watcher.wait_for(lambda t, d, _: t == topics.state(SID) and "config_version" in d)
    assert state["config_version"] == 7
    bad = ConfigPayload(config_version=8, config={"door": {"pulse_s": 99}})
    watcher.publish(topics.config(SID), bad.to_bytes(), retain=True)
    refused = watcher.wait_for(lambda t, d, _: t == RESULT and d["cmd_id"] == "config-8")
    assert refused["ok"] is False
    assert "door.pulse_s" in refused["detail"]
    assert station.agent.config.door.pulse_s == 2.5
