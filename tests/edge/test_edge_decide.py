"""The door decision (edge/access/decide.py) on a real `Agent`, mock pins and a simulated clock.

The regression tests drive the agent only through `scan_text` and the journal, so each one
also runs against the agent before the decision was gathered in one place, where it failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.access.decide import judging_time
from edge.access.timeguard import TimeGuard
from edge.agent import Agent, Ports
from edge.config import AccessConfig, EdgeConfig, ScheduleConfig
from edge.hw.relay import GpioRelay
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory
from firmware_sim.union import SimUnion
from protocol.credential import Flag, Reason, issue_token

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
DAY = 86400


class Station:
    """An offline agent on mock pins whose clock probe the test sets."""

    def __init__(self, config: EdgeConfig, clock: SimClock, synced: bool | None) -> None:
        self.factory = mock_factory()
        self.agent = Agent(
            config,
            Ports(
                relay=GpioRelay(config.door, pin_factory=self.factory),
                clock=clock,
                clock_probe=lambda: synced,
            ),
        )
        self.agent.start()

    def scan(self, text: str) -> Reason:
        return self.agent.scan_text(text).reason

    def pulses(self) -> int:
        rows = [json.loads(r.payload) for r in self.agent.journal.pending(limit=10_000)]
        return sum(1 for r in rows if r.get("action") == "unlocked" and r.get("cause") == "grant")

    def close(self) -> None:
        self.agent.stop()
        self.factory.close()


def make_config(tmp_path: Path, trust_dir: Path, **access: object) -> EdgeConfig:
    return EdgeConfig(
        station_id="sz-0001",
        journal_path=tmp_path / "journal.db",
        access=AccessConfig(trust_dir=trust_dir, **access),  # type: ignore[arg-type]
        # Members 08:00-20:00 Shanghai: at NOW (20:00) the station has just closed.
        schedule=ScheduleConfig(members="Mo-Su 08:00-20:00", timezone="Asia/Shanghai"),
    )


@pytest.fixture
def synced(tmp_path: Path, trust_dir: Path) -> Iterator[tuple[Station, SimClock]]:
    """A station on a trusted clock at 11:00 Shanghai (open for members), skew 0."""
    clock = SimClock(NOW - timedelta(hours=9))
    station = Station(make_config(tmp_path, trust_dir, skew_s=0), clock, synced=True)
    yield station, clock
    station.close()


@pytest.fixture
def booted(tmp_path: Path, trust_dir: Path) -> Iterator[tuple[Station, SimClock]]:
    """A station that ran on NTP time until NOW, then rebooted offline with its clock at 1970:
    its lower bound on the true time is NOW + uptime, and it is closed by schedule then."""
    config = make_config(tmp_path, trust_dir)
    Station(config, SimClock(NOW), synced=True).close()
    clock = SimClock(datetime(1970, 1, 1, tzinfo=UTC))
    station = Station(config, clock, synced=False)
    clock.advance(60)
    yield station, clock
    station.close()


def token(union: SimUnion, serial: bytes, start: datetime, minutes: int = 5) -> str:
    return issue_token(
        union.issuer,
        kid=union.kid,
        serial=serial,
        window_start_min=int(start.timestamp()) // 60,
        window_len_min=minutes,
    )


# --- 1. replay lives as long as the credential can be fresh -----------------------------------


def test_a_ws2_token_opens_the_door_once_in_its_whole_window(
    synced: tuple[Station, SimClock], union: SimUnion
) -> None:
    """Story: one 5-minute WS2 token was granted at +0 s, +130 s and +260 s (three pulses),
    because replay entries were forgotten after ~70 s while the token stayed fresh."""
    station, clock = synced
    text = token(union, union.enroll("m").cert.serial, clock.now())
    assert station.scan(text) is Reason.GRANTED
    clock.advance(130)
    assert station.scan(text) is Reason.REPLAYED
    clock.advance(130)
    assert station.scan(text) is Reason.REPLAYED
    assert station.pulses() == 1


def test_ws2_window_end_is_exclusive(synced: tuple[Station, SimClock], union: SimUnion) -> None:
    """Story: a 5-minute WS2 token was still accepted at exactly its window end (and for the
    whole second after it): windows overlapped, two tokens were good at the same instant."""
    station, clock = synced
    serial = union.enroll("m").cert.serial
    start = clock.now()
    clock.advance(299.5)
    assert station.scan(token(union, serial, start)) is Reason.GRANTED
    clock.advance(0.5)  # exactly start + 300 s: the next window's instant
    fresh = token(union, union.enroll("n").cert.serial, start)
    assert station.scan(fresh) is Reason.STALE_PRESENTATION


def test_ws1_window_is_exact_to_the_subsecond(
    synced: tuple[Station, SimClock], union: SimUnion
) -> None:
    """Story: times were cut to whole seconds, so a code 30.9 s old passed a 30 s window."""
    station, clock = synced
    wallet = union.enroll("m")
    t = clock.timestamp()
    clock.advance(30.0)
    assert station.scan(wallet.present(t)) is Reason.GRANTED  # 30.0 s old: still inside
    clock.advance(0.9)
    other = union.enroll("n")  # not a replay: another member's code, 30.9 s old
    assert station.scan(other.present(t)) is Reason.STALE_PRESENTATION


# --- 2. an unsynchronised clock: the phone's time moves only its own code's check -------------


def test_unsynced_door_mode_follows_the_station_not_the_phone(
    booted: tuple[Station, SimClock], union: SimUnion
) -> None:
    """Story: with the station clock unsynced, a non-staff code dated +13 h (inside opening
    hours) was granted while the station was closed by schedule at its own time."""
    station, _ = booted
    lower = int(NOW.timestamp()) + 60  # 20:01 Shanghai: closed
    morning = lower + 13 * 3600  # 09:01 the next day: open by schedule
    assert station.scan(union.enroll("m").present(morning)) is Reason.NOT_PERMITTED
    staff = union.enroll("s", flags=Flag.STAFF)
    assert station.scan(staff.present(lower)) is Reason.GRANTED  # staff may enter when closed
    assert station.pulses() == 1


def test_a_far_future_code_cannot_wipe_the_replay_cache(
    booted: tuple[Station, SimClock], union: SimUnion
) -> None:
    """Story: while unsynced, a code dated +13 days moved "now" for the replay cache and
    evicted it; a photo of another member's already-used code was then granted again."""
    station, clock = booted
    lower = int(NOW.timestamp()) + 60
    staff = union.enroll("a", flags=Flag.STAFF)  # staff: the station is closed by schedule
    used = staff.present(lower + 5)
    assert station.scan(used) is Reason.GRANTED
    future = union.enroll("b", flags=Flag.STAFF).present(lower + 13 * DAY)
    assert station.scan(future) is Reason.GRANTED  # believed: within the 14-day allowance
    for _ in range(3):
        clock.advance(5)
        assert station.scan(used) is Reason.REPLAYED
    assert station.pulses() == 2


def test_unsynced_replay_entry_lasts_until_the_lower_bound_passes_its_freshness(
    booted: tuple[Station, SimClock], union: SimUnion
) -> None:
    """A code dated 10 minutes ahead of the lower bound stays `replayed` until the lower bound
    (not the phone's claim) has passed t + window + skew; after that it is stale anyway."""
    station, clock = booted
    lower = int(NOW.timestamp()) + 60
    code = union.enroll("a", flags=Flag.STAFF).present(lower + 600)
    assert station.scan(code) is Reason.GRANTED
    clock.advance(600 + 30 + 5 - 1)  # lower bound 1 s before the freshness end
    assert station.scan(code) is Reason.REPLAYED
    clock.advance(2)
    assert station.scan(code) is Reason.STALE_PRESENTATION
    assert len(station.agent.decider.replay) <= 1


# --- the clock rule itself -------------------------------------------------------------------


def test_judging_time_is_the_claim_clamped_to_the_lower_bound(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    TimeGuard(SimClock(NOW), path, probe=lambda: None).tick(force=True)
    guard = TimeGuard(SimClock(NOW), path, probe=lambda: False, max_ahead_s=3600)
    guard.load()
    view = guard.view()
    low = NOW.timestamp()
    assert judging_time(view, int(low + 600), 3600).timestamp() == low + 600  # believed
    assert judging_time(view, int(low - 600), 3600).timestamp() == low  # before the bound
    assert judging_time(view, int(low + DAY), 3600).timestamp() == low + 3600  # capped
    assert judging_time(view, None, 3600).timestamp() == low
    trusted = TimeGuard(SimClock(NOW), None, probe=lambda: True).view()
    assert judging_time(trusted, int(low + 600), 3600) == NOW  # synced: the wall clock


def test_free_mode_grant_does_not_pulse(tmp_path: Path, trust_dir: Path, union: SimUnion) -> None:
    """In free hours a member's code is decided and journaled but the lock is already held."""
    config = make_config(tmp_path, trust_dir).model_copy(
        update={"schedule": ScheduleConfig(free="24/7", timezone="Asia/Shanghai")}
    )
    clock = SimClock(NOW)
    station = Station(config, clock, synced=True)
    try:
        assert station.scan(union.enroll("m").present(clock.timestamp())) is Reason.GRANTED
        assert station.agent.stats["granted_while_free"] == 1
        assert station.pulses() == 0
    finally:
        station.close()
