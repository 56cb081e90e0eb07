"""The clock rule on a Pi with no battery clock (edge/access/timeguard.py), on the SimClock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.access.timeguard import TimeGuard, timesyncd_synced
from edge.agent import Agent, Ports
from edge.config import EdgeConfig
from edge.hw.relay import GpioRelay
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory
from firmware_sim.union import SimUnion
from protocol.credential import Reason

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_timesyncd_flag_reads_synced_unsynced_and_unknown(tmp_path: Path) -> None:
    assert timesyncd_synced(tmp_path / "absent") is None  # timesyncd not running: unknown
    assert timesyncd_synced(tmp_path) is False
    (tmp_path / "synchronized").touch()
    assert timesyncd_synced(tmp_path) is True


def test_high_water_mark_survives_a_restart_and_grows_with_uptime(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    clock = SimClock(NOW)
    guard = TimeGuard(clock, path, probe=lambda: None)
    guard.tick(force=True)
    assert json.loads(path.read_text())["hwm"] == NOW.timestamp()

    # Reboot: the wall clock restarts in 1970 and NTP has not answered.
    booted = SimClock(datetime(1970, 1, 1, 0, 1, tzinfo=UTC))
    after = TimeGuard(booted, path, probe=lambda: False)
    after.load()
    booted.advance(90)
    view = after.view()
    assert not view.synced
    assert view.lower == NOW + timedelta(seconds=90)  # HWM + uptime: a lower bound


def test_wall_clock_behind_the_mark_is_unsynced_even_without_ntp_status(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    TimeGuard(SimClock(NOW), path, probe=lambda: None).tick(force=True)
    behind = TimeGuard(SimClock(NOW - timedelta(hours=3)), path, probe=lambda: None)
    behind.load()
    assert behind.view().synced is False
    ahead = TimeGuard(SimClock(NOW + timedelta(hours=3)), path, probe=lambda: None)
    ahead.load()
    assert ahead.view().synced is True


def test_corrupt_mark_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    path.write_text("{not json")
    guard = TimeGuard(SimClock(NOW), path, probe=lambda: None)
    guard.load()
    assert guard.lower_bound() is None
    assert guard.view().synced is True


class Station:
    def __init__(self, config: EdgeConfig, clock: SimClock, synced: bool | None) -> None:
        self.factory: MockFactory = mock_factory()
        self.agent = Agent(
            config,
            Ports(
                relay=GpioRelay(config.door, pin_factory=self.factory),
                clock=clock,
                clock_probe=lambda: synced,
            ),
        )

    def alarms(self) -> list[tuple[str, str]]:
        rows = [json.loads(r.payload) for r in self.agent.journal.pending(limit=1000)]
        return [(r["alarm"], r["state"]) for r in rows if r["type"] == "alarm"]


@pytest.fixture
def booted(config: EdgeConfig, union: SimUnion) -> Iterator[tuple[Station, SimClock]]:
    """A station that ran on NTP time until NOW, then rebooted with its clock at 1970."""
    first = Station(config, SimClock(NOW), synced=True)
    first.agent.start()
    first.agent.stop()
    first.factory.close()
    clock = SimClock(datetime(1970, 1, 1, tzinfo=UTC))
    station = Station(config, clock, synced=False)
    station.agent.start()
    clock.advance(60)
    yield station, clock
    station.agent.stop()
    station.factory.close()


def test_unsynced_station_admits_a_fresh_code_and_raises_the_alarm(
    booted: tuple[Station, SimClock], union: SimUnion
) -> None:
    """Story: a Pi rebooted offline with its clock in 1970 refused every member as stale."""
    station, _ = booted
    phone_now = int(NOW.timestamp()) + 3 * 3600  # the outage lasted three hours
    decision = station.agent.scan_text(union.enroll("m").present(phone_now))
    assert decision.reason is Reason.GRANTED
    assert station.agent.stats["unsynced_decisions"] == 1
    assert ("clock_unsynced", "raised") in station.alarms()
    rows = [json.loads(r.payload) for r in station.agent.journal.pending(limit=100)]
    # Events carry the lower bound (HWM + uptime), not the 1970 wall clock.
    assert all(datetime.fromisoformat(r["ts"]) >= NOW for r in rows)


def test_unsynced_station_still_refuses_old_screenshots_and_expired_cards(
    booted: tuple[Station, SimClock], union: SimUnion
) -> None:
    station, _ = booted
    screenshot = union.enroll("m").present(int(NOW.timestamp()) - 3600)
    assert station.agent.scan_text(screenshot).reason is Reason.STALE_PRESENTATION
    expired = union.enroll_expired("old").present(int(NOW.timestamp()) + 60)
    assert station.agent.scan_text(expired).reason is Reason.EXPIRED
    wallet = union.enroll("m2")
    code = wallet.present(int(NOW.timestamp()) + 120)
    assert station.agent.scan_text(code).granted
    assert station.agent.scan_text(code).reason is Reason.REPLAYED


def test_alarm_clears_when_ntp_syncs(config: EdgeConfig) -> None:
    synced = {"now": False}
    clock = SimClock(NOW)
    factory = mock_factory()
    agent = Agent(
        config,
        Ports(
            relay=GpioRelay(config.door, pin_factory=factory),
            clock=clock,
            clock_probe=lambda: synced["now"],
        ),
    )
    agent.start()
    synced["now"] = True
    clock.advance(10)  # past the probe cache and the housekeeping period
    agent.housekeeping()
    rows = [json.loads(r.payload) for r in agent.journal.pending(limit=100)]
    assert [(r["alarm"], r["state"]) for r in rows] == [
        ("clock_unsynced", "raised"),
        ("clock_unsynced", "cleared"),
    ]
    agent.stop()
    factory.close()
