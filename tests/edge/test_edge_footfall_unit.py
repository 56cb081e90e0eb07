"""The footfall unit inside the agent: beams → journal, tailgating, counter_degraded, heartbeat
occupancy; and a camera count source fed with the door camera's frames."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edge.agent import Agent, Ports
from edge.config import DoorConfig, EdgeConfig
from edge.footfall.config import CameraCountConfig, FootfallConfig
from edge.footfall.crossing import Crossing, Direction
from edge.footfall.geometry import CountingConfig
from edge.footfall.unit import FootfallUnit
from edge.hw.relay import GpioRelay
from firmware_sim.beams import walk_through
from firmware_sim.cities import make_records
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory
from firmware_sim.station import SimStation
from firmware_sim.union import SimUnion
from protocol.messages import AlarmEvent, FootfallPayload, decode
from protocol.topics import Kind

NOW = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)


def journaled(agent: Agent) -> tuple[list[FootfallPayload], list[AlarmEvent]]:
    rows = agent.journal.pending(limit=10_000)
    footfall = [decode(Kind.FOOTFALL, r.payload) for r in rows if r.kind == Kind.FOOTFALL.value]
    events = [decode(Kind.EVENTS, r.payload) for r in rows if r.kind == Kind.EVENTS.value]
    return footfall, [e for e in events if isinstance(e, AlarmEvent)]  # type: ignore[misc]


def test_sim_station_with_beams_journals_intervals_and_reports_occupancy(
    union: SimUnion, tmp_path: Path
) -> None:
    clock = SimClock(NOW)
    record = make_records(1, seed=4)[0]
    station = SimStation(
        record,
        union,
        broker_url=None,
        workdir=tmp_path,
        rng=random.Random(2),
        clock=clock,
        render_frames=False,
        footfall=True,
        footfall_interval_s=60,
    )
    station.start()
    unit = station.footfall
    assert unit is not None
    try:
        granted = 0
        for _ in range(20):
            granted += sum(d.granted for d in station.visit())
            clock.advance(7)
        station.heartbeat()
        clock.advance(60)
        station.heartbeat()
        footfall, _ = journaled(station.agent)
        assert granted > 10
        assert sum(p.entries for p in footfall) == granted  # one walker per grant
        exits = sum(p.exits for p in footfall)
        assert 0 < exits <= granted
        assert footfall[-1].occupancy == granted - exits == unit.occupancy
        starts = [p.interval_start for p in footfall]
        assert all(s.second == 0 for s in starts)
        assert starts == sorted(starts)
        assert station.agent.reports.telemetry().occupancy == unit.occupancy
    finally:
        station.stop()
    assert (tmp_path / record.id / "footfall.json").exists()


def test_tailgating_and_blocked_beam_through_the_agent(union: SimUnion, tmp_path: Path) -> None:
    clock = SimClock(NOW)
    record = make_records(1, seed=5)[0]
    station = SimStation(
        record, union, broker_url=None, workdir=tmp_path, clock=clock, render_frames=False,
        footfall=True,
    )  # fmt: skip
    station.start()
    unit = station.footfall
    assert unit is not None
    assert unit.beam is not None
    beam = unit.beam.config
    try:
        member = station.members[0]
        assert station.agent.scan_text(member.present(clock.timestamp())).granted
        station.move_door(is_open=True)
        station.agent.poll_door()
        for _ in range(3):  # one grant, three people
            walk_through(station.pins, beam, Direction.IN)
        clock.advance(2)
        station.move_door(is_open=False)
        station.agent.poll_door()
        unit.step()
        clock.advance(5)
        unit.step()
        _, alarms = journaled(station.agent)
        assert [(a.alarm, a.state) for a in alarms] == [("tailgating", "raised")]
        assert (alarms[0].detail or "").startswith("3 entered, 1 let in")

        station.pins.pin(beam.pin_a).drive_low()  # something blocks the street-side beam
        clock.advance(beam.blocked_after_s + 1)
        unit.step()
        station.pins.pin(beam.pin_a).drive_high()
        clock.advance(2)
        unit.step()
        _, alarms = journaled(station.agent)
        assert [(a.alarm, a.state) for a in alarms[1:]] == [
            ("counter_degraded", "raised"),
            ("counter_degraded", "cleared"),
        ]
    finally:
        station.stop()


class FakeCamera:
    """A camera counter stand-in: one entry per bright frame, degraded on a dark one."""

    def __init__(self) -> None:
        self.degraded: str | None = None
        self.frames = 0

    def process(self, frame: np.ndarray, at: float) -> list[Crossing]:
        self.frames += 1
        self.degraded = "light_change" if frame.mean() < 10 else None
        return [Crossing(Direction.IN, at)] if frame.mean() > 200 else []


def test_camera_on_the_door_frames_counts_without_the_door_loop_waiting(tmp_path: Path) -> None:
    from edge.journal import Journal

    clock = SimClock(NOW)
    config = FootfallConfig(
        enabled=True,
        camera=CameraCountConfig(
            source="door", counting=CountingConfig(line=(0, 120, 320, 120), inside=(160, 230))
        ),
        interval_s=60,
    )
    camera = FakeCamera()
    unit = FootfallUnit(config, clock=clock, camera_counter=camera, threaded=False)
    assert unit.source is None  # "door": no camera of its own
    alarms: list[tuple[str, str, str | None]] = []
    with Journal(tmp_path / "j.db") as journal:
        unit.start(
            "sz-0001",
            journal,
            now=clock.now,
            alarm=lambda n, s, d: alarms.append((n, s, d)),
            wake=lambda: None,
            state_path=tmp_path / "footfall.json",
        )
        bright = np.full((240, 320), 255, np.uint8)
        unit.offer(bright)
        unit.offer(bright)  # the newer replaces the older: counted once
        assert len(unit.step()) == 1
        assert unit.step() == []  # nothing new offered
        unit.offer(np.zeros((240, 320), np.uint8))
        clock.advance(1.5)
        unit.step()
        assert alarms == [("counter_degraded", "raised", "camera: light_change")]
        unit.offer(np.full((240, 320), 100, np.uint8))
        clock.advance(1.5)
        unit.step()
        assert alarms[-1] == ("counter_degraded", "cleared", None)
        assert unit.occupancy == 1
        unit.stop()
    assert camera.frames == 3


def test_agent_builds_no_unit_when_footfall_is_off(tmp_path: Path) -> None:
    relay = GpioRelay(DoorConfig(), pin_factory=mock_factory())
    agent = Agent(EdgeConfig(journal_path=tmp_path / "j.db"), Ports(relay=relay))
    assert agent.footfall is None


def test_a_silent_counting_camera_raises_counter_degraded_once(tmp_path: Path) -> None:
    from edge.journal import Journal

    clock = SimClock(NOW)
    config = FootfallConfig(
        enabled=True,
        camera=CameraCountConfig(
            source="door", counting=CountingConfig(line=(0, 120, 320, 120), inside=(160, 230))
        ),
    )
    unit = FootfallUnit(config, clock=clock, camera_counter=FakeCamera(), threaded=False)
    alarms: list[tuple[str, str, str | None]] = []
    with Journal(tmp_path / "j.db") as journal:
        unit.start(
            "sz-0001",
            journal,
            now=clock.now,
            alarm=lambda n, s, d: alarms.append((n, s, d)),
            wake=lambda: None,
            state_path=tmp_path / "footfall.json",
        )
        for _ in range(15):  # 15 s without a frame: raised once, not once a second
            clock.advance(1.0)
            unit.step()
        assert alarms == [("counter_degraded", "raised", "camera: no frame for 10 s")]
        unit.offer(np.full((240, 320), 100, np.uint8))
        clock.advance(1.0)
        unit.step()
        assert alarms[-1] == ("counter_degraded", "cleared", None)
        unit.stop()
