"""The door and the map evaluate opening hours alike: same function, zone and holiday calendar.

Story: on 1 October 2026 at 10:00 Shanghai time, with `Mo-Su 08:00-20:00; PH off`, the map
said closed and the door admitted members; with free-entry hours `Mo-Fr 08:00-18:00; PH off`
the door stood unlocked for anyone on 1 January, 19 June and 1 October 2026 while the map
said closed: the edge evaluated without any holiday calendar.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloud.stations import hours as map_hours
from cloud.stations.holidays import station_config
from edge.access.schedule import DoorMode
from edge.agent import Agent, Ports
from edge.config import EdgeConfig, ScheduleConfig
from edge.hw.relay import GpioRelay
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory, relay_pin
from firmware_sim.union import SimUnion
from protocol.credential import Reason
from protocol.messages import ConfigPayload

SH = ZoneInfo("Asia/Shanghai")
SHANGHAI = (31.23, 121.47)


@pytest.fixture
def door(config: EdgeConfig) -> Iterator[Any]:
    """Starts a station agent on fakes at an instant; its holiday calendar is the cloud's,
    sent as desired config (as `cloud.stations.holidays.station_config` builds it)."""
    factory = mock_factory()
    started: list[Agent] = []

    def start(free: str | None, members: str | None, at: datetime) -> tuple[Agent, Any]:
        schedule = ScheduleConfig(free=free, members=members, lat=SHANGHAI[0], lon=SHANGHAI[1])
        cfg = config.model_copy(update={"schedule": schedule})
        clock = SimClock(at)
        agent = Agent(cfg, Ports(relay=GpioRelay(cfg.door, pin_factory=factory), clock=clock))
        agent.start()
        started.append(agent)
        pushed = {"holidays": station_config(map_hours.calendar(), [2026, 2027])}
        result = agent.commands.on_config(ConfigPayload(config_version=1, config=pushed).to_bytes())
        assert result is not None
        assert result.ok, result.detail
        agent.housekeeping()
        return agent, relay_pin(factory, cfg.door.relay_pin)

    yield start
    for agent in started:
        agent.stop()
    factory.close()


def _map_open(expr: str, at: datetime) -> bool:
    return map_hours.evaluate(expr, tz="Asia/Shanghai", at=at, coords=SHANGHAI).open


def test_members_hours_with_ph_off_close_door_and_map_on_national_day(
    door: Any, tmp_path: Path, config: EdgeConfig
) -> None:
    hours = "Mo-Su 08:00-20:00; PH off"
    at = datetime(2026, 10, 1, 10, tzinfo=SH)
    union = SimUnion.create(7, now=at)
    union.write_trust_dir(config.access.trust_dir or tmp_path)
    agent, pin = door(None, hours, at)
    assert agent.door.mode is DoorMode.CLOSED
    member = union.enroll("m").present(int(at.timestamp()))
    assert agent.scan_text(member).reason is Reason.NOT_PERMITTED
    assert not pin.state
    assert not _map_open(hours, at)


@pytest.mark.parametrize("day", [(2026, 1, 1), (2026, 6, 19), (2026, 10, 1)])
def test_free_hours_with_ph_off_keep_the_door_locked_on_holidays(
    door: Any, day: tuple[int, int, int]
) -> None:
    hours = "Mo-Fr 08:00-18:00; PH off"
    at = datetime(*day, 10, tzinfo=SH)
    agent, pin = door(hours, "24/7", at)
    assert agent.door.mode is DoorMode.MEMBERS  # a member code needed: locked for others
    assert not pin.state
    assert not _map_open(hours, at)
    assert agent.decider.schedule.mode_at(datetime(2026, 10, 9, 10, tzinfo=SH)) is DoorMode.FREE


def test_a_make_up_working_sunday_frees_a_weekday_door_and_opens_the_map(door: Any) -> None:
    hours = "Mo-Fr 08:00-18:00; PH off"
    sunday = datetime(2026, 9, 20, 10, tzinfo=SH)  # 调休上班
    agent, pin = door(hours, "24/7", sunday)
    assert agent.door.mode is DoorMode.FREE
    assert pin.state  # held released
    assert _map_open(hours, sunday)


def test_a_fallback_comment_frees_no_door_and_opens_no_map(door: Any) -> None:
    """`|| "call ahead"` is unknown on a Saturday: not free passage, not open on the map."""
    hours = 'Mo-Fr 08:00-18:00 || "call ahead"'
    saturday = datetime(2026, 6, 20, 10, tzinfo=SH)
    agent, _pin = door(hours, "24/7", saturday)
    assert agent.door.mode is DoorMode.MEMBERS
    state = map_hours.evaluate(hours, tz="Asia/Shanghai", at=saturday, coords=SHANGHAI)
    assert (state.open, state.unknown, state.comment) == (False, True, "call ahead")
