"""The door's green and red LEDs and its buzzer on GPIO (gpiozero): the `Indicators` port.

Plain on/off outputs switched by the feedback worker (`edge.feedback.worker`), which owns the
timing; gpiozero's own blink threads are not used, so a newer decision can cut a pattern short
at any step. An active buzzer (it sounds when powered) is all a door needs; each output is
optional (None pin: not fitted).
"""

from __future__ import annotations

import threading

from gpiozero import LED, Buzzer, OutputDevice
from gpiozero.pins import Factory

from edge.feedback.config import FeedbackConfig
from edge.feedback.worker import DoorFeedback


class GpioIndicators:
    """LEDs and buzzer; all off at start, on close and between patterns."""

    def __init__(self, config: FeedbackConfig, *, pin_factory: Factory | None = None) -> None:
        self.config = config
        self.pin_factory = pin_factory
        self._green: OutputDevice | None = None
        self._red: OutputDevice | None = None
        self._buzzer: OutputDevice | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Claim the pins, all off (raises if a pin is busy or not allowed)."""
        config, pins = self.config, self.pin_factory
        with self._lock:
            if config.green_pin is not None and self._green is None:
                self._green = LED(config.green_pin, initial_value=False, pin_factory=pins)
            if config.red_pin is not None and self._red is None:
                self._red = LED(config.red_pin, initial_value=False, pin_factory=pins)
            if config.buzzer_pin is not None and self._buzzer is None:
                self._buzzer = Buzzer(
                    config.buzzer_pin,
                    active_high=config.buzzer_active_high,
                    initial_value=False,
                    pin_factory=pins,
                )

    def close(self) -> None:
        """All off, pins released."""
        with self._lock:
            devices = (self._green, self._red, self._buzzer)
            self._green = self._red = self._buzzer = None
        for device in devices:
            if device is not None:
                try:
                    device.off()
                finally:
                    device.close()

    def show(self, *, green: bool, red: bool, buzz: bool) -> None:
        buzz = buzz and self.config.beep
        for device, on in ((self._green, green), (self._red, red), (self._buzzer, buzz)):
            if device is not None:
                device.value = on


def gpio_feedback(config: FeedbackConfig, pin_factory: Factory | None) -> DoorFeedback:
    """The door's feedback with lights and buzzer on gpiozero through `pin_factory` (the
    relay's), if any pin is set; voice only otherwise. Here, not in `edge.feedback`, so the
    feedback package never imports the hardware adapters (which import it)."""
    indicators = GpioIndicators(config, pin_factory=pin_factory) if config.pins else None
    return DoorFeedback(config, indicators=indicators)
