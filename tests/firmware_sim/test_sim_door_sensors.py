"""A simulated station's door contact and exit button drive the real agent's door events."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from firmware_sim.cities import make_records
from firmware_sim.clock import SimClock
from firmware_sim.station import SimStation
from firmware_sim.union import SimUnion


def test_sim_station_reports_exit_opening_and_a_forced_door(
    union: SimUnion, tmp_path: Path
) -> None:
    [record] = make_records(1, seed=3)
    clock = SimClock()
    station = SimStation(
        record, union, broker_url=None, workdir=tmp_path, rng=random.Random(2), clock=clock
    )
    station.start()
    try:
        agent = station.agent

        def settle() -> None:
            time.sleep(0.03)  # gpiozero delivers pin edges on its own thread
            agent.poll_door()

        settle()
        station.press_exit()
        settle()
        assert station.relay_pin.state  # exit released the lock
        station.move_door(is_open=True)
        settle()
        station.move_door(is_open=False)
        settle()
        clock.advance(station.config.door.pulse_s + station.config.door.open_grace_s + 1)
        station.move_door(is_open=True)  # nobody asked: forced
        settle()
        rows = [json.loads(r.payload) for r in agent.journal.pending(limit=100)]
    finally:
        station.stop()
    actions = [(r["action"], r.get("cause")) for r in rows if r["type"] == "door"]
    assert actions == [
        ("unlocked", "exit"),
        ("door_opened", "exit"),
        ("door_closed", None),
        ("forced_open", None),
    ]
