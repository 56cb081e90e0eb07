from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from edge.ports import Clock
from firmware_sim.clock import SimClock, SystemClock

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_sim_clock_moves_only_when_told() -> None:
    clock = SimClock(START)
    assert isinstance(clock, Clock)
    m0 = clock.monotonic()
    assert clock.now() == START
    clock.advance(90)
    assert clock.now() == datetime(2026, 3, 1, 12, 1, 30, tzinfo=UTC)
    assert clock.monotonic() - m0 == 90
    assert clock.timestamp() == int(START.timestamp()) + 90
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


def test_running_sim_clock_flows() -> None:
    clock = SimClock(START, running=True)
    time.sleep(0.02)  # real time passes: the running clock must follow it
    assert clock.now() > START


def test_system_clock_is_aware_utc() -> None:
    clock = SystemClock()
    assert isinstance(clock, Clock)
    assert clock.now().tzinfo is UTC
    with pytest.raises(ValueError, match="aware"):
        SimClock(datetime(2026, 1, 1))
