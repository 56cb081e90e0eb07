"""`edge.hw.indicators`: the feedback LEDs and buzzer on (mock) GPIO."""

from __future__ import annotations

from edge.feedback.config import FeedbackConfig
from edge.hw.indicators import GpioIndicators
from firmware_sim.pins import mock_factory


def test_outputs_switch_as_told_and_all_go_off_at_close() -> None:
    pins = mock_factory()
    config = FeedbackConfig(enabled=True, green_pin=23, red_pin=24, buzzer_pin=25)
    lights = GpioIndicators(config, pin_factory=pins)
    lights.open()
    green, red, buzzer = pins.pin(23), pins.pin(24), pins.pin(25)
    assert (green.state, red.state, buzzer.state) == (False, False, False)  # off at start
    lights.show(green=True, red=False, buzz=True)
    assert (green.state, red.state, buzzer.state) == (True, False, True)
    lights.show(green=False, red=True, buzz=False)
    assert (green.state, red.state, buzzer.state) == (False, True, False)
    lights.close()
    assert (green.state, red.state, buzzer.state) == (False, False, False)
    pins.close()


def test_beep_off_keeps_the_buzzer_silent_and_missing_parts_are_skipped() -> None:
    pins = mock_factory()
    lights = GpioIndicators(
        FeedbackConfig(enabled=True, buzzer_pin=25, beep=False), pin_factory=pins
    )
    lights.open()
    lights.show(green=True, red=True, buzz=True)  # no LEDs fitted: nothing to switch
    assert pins.pin(25).state is False
    lights.close()
    pins.close()


def test_an_active_low_buzzer_is_driven_low_to_sound() -> None:
    pins = mock_factory()
    config = FeedbackConfig(enabled=True, buzzer_pin=25, buzzer_active_high=False)
    lights = GpioIndicators(config, pin_factory=pins)
    lights.open()
    assert pins.pin(25).state is True  # silent = high
    lights.show(green=False, red=False, buzz=True)
    assert pins.pin(25).state is False
    lights.close()
    pins.close()
