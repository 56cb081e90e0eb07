"""The door's timing rules (edge/door.py) on fake ports: pulse, lock hold by mode, exit."""

from __future__ import annotations

from collections import Counter

from edge.access.schedule import DoorMode
from edge.config import DoorConfig
from edge.door import Door
from edge.ports import SensorKind


class Relay:
    """Records what the door asks of the lock (the `Relay` and `LockHold` ports)."""

    def __init__(self, *, broken: bool = False) -> None:
        self.pulses: list[float] = []
        self.held: list[bool] = []
        self.broken = broken

    def open(self) -> None: ...

    def close(self) -> None: ...

    def pulse(self, seconds: float) -> None:
        if self.broken:
            raise OSError("relay driver gone")
        self.pulses.append(seconds)

    def hold(self, released: bool) -> None:
        self.held.append(released)

    @property
    def is_active(self) -> bool:
        return False


class Inputs:
    """Door contact and exit button that report what the test feeds them."""

    def __init__(self) -> None:
        self.queue: list[SensorKind] = []

    def open(self) -> None: ...

    def close(self) -> None: ...

    @property
    def door_open(self) -> bool | None:
        return False

    def drain(self) -> list[SensorKind]:
        out, self.queue = self.queue, []
        return out


def door(config: DoorConfig | None = None, relay: Relay | None = None) -> tuple[Door, Inputs]:
    inputs = Inputs()
    made = Door("sz-0001", config or DoorConfig(), relay=relay or Relay(), inputs=inputs,
                stats=Counter())  # fmt: skip
    made.follow(DoorMode.MEMBERS)
    made.poll(0.0)  # the contact is read once: the door is shut
    return made, inputs


def actions(door: Door, inputs: Inputs, now: float, *kinds: SensorKind) -> list[tuple]:
    inputs.queue += kinds
    return [(h.action, h.cause) for h in door.poll(now)]


def test_an_exit_press_pulses_and_authorises_the_opening() -> None:
    d, inputs = door(DoorConfig(pulse_s=1.5, open_grace_s=5.0))
    assert actions(d, inputs, 10.0, "exit") == [("unlocked", "exit")]
    assert d.relay.pulses == [1.5]  # type: ignore[attr-defined]
    assert actions(d, inputs, 16.0, "opened") == [("door_opened", "exit")]  # within 1.5 + 5


def test_an_opening_after_the_pulse_and_grace_is_forced() -> None:
    d, inputs = door(DoorConfig(pulse_s=1.5, open_grace_s=5.0))
    assert d.release("grant", 10.0)
    assert actions(d, inputs, 16.6, "opened") == [("forced_open", None)]


def test_free_hours_hold_the_lock_and_ignore_the_exit_button() -> None:
    relay = Relay()
    d, inputs = door(DoorConfig(held_open_s=30.0), relay)
    d.follow(DoorMode.FREE)
    assert relay.held == [False, True]  # locked in members hours, released in free hours
    assert d.held_released
    assert actions(d, inputs, 1.0, "exit") == []  # nothing to release, nothing journaled
    assert relay.pulses == []
    assert actions(d, inputs, 2.0, "opened") == [("door_opened", "free")]
    assert actions(d, inputs, 100.0) == []  # never held open in free hours
    d.follow(DoorMode.CLOSED)
    assert relay.held[-1] is False
    assert not d.held_released


def test_the_door_left_open_raises_held_open_once() -> None:
    d, inputs = door(DoorConfig(held_open_s=30.0))
    actions(d, inputs, 1.0, "opened")
    assert actions(d, inputs, 30.9) == []
    assert actions(d, inputs, 31.0) == [("held_open", None)]
    assert actions(d, inputs, 90.0) == []


def test_a_failing_relay_is_counted_not_raised() -> None:
    d, inputs = door(relay=Relay(broken=True))
    assert not d.release("remote", 1.0)
    assert actions(d, inputs, 2.0, "exit") == []  # no pulse, so no `unlocked` either
    assert d.stats["relay_errors"] == 2


def test_new_timings_apply_to_the_next_release() -> None:
    d, inputs = door(DoorConfig(pulse_s=1.5, open_grace_s=0.0))
    d.config = DoorConfig(pulse_s=4.0, open_grace_s=0.0)
    assert d.release("grant", 0.0)
    assert d.relay.pulses == [4.0]  # type: ignore[attr-defined]
    assert actions(d, inputs, 3.9, "opened") == [("door_opened", "grant")]
