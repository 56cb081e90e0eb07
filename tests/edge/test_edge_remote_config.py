"""The desired config from the cloud, on an offline agent: validate whole, apply, persist."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from edge import remote
from edge.access.schedule import DoorMode
from edge.agent import Agent, Ports
from edge.config import EdgeConfig
from edge.hw.relay import GpioRelay
from edge.remote import RecentCommands
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory
from protocol.messages import ConfigPayload


class Station:
    def __init__(self, config: EdgeConfig, clock: SimClock) -> None:
        self.factory = mock_factory()
        self.agent = Agent(
            config, Ports(relay=GpioRelay(config.door, pin_factory=self.factory), clock=clock)
        )

    def alarms(self) -> list[dict[str, Any]]:
        rows = [json.loads(r.payload) for r in self.agent.journal.pending(limit=1000)]
        return [e for e in rows if e.get("type") == "alarm" and e["alarm"] == "config_rejected"]


@pytest.fixture
def station(config: EdgeConfig, clock: SimClock) -> Iterator[Station]:
    s = Station(config, clock)
    s.agent.start()
    yield s
    s.agent.stop()
    s.factory.close()


def desired(version: int, config: dict[str, Any]) -> bytes:
    return ConfigPayload(config_version=version, config=config).to_bytes()


def test_a_valid_config_is_applied_and_reported(station: Station) -> None:
    agent = station.agent
    assert agent.door.mode is DoorMode.MEMBERS
    result = agent.commands.on_config(
        desired(
            3,
            {
                "door": {"pulse_s": 2.5},
                "schedule": {"free": "24/7"},
                "access": {"window_s": 60},
                "telemetry_interval_s": 10,
            },
        )
    )
    assert result is not None
    assert result.ok
    assert result.cmd_id == "config-3"
    assert agent.config.door.pulse_s == 2.5
    assert agent.config.door.relay_pin == agent.local_config.door.relay_pin  # untouched
    assert agent.verifier.policy.window_s == 60
    assert agent.config.telemetry_interval_s == 10
    agent.housekeeping()
    assert agent.door.mode is DoorMode.FREE
    assert agent.reports.meta().config_version == 3
    assert agent.reports.telemetry().config_version == 3


def test_the_station_reports_the_schedule_in_force_and_its_door_mode(station: Station) -> None:
    """Issue 17.4: what the cloud compares with the registry (meta.schedule) and what keeps a
    closed door off the map (telemetry.door_mode)."""
    agent = station.agent
    first = agent.reports.meta().schedule  # the local config's (by default: members 24/7)
    assert first is not None
    assert (first.members, first.timezone) == ("24/7", "Asia/Shanghai")
    assert agent.reports.telemetry().door_mode == "members"
    result = agent.commands.on_config(
        desired(4, {"schedule": {"members": "Mo-Su 08:00-08:01", "timezone": "Asia/Shanghai"}})
    )
    assert result is not None
    assert result.ok
    reported = agent.reports.meta().schedule
    assert reported is not None
    assert (reported.members, reported.free, reported.timezone) == (
        "Mo-Su 08:00-08:01",
        None,
        "Asia/Shanghai",
    )
    # One minute a day: the door is closed now (but for that minute) and says so.
    expected = agent.decider.mode_now().value
    assert agent.reports.telemetry().door_mode == expected
    assert expected in ("closed", "members")


@pytest.mark.parametrize(
    ("override", "where"),
    [
        ({"door": {"pulse_s": 2.5}, "schedule": {"timezone": "Mars/Olympus"}}, "schedule"),
        ({"door": {"pulse_s": 2.5, "relay_pin": 5}}, "door.relay_pin"),  # not remotely settable
        ({"door": {"pulse_s": 2.5}, "telemetry_interval_s": 0}, "telemetry_interval_s"),
        ({"door": {"pulse_s": 2.5, "held_open_s": -1}}, "door.held_open_s"),
        ({"door": {"pulse_s": 2.5}, "mqtt": {"broker": "mqtt://evil:1883"}}, "mqtt"),
    ],
)
def test_a_bad_config_changes_nothing_and_raises_an_alarm(
    station: Station, override: dict[str, Any], where: str
) -> None:
    agent = station.agent
    before = agent.config
    result = agent.commands.on_config(desired(4, override))
    assert result is not None
    assert not result.ok
    assert result.detail is not None
    assert where in result.detail
    assert agent.config is before  # not even the valid door part
    assert agent.reports.meta().config_version is None
    [alarm] = station.alarms()
    assert alarm["state"] == "raised"
    ok = agent.commands.on_config(desired(5, {"door": {"pulse_s": 2.0}}))
    assert ok is not None
    assert ok.ok
    assert [a["state"] for a in station.alarms()] == ["raised", "cleared"]


def test_an_older_or_equal_version_is_ignored(station: Station) -> None:
    agent = station.agent
    assert agent.commands.on_config(desired(5, {"door": {"pulse_s": 2.0}})) is not None
    assert agent.commands.on_config(desired(5, {"door": {"pulse_s": 3.0}})) is None
    assert agent.commands.on_config(desired(4, {"door": {"pulse_s": 4.0}})) is None
    assert agent.config.door.pulse_s == 2.0


def test_a_malformed_config_payload_is_refused(station: Station) -> None:
    result = station.agent.commands.on_config(b'{"v":1,"config_version":"x"}')
    assert result is not None
    assert not result.ok
    assert result.detail is not None
    assert result.detail.startswith("malformed")


def test_the_applied_config_survives_a_restart(config: EdgeConfig, clock: SimClock) -> None:
    first = Station(config, clock)
    first.agent.start()
    first.agent.commands.on_config(desired(9, {"door": {"pulse_s": 2.5}}))
    first.agent.stop()
    first.factory.close()
    second = Station(config, clock)
    second.agent.start()
    try:
        assert second.agent.config.door.pulse_s == 2.5
        assert second.agent.reports.meta().config_version == 9
        assert second.agent.commands.on_config(desired(9, {"door": {"pulse_s": 3.0}})) is None
    finally:
        second.agent.stop()
        second.factory.close()


def test_a_damaged_persisted_config_falls_back_to_the_local_one(
    config: EdgeConfig, clock: SimClock
) -> None:
    """Story: a half-written file (or a TOML change) must not keep the station from booting."""
    path = config.journal_path.parent / "remote_config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    out_of_range = '{"config_version": 3, "config": {"door": {"pulse_s": 99}}}'
    for damaged in (out_of_range, "{trunc"):
        path.write_text(damaged)
        s = Station(config, clock)
        s.agent.start()  # what earlier runs persisted is read here, not in the constructor
        try:
            assert s.agent.config == config
            assert s.agent.remote.config_version is None
        finally:
            s.agent.stop()
            s.factory.close()


def test_command_memory_forgets_expired_ids_and_is_bounded(
    tmp_path, clock: SimClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "MAX_REMEMBERED", 3)
    memory = RecentCommands(tmp_path / "commands.json")
    now = clock.now()
    memory.remember("old", now + timedelta(seconds=1), now)
    later = now + timedelta(seconds=2)
    for i in range(4):
        memory.remember(f"c{i}", later + timedelta(seconds=10 + i), later)
    reloaded = RecentCommands(tmp_path / "commands.json")
    reloaded.load()
    assert "old" not in reloaded  # expired: a replay is refused as expired anyway
    assert "c0" not in reloaded  # the cap drops the one closest to expiry
    assert all(f"c{i}" in reloaded for i in (1, 2, 3))


def test_a_config_that_cannot_be_persisted_is_not_applied(
    station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Story: the SD card is full; applying a config lost at the next boot would flip-flop."""

    def full(path: object, data: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(remote, "_write_atomic", full)
    before = station.agent.config
    result = station.agent.commands.on_config(desired(2, {"door": {"pulse_s": 2.5}}))
    assert result is not None
    assert not result.ok
    assert station.agent.config is before
    assert station.agent.reports.meta().config_version is None


def test_a_command_that_cannot_be_remembered_is_refused_not_run(
    station: Station, clock: SimClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Story: run-at-most-once needs the disk; without it the door must not open twice."""
    from protocol.messages import CommandPayload

    def full(path: object, data: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(remote, "_write_atomic", full)
    raw = CommandPayload(cmd_id="u-9", expires_at=clock.now() + timedelta(seconds=30)).to_bytes()
    result = station.agent.remote.on_command("unlock", raw)
    assert not result.ok
    assert result.detail is not None
    assert result.detail.startswith("cannot persist")
    assert station.agent.stats["door.unlocked"] == 0
    monkeypatch.undo()
    assert station.agent.remote.on_command("unlock", raw).ok  # a retry is not a "duplicate"
    assert station.agent.stats["door.unlocked"] == 1
