"""The door contact (reed switch) and exit button on GPIO (gpiozero): the `DoorInputs` port.

gpiozero calls back on its own threads; the callbacks only queue what happened, and the door
loop drains the queue through `edge.door`, which decides what it means. Data flows one way,
and only the loop journals.
"""

from __future__ import annotations

import queue

from gpiozero import Button
from gpiozero.pins import Factory

from edge.config import DoorConfig
from edge.ports import SensorKind


class GpioDoorInputs:
    """Reed switch and exit button; each is optional (None pin = not fitted).

    Both are wired to ground with the Pi's pull-up: a closed door holds the reed switch closed
    (pin low, "pressed"); a pressed exit button pulls its pin low.
    """

    def __init__(self, config: DoorConfig, *, pin_factory: Factory | None = None) -> None:
        self.contact_pin = config.contact_pin  # BCM numbers, None: not fitted
        self.exit_pin = config.exit_pin
        self.pin_factory = pin_factory
        self.events: queue.SimpleQueue[SensorKind] = queue.SimpleQueue()
        self._contact: Button | None = None
        self._exit: Button | None = None

    def open(self) -> None:
        if self.contact_pin is not None and self._contact is None:
            contact = Button(self.contact_pin, pull_up=True, pin_factory=self.pin_factory)
            contact.when_released = lambda: self.events.put("opened")
            contact.when_pressed = lambda: self.events.put("closed")
            self._contact = contact
        if self.exit_pin is not None and self._exit is None:
            button = Button(self.exit_pin, pull_up=True, pin_factory=self.pin_factory)
            button.when_pressed = lambda: self.events.put("exit")
            self._exit = button

    def close(self) -> None:
        for device in (self._contact, self._exit):
            if device is not None:
                device.close()
        self._contact = self._exit = None

    @property
    def door_open(self) -> bool | None:
        """True/False from the reed switch, None if there is none."""
        contact = self._contact
        return None if contact is None else not contact.is_pressed

    @property
    def exit_pressed(self) -> bool | None:
        """Whether the exit button is held down now, None if there is none (`edge selftest`)."""
        button = self._exit
        return None if button is None else bool(button.is_pressed)

    def drain(self) -> list[SensorKind]:
        out: list[SensorKind] = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out
