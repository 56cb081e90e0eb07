"""`edge.entrance.Entrance`: frames and texts in, decisions out; the door acts first, then the
journal, then the link is woken; nothing a part does escapes as an exception. The decision
rules themselves are faked (they have their own tests, `tests/edge/test_edge_decide.py`)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pytest

from edge.access.decide import DoorAction, Verdict
from edge.access.schedule import DoorMode
from edge.camera.health import CameraHealth
from edge.camera.stats import CameraStats
from edge.config import DoorConfig
from edge.door import Door
from edge.entrance import Entrance
from edge.events import EventLog
from edge.journal import Journal
from firmware_sim.clock import SimClock
from protocol.credential import Decision, Reason
from protocol.messages import AccessEvent, AlarmEvent, DoorEvent, decode
from protocol.topics import Kind
from tests.support.edge_fakes import FakeLink, FakeRelay

WALL = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SERIAL = "0123456789abcdef01234567"
DEBOUNCE_S = 2.0
FRAME = np.random.default_rng(1).integers(0, 255, (48, 64), dtype=np.uint8)  # usable

GRANT = Verdict(Decision(Reason.GRANTED, "ws2", "k1", SERIAL), DoorAction.PULSE, synced=True)
EXPIRED = Verdict(Decision(Reason.EXPIRED, "ws2", "k1", SERIAL), DoorAction.NONE, synced=True)


class FakeDecoder:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.error: Exception | None = None
        self.calls = 0

    def decode(self, frame: object) -> list[str]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return list(self.texts)


class FakeDecider:
    """Verdicts by text (anything unknown: malformed); `error` makes `decide` raise."""

    def __init__(self) -> None:
        self.verdicts: dict[str, Verdict] = {}
        self.error: Exception | None = None
        self.modes: list[DoorMode] = []

    def mode_now(self) -> DoorMode:
        return DoorMode.MEMBERS

    def decide(self, text: str, mode: DoorMode) -> Verdict:
        self.modes.append(mode)
        if self.error is not None:
            raise self.error
        denied = Verdict(Decision(Reason.MALFORMED), DoorAction.NONE, synced=True)
        return self.verdicts.get(text, denied)


class FakeMotion:
    def __init__(self) -> None:
        self.moving = True

    def should_decode(self, frame: np.ndarray, now: float) -> bool:
        return self.moving


class FakeTimeGuard:
    def best_now(self) -> datetime:
        return WALL


class FakeFootfall:
    def __init__(self) -> None:
        self.grants = 0

    def granted(self) -> None:
        self.grants += 1


@dataclass
class FakeFeedback:
    """Records what the member was shown, in the host's order of events."""

    order: list[str]
    shown: list[tuple[str, str]] = field(default_factory=list)

    def show(self, kind: object, reason: object) -> None:
        self.shown.append((str(kind), str(reason)))
        self.order.append("feedback")


@dataclass
class Host:
    journal: Journal
    sid: str = "sz-0001"
    clock: SimClock = field(default_factory=SimClock)
    decoder: FakeDecoder = field(default_factory=FakeDecoder)
    motion: FakeMotion = field(default_factory=FakeMotion)
    camera_health: CameraHealth = field(default_factory=lambda: CameraHealth(down_after_s=5.0))
    camera_stats: CameraStats = field(default_factory=CameraStats)
    decider: FakeDecider = field(default_factory=FakeDecider)
    time_guard: FakeTimeGuard = field(default_factory=FakeTimeGuard)
    relay: FakeRelay = field(default_factory=FakeRelay)
    footfall: FakeFootfall | None = field(default_factory=FakeFootfall)
    link: FakeLink | None = field(default_factory=FakeLink)
    feedback: FakeFeedback | None = None
    stats: Counter[str] = field(default_factory=Counter)
    decide_lock: threading.Lock = field(default_factory=threading.Lock)
    order: list[str] = field(default_factory=list)  # what happened, in order
    housekeeping: int = 0

    def __post_init__(self) -> None:
        self.door = Door(self.sid, DoorConfig(), relay=self.relay, inputs=None, stats=self.stats)
        self.events = EventLog(
            self.sid, self.journal, now=self.clock.now, stats=self.stats, wake=lambda: None
        )

    def kick(self) -> None:
        self.order.append("kick")

    def housekeeping_if_due(self) -> None:
        self.housekeeping += 1

    def journaled(self) -> list[object]:
        return [decode(Kind.EVENTS, r.payload) for r in self.journal.pending()]


@pytest.fixture
def host() -> Iterator[Host]:
    with Journal(":memory:") as journal:
        yield Host(journal)


@pytest.fixture
def entrance(host: Host) -> Entrance:
    return Entrance(host, debounce_s=DEBOUNCE_S)  # type: ignore[arg-type]


def test_a_grant_pulses_the_door_then_journals_then_wakes_the_link(
    host: Host, entrance: Entrance
) -> None:
    host.decider.verdicts["code"] = GRANT
    host.decoder.texts = ["code"]
    assert entrance.on_frame(FRAME) is True
    assert host.relay.pulses == [DoorConfig().pulse_s]
    access, unlocked = host.journaled()
    assert isinstance(access, AccessEvent)
    assert (access.granted, access.serial, access.ts) == (True, SERIAL, WALL)
    assert isinstance(unlocked, DoorEvent)
    assert (unlocked.action, unlocked.cause, unlocked.ts) == ("unlocked", "grant", WALL)
    assert host.order == ["kick"]
    assert host.footfall is not None
    assert host.footfall.grants == 1  # tailgating counts entries beyond the grants
    assert host.housekeeping == 1  # the door mode in force is fresh
    assert host.stats["granted"] == host.stats["reason.granted"] == 1


def test_the_member_is_shown_the_outcome_after_the_door_and_before_the_link_wakes(
    host: Host, entrance: Entrance
) -> None:
    host.feedback = FakeFeedback(host.order)
    host.decider.verdicts["code"] = GRANT
    host.decoder.texts = ["code"]
    entrance.on_frame(FRAME)
    assert host.relay.pulses == [DoorConfig().pulse_s]  # the door did not wait for it
    assert len(host.feedback.shown) == 1
    assert host.feedback.shown[0][1] == "granted"
    assert host.order == ["feedback", "kick"]


def test_a_code_held_for_many_frames_is_decided_once(host: Host, entrance: Entrance) -> None:
    host.decider.verdicts["code"] = GRANT
    host.decoder.texts = ["code"]
    for _ in range(10):
        entrance.on_frame(FRAME)
        host.clock.advance(0.5)
    assert host.relay.pulses == [DoorConfig().pulse_s]
    assert len(host.decider.modes) == 1
    assert host.stats["suppressed"] == 9
    host.clock.advance(DEBOUNCE_S + 0.1)  # taken away, shown again: a new scan
    assert [d.reason for d in entrance.process_frame(FRAME)] == [Reason.GRANTED]


def test_a_refreshed_code_of_the_same_member_is_one_outcome(host: Host, entrance: Entrance) -> None:
    """A wallet redraws its code every few seconds: a new text, the same serial and reason."""
    host.decider.verdicts |= {"code-1": EXPIRED, "code-2": EXPIRED}
    host.decoder.texts = ["code-1"]
    assert len(entrance.process_frame(FRAME)) == 1
    host.clock.advance(1.0)
    host.decoder.texts = ["code-2"]
    assert entrance.process_frame(FRAME) == []
    assert host.stats["suppressed"] == 1
    assert len(host.journaled()) == 1


def test_scan_text_is_never_debounced(host: Host, entrance: Entrance) -> None:
    host.decider.verdicts["code"] = EXPIRED
    first = entrance.scan_text("code")
    second = entrance.scan_text("code")
    assert first.reason is second.reason is Reason.EXPIRED
    assert len(host.journaled()) == 2
    assert host.relay.pulses == []
    assert host.stats["denied"] == 2


def test_a_grant_in_free_hours_does_not_pulse_the_held_lock(host: Host, entrance: Entrance) -> None:
    host.door.follow(DoorMode.FREE)
    free = Verdict(GRANT.decision, DoorAction.ALREADY_OPEN, synced=False)
    host.decider.verdicts["code"] = free
    entrance.scan_text("code")
    assert host.decider.modes == [DoorMode.FREE]  # the door's mode, not the schedule's guess
    assert host.relay.pulses == []
    assert [type(e) for e in host.journaled()] == [AccessEvent]  # no `unlocked`
    assert host.stats["granted_while_free"] == 1
    assert host.stats["unsynced_decisions"] == 1


def test_a_failing_relay_still_journals_the_decision_but_no_unlock(
    host: Host, entrance: Entrance
) -> None:
    host.relay.broken = True
    host.decider.verdicts["code"] = GRANT
    decision = entrance.scan_text("code")
    assert decision.granted
    assert [type(e) for e in host.journaled()] == [AccessEvent]
    assert host.stats["relay_errors"] == 1


def test_a_decoder_crash_is_counted_not_raised(host: Host, entrance: Entrance) -> None:
    host.decoder.error = RuntimeError("zbar segfault-ish")
    assert entrance.process_frame(FRAME) == []
    assert host.stats["decode_errors"] == 1
    assert host.journaled() == []


def test_a_decider_crash_becomes_a_malformed_denial(host: Host, entrance: Entrance) -> None:
    host.decider.error = ValueError("x" * 500)
    decision = entrance.scan_text("code")
    assert decision.reason is Reason.MALFORMED
    assert decision.detail.startswith("decision error: ValueError(")
    assert len(decision.detail) == 200
    (event,) = host.journaled()
    assert isinstance(event, AccessEvent)
    assert event.granted is False
    assert host.relay.pulses == []


@pytest.mark.parametrize(
    "frame",
    [
        "not an image",
        FRAME.astype(np.float32),
        np.zeros((4, 4, 4, 4), dtype=np.uint8),
    ],
)
def test_process_frame_refuses_what_is_not_an_image(
    host: Host, entrance: Entrance, frame: object
) -> None:
    assert entrance.process_frame(frame) == []
    assert host.stats["bad_frames"] == 1
    assert host.decoder.calls == 0


def test_the_motion_gate_skips_the_decoder(host: Host, entrance: Entrance) -> None:
    host.motion.moving = False
    assert entrance.on_frame(FRAME) is True  # usable, just nothing to decode
    assert host.decoder.calls == 0
    assert host.stats["gated"] == 1


def test_a_dead_camera_raises_camera_down_once_and_a_good_frame_clears_it(
    host: Host, entrance: Entrance
) -> None:
    flat = np.full((48, 64), 128, dtype=np.uint8)  # a covered lens
    assert entrance.on_frame(None) is False
    host.clock.advance(3.0)
    assert entrance.on_frame(flat) is False
    host.clock.advance(2.0)  # 5 s without a usable frame
    assert entrance.on_frame(None) is False
    host.clock.advance(1.0)
    entrance.on_frame(None)  # still down: not raised again
    assert host.stats["bad_frames"] == 1  # the flat frame; a missing one is not "bad"
    host.motion.moving = False
    assert entrance.on_frame(FRAME) is True
    alarms = [e for e in host.journaled() if isinstance(e, AlarmEvent)]
    assert [(a.alarm, a.state, a.detail) for a in alarms] == [
        ("camera_down", "raised", "no usable frame"),
        ("camera_down", "cleared", None),
    ]
    assert host.stats["camera_down.raised"] == host.stats["camera_down.cleared"] == 1
    assert host.link is not None
    assert host.link.calls == ["rebirth", "rebirth"]  # the retained state follows


def test_camera_down_offline_is_still_journaled(host: Host, entrance: Entrance) -> None:
    host.link = None
    entrance.on_frame(None)
    host.clock.advance(5.0)
    entrance.on_frame(None)
    assert [e.state for e in host.journaled() if isinstance(e, AlarmEvent)] == ["raised"]
