"""gpiozero mock pins, so a real `edge.door.Door` runs without a Raspberry Pi."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory, MockPin


def mock_factory() -> MockFactory:
    """A private pin factory per simulated station (never the global `Device.pin_factory`)."""
    return MockFactory()


def relay_pin(factory: MockFactory, pin: int = 17) -> MockPin:
    """The mock pin behind the relay; `.state` is the electrical level (True = high)."""
    return factory.pin(pin)
