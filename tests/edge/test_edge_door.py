from __future__ import annotations

import time

import pytest

from edge.config import DoorConfig
from edge.hw.relay import GpioRelay
from firmware_sim.pins import mock_factory, relay_pin
from tests.support.wait import wait_for


def test_pulse_energises_then_releases() -> None:
    factory = mock_factory()
    door = GpioRelay(DoorConfig(relay_pin=17), pin_factory=factory)
    door.open()
    pin = relay_pin(factory, 17)
    assert not pin.state
    assert not door.is_active
    started = time.monotonic()
    door.pulse(0.2)
    assert time.monotonic() - started < 0.05  # non-blocking
    assert pin.state
    assert door.is_active
    wait_for(lambda: not pin.state, 2.0, "the relay to release", interval_s=0.005)
    assert time.monotonic() - started >= 0.19
    assert not door.is_active
    door.close()
    factory.close()


def test_active_low_relay_and_close_locks() -> None:
    factory = mock_factory()
    door = GpioRelay(DoorConfig(relay_pin=22, active_high=False), pin_factory=factory)
    door.open()
    pin = relay_pin(factory, 22)
    assert pin.state  # active-low: high is off, i.e. locked
    door.pulse(5.0)
    assert not pin.state
    door.close()  # closing mid-pulse locks at once
    assert pin.state
    factory.close()


def test_pulse_before_open_raises() -> None:
    door = GpioRelay(DoorConfig(), pin_factory=mock_factory())
    with pytest.raises(RuntimeError):
        door.pulse(1.0)
    assert not door.is_active
