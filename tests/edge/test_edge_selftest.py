"""`edge.selftest` and `edge.camera.sizing` below the CLI: what the installer's lines rest on."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from edge.camera.sizing import code_sizes
from edge.config import DoorConfig
from edge.hw.relay import GpioRelay
from edge.selftest import click_relay
from firmware_sim.pins import mock_factory, relay_pin
from firmware_sim.scenes import modules_of, render_phone_qr
from firmware_sim.union import SimUnion


@pytest.mark.parametrize("code_px", [260, 195])
def test_pixels_per_module_of_a_member_code(union: SimUnion, code_px: int) -> None:
    text = union.enroll("m1").present(int(time.time()))
    frame = render_phone_qr(text, code_px=code_px, rng=np.random.default_rng(3))
    [size] = code_sizes(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    assert size.modules == modules_of(text) - 8  # the symbol, without its quiet zone
    assert size.px_per_module == pytest.approx(code_px / modules_of(text), abs=0.1)
    assert size.valid


class StuckRelay:
    """A relay whose pin never changes: what a missing GPIO backend looked like."""

    def open(self) -> None: ...
    def close(self) -> None: ...
    def pulse(self, seconds: float) -> None: ...

    @property
    def is_active(self) -> bool:
        return False


def test_the_relay_check_fails_on_a_relay_that_never_switches() -> None:
    check = click_relay(StuckRelay(), 0.1, pin=17)
    assert check.line() == "FAIL relay: BCM 17 did not switch on and off again"


def test_the_relay_check_clicks_once_and_leaves_the_lock_locked() -> None:
    factory = mock_factory()
    try:
        check = click_relay(GpioRelay(DoorConfig(), pin_factory=factory), 0.1, pin=17)
        levels = [bool(s.state) for s in relay_pin(factory, 17).states]
    finally:
        factory.close()
    assert check.verdict == "PASS"
    assert levels[-2:] == [True, False]  # energised once, then locked again
    assert levels.count(True) == 1
