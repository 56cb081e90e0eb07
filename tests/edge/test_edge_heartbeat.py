from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from edge import heartbeat, telemetry
from edge.agent import Agent, Ports
from edge.config import EdgeConfig
from edge.hw.relay import GpioRelay
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory
from firmware_sim.scenes import render_empty
from firmware_sim.union import SimUnion
from protocol.messages import TelemetryPayload

WIRELESS_HEAD = (
    "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n"
    " face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n"
)


class Unsynced:
    """A clock probe saying NTP is not synchronised (systemd-timesyncd's verdict)."""

    def __call__(self) -> bool | None:
        return False


@pytest.fixture
def agent(config: EdgeConfig, clock: SimClock) -> Iterator[Agent]:
    factory = mock_factory()
    agent = Agent(config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock))
    agent.start()
    yield agent
    agent.stop()
    factory.close()


def test_heartbeat_reports_lists_clock_and_camera(
    agent: Agent, clock: SimClock, union: SimUnion
) -> None:
    beat = agent.publish_telemetry()
    assert agent.reports.last is beat
    assert beat.clock_synced is True  # a simulated clock has no NTP verdict against it
    issued = union.trust.issued_at
    assert beat.trust_age_s == pytest.approx((clock.now() - issued).total_seconds(), abs=0.1)
    assert beat.camera_fps is None  # no frame yet
    assert beat.decode_ms_p50 is None
    clock.advance(3600)
    for _ in range(30):
        agent.on_frame(render_empty(rng=np.random.default_rng(2)))
        clock.advance(0.2)
    later = agent.reports.telemetry()
    assert later.trust_age_s == pytest.approx(beat.trust_age_s + 3606, abs=0.2)
    assert later.camera_fps == pytest.approx(5.0, abs=0.3)
    assert later.decode_ms_p50 is not None
    assert later.decode_ms_p95 is not None
    assert later.decode_ms_p95 >= later.decode_ms_p50 > 0
    assert TelemetryPayload.model_validate_json(later.to_bytes()) == later


def test_unsynchronised_clock_is_reported(config: EdgeConfig, clock: SimClock) -> None:
    factory = mock_factory()
    agent = Agent(config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock,
                                clock_probe=Unsynced()))  # fmt: skip
    agent.start()
    try:
        assert agent.reports.telemetry().clock_synced is False
    finally:
        agent.stop()
        factory.close()


def test_no_lists_no_ages(config: EdgeConfig, clock: SimClock, tmp_path: Path) -> None:
    bare = config.model_copy(
        update={"access": config.access.model_copy(update={"trust_dir": None})}
    )
    factory = mock_factory()
    agent = Agent(bare, Ports(relay=GpioRelay(bare.door, pin_factory=factory), clock=clock))
    agent.start()
    try:
        beat = agent.reports.telemetry()
        assert beat.trust_age_s is None
        assert beat.revocation_age_s is None
        assert beat.trust_version is None
    finally:
        agent.stop()
        factory.close()


def test_trust_age_never_negative(config: EdgeConfig, union: SimUnion) -> None:
    early = SimClock(union.trust.issued_at - timedelta(hours=1))  # station clock behind
    factory = mock_factory()
    agent = Agent(config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=early))
    agent.start()
    try:
        beat = agent.reports.telemetry()
        assert beat.trust_age_s == 0.0
        assert beat.revocation_age_s == 0.0
    finally:
        agent.stop()
        factory.close()


def test_occupancy_hook(agent: Agent) -> None:
    assert agent.reports.telemetry().occupancy is None
    agent.reports.parts.occupancy = lambda: 3
    assert agent.reports.telemetry().occupancy == 3
    agent.reports.parts.occupancy = lambda: -1  # a counter that lost track: not a negative crowd
    assert agent.reports.telemetry().occupancy is None

    def broken() -> int | None:
        raise RuntimeError("counter died")

    agent.reports.parts.occupancy = broken
    assert agent.reports.telemetry().occupancy is None


def test_a_broken_part_costs_its_field_not_the_heartbeat(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail() -> int:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(agent.journal, "backlog", fail)
    monkeypatch.setattr(type(agent.door.relay), "is_active", property(lambda self: 1 / 0))
    monkeypatch.setattr(agent.time_guard, "view", lambda: 1 / 0)
    monkeypatch.setattr(agent.time_guard, "best_now", agent.clock.now)

    class Lying:
        name = "fridge_c"

        def read(self) -> float | None:
            raise OSError("bus error")

    class Nan:
        name = "ambient_c"

        def read(self) -> float | None:
            return float("nan")

    agent.reports.parts.sensors = [Lying(), Nan()]
    beat = agent.reports.telemetry()
    assert beat.journal_backlog == 0
    assert beat.lock == "fault"
    assert beat.clock_synced is None
    assert beat.sensors == {}
    assert TelemetryPayload.model_validate_json(beat.to_bytes()) == beat


def test_wifi_level_from_proc(tmp_path: Path) -> None:
    wireless = tmp_path / "wireless"
    wireless.write_text(WIRELESS_HEAD)
    assert telemetry.wifi_dbm(wireless) is None  # no Wi-Fi interface
    wireless.write_text(
        WIRELESS_HEAD + " wlp2s0: 0000   61.  -49.  -256        0      0      0      0      0\n"
    )
    assert telemetry.wifi_dbm(wireless) == -49.0  # whatever the interface is called
    assert telemetry.wifi_dbm(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("level", "expected"),
    [(-67.0, -67.0), (-256.0, None), (0.0, None), (200.0, None), (None, None)],
)
def test_wifi_level_outside_dbm_is_dropped(
    agent: Agent, monkeypatch: pytest.MonkeyPatch, level: float | None, expected: float | None
) -> None:
    monkeypatch.setattr(telemetry, "wifi_dbm", lambda: level)
    assert heartbeat.wifi_dbm() == expected
    assert agent.reports.telemetry().wifi_dbm == expected
