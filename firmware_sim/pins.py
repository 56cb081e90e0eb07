"""gpiozero mock pins, so the real `edge.hw` relay and door inputs run without a Pi.

The door contact and exit button are wired to ground with pull-ups (edge/door.py): a closed
door or a pressed button reads low.
"""

from __future__ import annotations

import time

from gpiozero.pins.mock import MockFactory, MockPin


def mock_factory() -> MockFactory:
    """A private pin factory per simulated station (never the global `Device.pin_factory`)."""
    return MockFactory()


def relay_pin(factory: MockFactory, pin: int = 17) -> MockPin:
    """The mock pin behind the relay; `.state` is the electrical level (True = high)."""
    return factory.pin(pin)


def set_door(factory: MockFactory, pin: int, *, is_open: bool) -> None:
    """Move the door: the reed switch opens (pin high) with the door."""
    mock = factory.pin(pin)
    if is_open:
        mock.drive_high()
    else:
        mock.drive_low()


def press_button(factory: MockFactory, pin: int, hold_s: float = 0.02) -> None:
    """Press and release a button wired to ground (pin low while pressed)."""
    mock = factory.pin(pin)
    mock.drive_low()
    time.sleep(hold_s)
    mock.drive_high()
