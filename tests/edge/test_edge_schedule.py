"""Door modes by schedule (edge/access/schedule.py) and what they do at the door."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.access.schedule import DoorMode, DoorSchedule
from edge.agent import Agent, Ports
from edge.config import EdgeConfig, ScheduleConfig
from edge.hw.relay import GpioRelay
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory, relay_pin
from firmware_sim.union import SimUnion
from protocol.credential import Flag, Reason

# Friday 2026-11-20; Shanghai is UTC+8 all year.
FRI_10_LOCAL = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
FRI_22_LOCAL = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
SAT_03_LOCAL = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)

PARTNER = {"free": "Mo-Fr 08:00-20:00", "members": "Mo-Fr 20:00-24:00", "timezone": "Asia/Shanghai"}


def test_first_open_rule_wins_in_local_time() -> None:
    schedule = DoorSchedule(**PARTNER)
    assert schedule.mode_at(FRI_10_LOCAL) is DoorMode.FREE
    assert schedule.mode_at(FRI_22_LOCAL) is DoorMode.MEMBERS
    assert schedule.mode_at(SAT_03_LOCAL) is DoorMode.CLOSED


def test_time_zone_moves_the_hours() -> None:
    utc = DoorSchedule(free="Mo-Fr 08:00-20:00", members=None, timezone="UTC")
    assert utc.mode_at(FRI_10_LOCAL) is DoorMode.CLOSED  # 02:00 UTC
    assert utc.mode_at(FRI_22_LOCAL) is DoorMode.FREE  # 14:00 UTC


def test_default_is_members_around_the_clock() -> None:
    cfg = ScheduleConfig()
    schedule = DoorSchedule(free=cfg.free, members=cfg.members, timezone=cfg.timezone)
    assert {schedule.mode_at(t) for t in (FRI_10_LOCAL, SAT_03_LOCAL)} == {DoorMode.MEMBERS}


@pytest.mark.parametrize(
    ("field", "value"), [("members", "Mo-Fq 08:00-20:00"), ("timezone", "Mars/Olympus")]
)
def test_config_refuses_bad_rules_and_zones(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ScheduleConfig(**{field: value})


def _agent(config: EdgeConfig, clock: SimClock):
    factory = mock_factory()
    cfg = config.model_copy(update={"schedule": ScheduleConfig(**PARTNER)})
    agent = Agent(cfg, Ports(relay=GpioRelay(cfg.door, pin_factory=factory), clock=clock))
    agent.start()
    return agent, factory, relay_pin(factory, cfg.door.relay_pin)


def test_closed_hours_deny_members_as_not_permitted_but_admit_staff(
    config: EdgeConfig, tmp_path: Path
) -> None:
    union = SimUnion.create(7, now=SAT_03_LOCAL)
    union.write_trust_dir(config.access.trust_dir or tmp_path)
    clock = SimClock(SAT_03_LOCAL)
    agent, factory, pin = _agent(config, clock)
    try:
        member = agent.scan_text(union.enroll("m").present(clock.timestamp()))
        assert member.reason is Reason.NOT_PERMITTED
        assert not pin.state
        staff = union.enroll("s", flags=Flag.STAFF).present(clock.timestamp())
        assert agent.scan_text(staff).granted
        assert pin.state
    finally:
        agent.stop()
        factory.close()


def test_free_hours_hold_the_lock_released_and_relock_after(
    config: EdgeConfig, tmp_path: Path
) -> None:
    union = SimUnion.create(7, now=FRI_10_LOCAL)
    union.write_trust_dir(config.access.trust_dir or tmp_path)
    clock = SimClock(datetime(2026, 11, 20, 11, 59, 30, tzinfo=UTC))  # 19:59:30 local
    agent, factory, pin = _agent(config, clock)
    try:
        assert agent.door.mode is DoorMode.FREE
        assert pin.state  # held released
        decision = agent.scan_text(union.enroll("m").present(clock.timestamp()))
        assert decision.granted  # still decided and journaled
        clock.advance(60)  # 20:00:30 local: members only
        agent.housekeeping()
        assert agent.door.mode is DoorMode.MEMBERS
        assert not pin.state  # locked again: fail-secure outside free hours
        rows = [json.loads(r.payload) for r in agent.journal.pending(limit=100)]
        assert [r["type"] for r in rows] == ["access"]  # no pulse while held open
    finally:
        agent.stop()
        factory.close()
