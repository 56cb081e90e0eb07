"""Door contact and exit button (edge/door.py) through the agent, on gpiozero mock pins."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from edge.agent import Agent, Ports
from edge.config import DoorConfig, EdgeConfig
from edge.door import DoorMonitor
from edge.hw.door_inputs import GpioDoorInputs
from edge.hw.relay import GpioRelay
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory, press_button, relay_pin, set_door
from firmware_sim.union import SimUnion

CONTACT, EXIT = 27, 22


class Station:
    def __init__(self, config: EdgeConfig, clock: SimClock) -> None:
        door_cfg = DoorConfig(contact_pin=CONTACT, exit_pin=EXIT, held_open_s=30.0)
        self.config = config.model_copy(update={"door": door_cfg})
        self.clock = clock
        self.factory: MockFactory = mock_factory()
        self.agent = Agent(
            self.config,
            Ports(
                relay=GpioRelay(door_cfg, pin_factory=self.factory),
                door_inputs=GpioDoorInputs(door_cfg, pin_factory=self.factory),
                clock=clock,
            ),
        )
        self.relay = relay_pin(self.factory, door_cfg.relay_pin)

    def door(self, *, is_open: bool) -> None:
        set_door(self.factory, CONTACT, is_open=is_open)
        self.poll()

    def poll(self) -> None:
        time.sleep(0.02)  # gpiozero delivers edges on its own thread
        self.agent.poll_door()

    def door_events(self) -> list[tuple[str, str | None]]:
        rows = [json.loads(r.payload) for r in self.agent.journal.pending(limit=1000)]
        return [(r["action"], r.get("cause")) for r in rows if r["type"] == "door"]


@pytest.fixture
def station(config: EdgeConfig, clock: SimClock) -> Iterator[Station]:
    s = Station(config, clock)
    s.agent.start()
    s.door(is_open=False)
    yield s
    s.agent.stop()
    s.factory.close()


def test_start_with_the_door_shut_journals_nothing(station: Station) -> None:
    assert station.door_events() == []


def test_opening_after_a_grant_is_authorised(
    station: Station, union: SimUnion, clock: SimClock
) -> None:
    assert station.agent.scan_text(union.enroll("m").present(clock.timestamp())).granted
    clock.advance(2.0)
    station.door(is_open=True)
    clock.advance(3.0)
    station.door(is_open=False)
    assert station.door_events() == [
        ("unlocked", "grant"),
        ("door_opened", "grant"),
        ("door_closed", None),
    ]


def test_opening_without_grant_or_exit_is_forced(station: Station, clock: SimClock) -> None:
    station.door(is_open=True)
    assert station.door_events() == [("forced_open", None)]


def test_opening_long_after_a_grant_is_forced(
    station: Station, union: SimUnion, clock: SimClock
) -> None:
    station.agent.scan_text(union.enroll("m").present(clock.timestamp()))
    clock.advance(station.config.door.pulse_s + station.config.door.open_grace_s + 1)
    station.door(is_open=True)
    assert station.door_events()[-1] == ("forced_open", None)


def test_exit_button_releases_the_lock_and_authorises_the_opening(
    station: Station, clock: SimClock
) -> None:
    press_button(station.factory, EXIT)
    station.poll()
    assert station.relay.state  # energised: lock released
    station.door(is_open=True)
    assert station.door_events() == [("unlocked", "exit"), ("door_opened", "exit")]


def test_door_left_open_raises_held_open_once(station: Station, clock: SimClock) -> None:
    press_button(station.factory, EXIT)
    station.poll()
    station.door(is_open=True)
    clock.advance(29)
    station.poll()
    assert ("held_open", None) not in station.door_events()
    clock.advance(2)
    station.poll()
    clock.advance(60)
    station.poll()
    assert [e for e in station.door_events() if e[0] == "held_open"] == [("held_open", None)]


def test_contact_bounce_is_one_opening() -> None:
    monitor = DoorMonitor(DoorConfig())
    monitor.sync(False, 0.0)
    first = monitor.sensor("opened", 1.0)
    assert monitor.sensor("opened", 1.01) == []
    assert [h.action for h in first] == ["forced_open"]


def test_pins_must_differ() -> None:
    with pytest.raises(ValueError, match="different pins"):
        DoorConfig(relay_pin=17, contact_pin=17)
