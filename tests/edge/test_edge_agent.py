from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import numpy as np
import pytest

from edge.agent import Agent, Ports
from edge.config import EdgeConfig
from edge.hw.relay import GpioRelay
from edge.journal import Journal
from edge.link.mqtt import Link
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory, relay_pin
from firmware_sim.scenes import render_empty, render_phone_qr
from firmware_sim.sensors import station_sensors
from firmware_sim.union import SimUnion
from protocol import messages
from protocol.credential import Reason
from protocol.messages import TelemetryPayload
from protocol.topics import Kind
from tests.support.wait import wait_for


class Station:
    """An offline agent on mock pins, as the tests drive it."""

    def __init__(self, config: EdgeConfig, clock: SimClock) -> None:
        self.factory = mock_factory()
        self.door = GpioRelay(config.door, pin_factory=self.factory)
        self.agent = Agent(config, Ports(relay=self.door, clock=clock))
        self.pin = relay_pin(self.factory, config.door.relay_pin)

    def events(self) -> list[dict]:
        return [json.loads(r.payload) for r in self.agent.journal.pending(limit=1000)]


@pytest.fixture
def station(config: EdgeConfig, clock: SimClock):
    s = Station(config, clock)
    s.agent.start()
    yield s
    s.agent.stop()
    s.factory.close()


def test_rendered_frame_opens_the_door_and_journals(
    station: Station, union: SimUnion, clock: SimClock
) -> None:
    wallet = union.enroll("m1")
    frame = render_phone_qr(wallet.present(clock.timestamp()))
    [decision] = station.agent.process_frame(frame)
    assert decision.reason is Reason.GRANTED
    assert station.pin.state  # relay energised: lock released
    access, door = station.events()
    assert access["type"] == "access"
    assert access["granted"] is True
    assert access["serial"] == wallet.serial
    assert access["seq"] == 1
    assert door["type"] == "door"
    assert door["action"] == "unlocked"
    assert door["cause"] == "grant"
    assert door["seq"] == 2
    for raw in station.agent.journal.pending():
        messages.decode(Kind.EVENTS, raw.payload)  # valid on the wire
    assert "member" not in json.dumps(access)  # the serial only, never the member id


def test_held_phone_is_one_decision_but_a_real_replay_is_denied(
    station: Station, union: SimUnion, clock: SimClock
) -> None:
    text = union.enroll("m1").present(clock.timestamp())
    frame = render_phone_qr(text)
    assert len(station.agent.process_frame(frame)) == 1
    for _ in range(5):  # the same phone held for several frames
        clock.advance(0.1)
        assert station.agent.process_frame(frame) == []
    assert station.agent.journal.backlog() == 2  # access + door, no `replayed` spam
    # The same code scanned again on purpose is a real replay.
    assert station.agent.scan_text(text).reason is Reason.REPLAYED
    # And shown again after the debounce window too.
    clock.advance(station.agent.config.access.debounce_s + 1)
    [again] = station.agent.process_frame(frame)
    assert again.reason is Reason.REPLAYED


def test_garbage_qr_is_malformed_and_keeps_the_door_shut(station: Station) -> None:
    [decision] = station.agent.process_frame(render_phone_qr("https://example.org/pay?x=1"))
    assert decision.reason is Reason.MALFORMED
    assert not station.pin.state
    [event] = station.events()
    assert event["reason"] == "malformed"
    assert event["granted"] is False


def test_denied_member_does_not_pulse(station: Station, union: SimUnion, clock: SimClock) -> None:
    frame = render_phone_qr(union.enroll_expired("old").present(clock.timestamp()))
    [decision] = station.agent.process_frame(frame)
    assert decision.reason is Reason.EXPIRED
    assert not station.pin.state
    assert station.agent.journal.backlog() == 1


@pytest.mark.parametrize(
    "frame",
    [
        None,
        b"bytes",
        np.zeros((480, 640), dtype=np.float64),
        np.zeros((480, 640, 7), dtype=np.uint8),
        np.zeros((3,), dtype=np.uint8),
    ],
)
def test_garbage_frames_never_raise(station: Station, frame: object) -> None:
    assert station.agent.process_frame(frame) == []
    assert station.agent.journal.backlog() == 0


def test_frame_without_code_decides_nothing(station: Station) -> None:
    assert station.agent.process_frame(render_empty()) == []
    assert station.agent.journal.backlog() == 0


def test_decoder_failure_is_counted(config: EdgeConfig, clock: SimClock) -> None:
    class Broken:
        def decode(self, frame: object) -> list[str]:
            raise RuntimeError("boom")

    factory = mock_factory()
    agent = Agent(
        config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock,
                      decoder=Broken()),
    )  # fmt: skip
    agent.start()
    assert agent.process_frame(render_empty()) == []
    assert agent.stats["decode_errors"] == 1
    agent.stop()
    factory.close()


def test_journal_failure_still_opens_the_door(
    station: Station, union: SimUnion, clock: SimClock
) -> None:
    station.agent.journal.close()  # e.g. the SD card went read-only
    decision = station.agent.scan_text(union.enroll("m1").present(clock.timestamp()))
    assert decision.granted
    assert station.pin.state
    assert station.agent.stats["journal_errors"] == 2


def test_offline_journal_grows_and_survives_restart(
    config: EdgeConfig, union: SimUnion, clock: SimClock
) -> None:
    for round_ in range(2):
        s = Station(config, clock)
        s.agent.start()
        s.agent.scan_text(union.enroll(f"m{round_}").present(clock.timestamp()))
        s.agent.stop()
        s.factory.close()
    with Journal(config.journal_path) as journal:
        assert [r.seq for r in journal.pending()] == [1, 2, 3, 4]


def test_trust_update_is_applied_and_persisted(
    station: Station, union: SimUnion, config: EdgeConfig
) -> None:
    wallet = union.enroll("m1")
    raw = union.revoke(wallet.serial).to_bytes()
    station.agent.trust.on_revocations(raw)
    assert station.agent.verifier.revocation_version == 2
    assert config.access.trust_dir is not None
    assert (config.access.trust_dir / "revocations.json").read_bytes() == raw
    station.agent.trust.on_revocations(b"garbage")  # refused, nothing raised
    assert station.agent.reports.meta().revocation_version == 2


def test_telemetry(station: Station, clock: SimClock) -> None:
    clock.advance(12.5)
    payload = station.agent.publish_telemetry()  # no link: built, not sent
    assert isinstance(payload, TelemetryPayload)
    assert payload.sid == "sz-0001"
    assert payload.uptime_s == pytest.approx(12.5)
    assert payload.lock == "locked"
    assert payload.journal_backlog == 0
    # the lists the door decides with, and how old the revocation list is
    assert payload.trust_version == 1
    assert payload.revocation_version == 1
    assert payload.revocation_age_s is not None
    assert payload.revocation_age_s >= 0
    TelemetryPayload.model_validate_json(payload.to_bytes())


def test_telemetry_carries_station_sensor_readings(config: EdgeConfig, clock: SimClock) -> None:
    factory = mock_factory()
    sensors = station_sensors(lambda: clock.now().timestamp(), random.Random(4))
    fridge = next(s for s in sensors if s.name == "fridge_c")
    agent = Agent(config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock,
                                station_sensors=sensors))  # fmt: skip
    agent.start()
    try:
        readings = agent.reports.telemetry().sensors
        assert set(readings) == {"ambient_c", "humidity_pct", "fridge_c", "energy_kwh"}
        assert 2 < readings["fridge_c"] < 6
        fridge.fault = "dead"  # type: ignore[attr-defined]
        assert "fridge_c" not in agent.reports.telemetry().sensors  # a dead probe, not a crash
    finally:
        agent.stop()
        factory.close()


def test_run_loop_reads_the_source_until_stopped(
    config: EdgeConfig, union: SimUnion, clock: SimClock, tmp_path: Path
) -> None:
    text = union.enroll("m1").present(clock.timestamp())
    frames = [None, np.zeros(3, np.float32), render_phone_qr(text), render_empty()]
    stop = threading.Event()

    class Source:
        def open(self) -> None: ...

        def close(self) -> None: ...

        def read(self):
            if not frames:
                stop.set()
                return None
            frame = frames.pop(0)
            if isinstance(frame, np.ndarray) and frame.dtype == np.float32:
                raise OSError("camera hiccup")
            return frame

    factory = mock_factory()
    agent = Agent(
        config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock,
                      source=Source()),
    )  # fmt: skip
    agent.start()
    agent.run(stop)
    assert agent.stats["granted"] == 1
    assert agent.stats["source_errors"] == 1
    agent.stop()
    factory.close()


@pytest.mark.integration
def test_online_agent_publishes_and_takes_trust_updates(
    config: EdgeConfig, union: SimUnion, clock: SimClock, mosquitto, watch
) -> None:
    from edge.config import MqttConfig
    from protocol import topics

    watcher = watch()
    newer = union.trust.model_copy(update={"version": 2, "sig": None}).sign(union.anchor)
    watcher.publish(topics.TRUST_KEYS, newer.to_bytes(), retain=True)
    config = config.model_copy(update={"mqtt": MqttConfig(broker=mosquitto.url)})
    factory = mock_factory()
    agent = Agent(
        config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock), uplink=Link
    )
    agent.start()
    try:
        meta = watcher.wait_for(lambda t, d, _: t == topics.meta("sz-0001"))
        assert meta["trust_version"] == 1
        agent.scan_text(union.enroll("m1").present(clock.timestamp()))
        door = watcher.wait_for(lambda t, d, _: t == topics.events("sz-0001") and d["seq"] == 2)
        assert door["action"] == "unlocked"
        assert config.access.trust_dir is not None
        stored = config.access.trust_dir / "trust.json"
        wait_for(lambda: stored.read_bytes() == newer.to_bytes(), 5, "the new trust list stored")
        assert stored.read_bytes() == newer.to_bytes()  # kept for the next boot
        assert agent.verifier.trust_version == 2
    finally:
        agent.stop()
        factory.close()
    off = watcher.wait_for(
        lambda t, d, _: t == topics.state("sz-0001") and d["status"] == "offline"
    )
    assert off["sess"] == 1


class FakeLink:
    """A `Publisher` built by the agent through the `Uplink` seam; records what it is told."""

    def __init__(self, config: EdgeConfig, journal: Journal, *, clock, hooks) -> None:  # type: ignore[no-untyped-def]
        self.config, self.journal, self.clock, self.hooks = config, journal, clock, hooks
        self.calls: list[str] = []
        self.connected = False

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")

    def abort(self) -> None:
        self.calls.append("abort")

    def kick(self) -> None:
        self.calls.append("kick")

    def publish_telemetry(self, payload: TelemetryPayload) -> None:
        self.calls.append("telemetry")

    def rebirth(self) -> None:
        self.calls.append("rebirth")

    def sync(self) -> None:
        self.calls.append("sync")


def test_the_constructor_does_no_io_and_builds_the_link_on_its_own_journal_and_clock(
    config: EdgeConfig, union: SimUnion, clock: SimClock
) -> None:
    home = config.journal_path.parent
    before = sorted(home.iterdir())
    factory = mock_factory()
    agent = Agent(
        config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock),
        uplink=FakeLink,
    )  # fmt: skip
    assert sorted(home.iterdir()) == before  # nothing read or written yet: start() does it
    link = agent.link
    assert isinstance(link, FakeLink)
    assert link.journal is agent.journal
    assert link.clock is agent.clock
    assert link.calls == []
    agent.start()
    try:
        assert link.calls == ["start"]
        assert link.hooks.meta().sid == "sz-0001"
        assert link.hooks.status() == ("online", None)
        agent.scan_text(union.enroll("m1").present(clock.timestamp()))
        assert "kick" in link.calls  # the journaled decision wakes the drain
        agent.publish_telemetry()
        assert link.calls[-1] == "telemetry"
    finally:
        agent.stop(clean=False)
        factory.close()
    assert link.calls[-1] == "abort"  # a power cut: no `offline`, the broker sends the will
