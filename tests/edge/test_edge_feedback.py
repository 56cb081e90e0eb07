"""Door feedback (`edge.feedback`): what the member at the door sees and hears, never in the
door's way. The agent is real, on gpiozero mock pins; the voice player is a script on PATH."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.agent import Agent, Ports
from edge.config import DoorConfig, EdgeConfig, ScheduleConfig
from edge.feedback.config import FeedbackConfig
from edge.feedback.cues import PROMPTS
from edge.feedback.worker import DoorFeedback
from edge.hw.indicators import gpio_feedback
from edge.hw.relay import GpioRelay
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory, relay_pin
from firmware_sim.scenes import render_empty, render_phone_qr
from firmware_sim.union import SimUnion
from protocol.credential import Reason
from tests.support.wait import wait_for

GREEN, RED, BUZZER = 23, 24, 25
SHOW_S = 0.2  # patterns at this length keep the tests quick; the shape is the same


def player(bin_dir: Path, name: str, body: str) -> Path:
    """A fake audio player on PATH: `body` is shell; "$@" are the args it was given."""
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    """An audio_dir holding every prompt (the player is fake: any bytes will do)."""
    audio = tmp_path / "voice"
    audio.mkdir()
    for prompt in PROMPTS:
        (audio / f"{prompt.name}.wav").write_bytes(b"RIFF")
    return audio


class Door:
    """An offline agent on mock pins with feedback on the same pins."""

    def __init__(self, config: EdgeConfig, clock: SimClock, cues: FeedbackConfig) -> None:
        self.pins = mock_factory()
        self.config = config.model_copy(update={"feedback": cues})
        self.feedback = gpio_feedback(cues, self.pins)
        relay = GpioRelay(self.config.door, pin_factory=self.pins)
        self.agent = Agent(self.config, Ports(relay=relay, clock=clock, feedback=self.feedback))
        self.relay = relay_pin(self.pins, self.config.door.relay_pin)

    def levels(self, pin: int) -> list[bool]:
        """The pin's levels over time, from its first (off)."""
        return [state.state for state in self.pins.pin(pin).states]

    def idle(self) -> None:
        assert self.feedback.wait_idle(5), "the feedback never finished"


@pytest.fixture
def make_door(config: EdgeConfig, clock: SimClock) -> Iterator[Callable[..., Door]]:
    made: list[Door] = []

    def make(base: EdgeConfig | None = None, **cues: object) -> Door:
        settings: dict[str, object] = {
            "green_pin": GREEN, "red_pin": RED, "buzzer_pin": BUZZER, "show_s": SHOW_S,
        } | cues  # fmt: skip
        door = Door(base or config, clock, FeedbackConfig.model_validate(settings))
        door.agent.start()
        made.append(door)
        return door

    yield make
    for door in made:
        door.agent.stop()
        door.pins.close()


def closed_station(config: EdgeConfig) -> EdgeConfig:
    """Members only on weekdays; the test clock's NOW is a Sunday: the station is closed."""
    return config.model_copy(update={"schedule": ScheduleConfig(members="Mo-Fr 08:00-18:00")})


# --- one pattern per kind of decision -------------------------------------------------------


def test_a_grant_is_green_with_one_short_beep(
    make_door: Callable[..., Door], union: SimUnion, clock: SimClock
) -> None:
    door = make_door()
    decision = door.agent.scan_text(union.enroll("m1").present(clock.timestamp()))
    assert decision.granted
    door.idle()
    assert door.levels(GREEN) == [False, True, False]
    assert door.levels(BUZZER) == [False, True, False]
    assert door.levels(RED) == [False]
    beep, green_on = door.pins.pin(BUZZER).states[2], door.pins.pin(GREEN).states[2]
    assert beep.timestamp < green_on.timestamp  # a short beep while green stays on
    assert green_on.timestamp >= SHOW_S * 0.9
    assert door.agent.stats["feedback.granted"] == 1


def test_a_denial_is_red_with_two_beeps(
    make_door: Callable[..., Door], union: SimUnion, clock: SimClock
) -> None:
    door = make_door()
    decision = door.agent.scan_text(union.enroll_expired("old").present(clock.timestamp()))
    assert decision.reason is Reason.EXPIRED
    door.idle()
    assert door.levels(RED) == [False, True, False]
    assert door.levels(BUZZER) == [False, True, False, True, False]
    assert door.levels(GREEN) == [False]


def test_closed_by_schedule_blinks_red_with_one_long_beep(
    make_door: Callable[..., Door], config: EdgeConfig, union: SimUnion, clock: SimClock
) -> None:
    door = make_door(closed_station(config))
    decision = door.agent.scan_text(union.enroll("m1").present(clock.timestamp()))
    assert decision.reason is Reason.NOT_PERMITTED
    door.idle()
    assert door.levels(RED) == [False, True, False, True, False]
    assert door.levels(BUZZER) == [False, True, False]
    assert door.levels(GREEN) == [False]
    long_beep = door.pins.pin(BUZZER).states[2].timestamp
    assert long_beep >= 0.3 * SHOW_S * 0.9  # three times a grant's beep


def test_beep_false_keeps_the_buzzer_silent(
    make_door: Callable[..., Door], union: SimUnion, clock: SimClock
) -> None:
    door = make_door(beep=False)
    door.agent.scan_text(union.enroll("m1").present(clock.timestamp()))
    door.idle()
    assert door.levels(GREEN) == [False, True, False]
    assert door.levels(BUZZER) == [False]


def test_a_newer_decision_cuts_the_older_pattern_short(
    make_door: Callable[..., Door], union: SimUnion, clock: SimClock
) -> None:
    door = make_door(show_s=10.0)  # a grant's green would stay on 10 s
    door.agent.scan_text(union.enroll("m1").present(clock.timestamp()))
    wait_for(lambda: door.pins.pin(GREEN).state, 5, "green on")
    door.agent.scan_text("https://qr.alipay.com/fkx00001")  # the next person, a wrong code
    wait_for(lambda: door.pins.pin(RED).state and not door.pins.pin(GREEN).state, 1, "red only")
    assert door.agent.stats["feedback_preempted"] == 1


# --- voice prompts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "wav"),
    [
        ("granted", "welcome.wav"),
        ("stale", "refresh.wav"),
        ("garbage", "retry.wav"),
        ("expired", "not_authorised.wav"),
        ("closed", "closed.wav"),
    ],
)
def test_each_decision_speaks_its_prompt(
    make_door: Callable[..., Door],
    config: EdgeConfig,
    union: SimUnion,
    clock: SimClock,
    prompts: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    wav: str,
) -> None:
    record = tmp_path / "played.txt"
    player(tmp_path / "bin", "fakeplay", f'echo "$@" >> "{record}"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    base = closed_station(config) if case == "closed" else config
    door = make_door(base, voice=True, audio_dir=prompts, player="fakeplay -v {volume} {file}",
                     volume=0.7)  # fmt: skip
    now = clock.timestamp()
    text = {
        "granted": union.enroll("m1").present(now),
        "closed": union.enroll("m1").present(now),
        "stale": union.enroll("m2").present(now - 120),
        "garbage": "SF000012345678",
        "expired": union.enroll_expired("old").present(now),
    }[case]
    door.agent.scan_text(text)
    wait_for(lambda: lines(record), 5, "the player's record")
    door.idle()
    assert lines(record) == [f"-v 0.7 {prompts / wav}"]
    assert door.agent.stats["feedback_voice_errors"] == 0


def test_a_hanging_player_never_delays_the_door(
    make_door: Callable[..., Door],
    config: EdgeConfig,
    union: SimUnion,
    clock: SimClock,
    prompts: Path,
    tmp_path: Path,
) -> None:
    """Frame in → relay energised while the prompt of the member before still plays."""
    record, release = tmp_path / "played.txt", tmp_path / "release"
    hang = player(
        tmp_path / "bin",
        "hangplay",
        f'echo "start $1" >> "{record}"\n'
        f'while [ ! -e "{release}" ]; do sleep 0.01; done\n'
        f'echo "end $1" >> "{record}"',
    )
    short_pulse = config.model_copy(update={"door": DoorConfig(pulse_s=0.05)})
    door = make_door(short_pulse, voice=True, audio_dir=prompts, player=f"{hang} {{file}}",
                     show_s=0.05)  # fmt: skip
    empty = render_empty(rng=np.random.default_rng(1))
    for n in (1, 2):
        frame = render_phone_qr(union.enroll(f"m{n}").present(clock.timestamp()))
        wait_for(lambda: not door.relay.state, 5, "locked again after the last pulse")
        door.agent.on_frame(empty)
        door.agent.on_frame(frame)  # the door loop's call for a camera frame
        assert door.relay.state, "the relay opened as the frame was handled"
        wait_for(lambda n=n: len(lines(record)) == n, 5, f"player started {n}×")  # type: ignore[misc]
        assert not any(line.startswith("end") for line in lines(record))
    # The first prompt was stopped for the second member's; the second one still plays.
    assert lines(record) == [f"start {prompts / 'welcome.wav'}"] * 2
    release.touch()
    wait_for(lambda: lines(record)[-1:] == [f"end {prompts / 'welcome.wav'}"], 5, "the end")
    door.idle()
    assert lines(record).count(f"end {prompts / 'welcome.wav'}") == 1  # the first was killed
    assert door.agent.stats["granted"] == 2


def test_a_prompt_past_its_timeout_is_stopped(
    make_door: Callable[..., Door], union: SimUnion, clock: SimClock, prompts: Path, tmp_path: Path
) -> None:
    record = tmp_path / "played.txt"
    hang = player(tmp_path / "bin", "sleepplay", f'echo "start" >> "{record}"\nexec sleep 30')
    door = make_door(
        voice=True, audio_dir=prompts, player=f"{hang} {{file}}", show_s=0.05,
        prompt_timeout_s=0.2,
    )  # fmt: skip
    door.agent.scan_text(union.enroll("m1").present(clock.timestamp()))
    door.idle()  # within the timeout, not the player's 30 s
    assert lines(record) == ["start"]
    voice = door.feedback.voice
    assert voice is not None
    assert not voice.playing


@pytest.mark.parametrize("missing", ["player", "file"])
def test_a_missing_player_or_file_is_counted_and_logged_once(
    make_door: Callable[..., Door],
    union: SimUnion,
    clock: SimClock,
    prompts: Path,
    caplog: pytest.LogCaptureFixture,
    missing: str,
) -> None:
    if missing == "file":
        (prompts / "welcome.wav").unlink()
    player_cmd = "no-such-player-here {file}" if missing == "player" else "true {file}"
    door = make_door(voice=True, audio_dir=prompts, player=player_cmd)
    caplog.set_level(logging.ERROR, logger="edge.feedback.voice")
    for n in (1, 2):
        decision = door.agent.scan_text(union.enroll(f"m{n}").present(clock.timestamp()))
        assert decision.granted
        assert door.relay.state
        door.idle()
    assert door.agent.stats["feedback_voice_errors"] == 2
    assert door.agent.stats["feedback.granted"] == 2  # the lights went on regardless
    assert door.levels(GREEN) == [False, True, False, True, False]
    logged = [r for r in caplog.records if r.name == "edge.feedback.voice"]
    assert len(logged) == 1, [r.getMessage() for r in logged]
    assert ("no-such-player-here" if missing == "player" else "welcome.wav") in logged[0].msg % (
        logged[0].args
    )


# --- the queue ------------------------------------------------------------------------------


class StuckLights:
    """Indicators whose first switch blocks until released: a wedged output."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.shown: list[tuple[bool, bool, bool]] = []

    def open(self) -> None: ...

    def close(self) -> None: ...

    def show(self, *, green: bool, red: bool, buzz: bool) -> None:
        self.entered.set()
        assert self.release.wait(5)
        self.shown.append((green, red, buzz))


def test_a_full_queue_drops_the_oldest_and_never_blocks_the_caller() -> None:
    lights = StuckLights()
    feedback = DoorFeedback(FeedbackConfig(show_s=0.05, queue_size=4), indicators=lights)
    stats: Counter[str] = Counter()
    feedback.start("sz-0001", stats)
    try:
        feedback.show("granted", Reason.GRANTED)
        assert lights.entered.wait(5)  # the worker is stuck in the first pattern
        start = time.perf_counter()
        for _ in range(8):
            feedback.show("denied", Reason.EXPIRED)
        feedback.show("closed", Reason.NOT_PERMITTED)  # the newest
        assert time.perf_counter() - start < 1.0  # a blocking show() would wait out the stuck 5 s
        assert stats["feedback_dropped"] == 5  # 9 queued into 4 places
        lights.release.set()
        assert feedback.wait_idle(5)
    finally:
        lights.release.set()
        feedback.stop()
    assert stats["feedback.closed"] == 1  # the newest played; the 3 older ones were skipped
    assert stats["feedback.denied"] == 0
    assert (False, True, True) in lights.shown  # closed: red with its long beep


def test_a_station_without_feedback_has_none(config: EdgeConfig, clock: SimClock) -> None:
    assert not config.feedback.active
    assert not FeedbackConfig(enabled=False, green_pin=GREEN, voice=True).active
    agent = Agent(config, Ports(relay=GpioRelay(config.door, pin_factory=mock_factory())))
    assert agent.feedback is None
