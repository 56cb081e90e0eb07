"""The door's timing, in one place: when the lock is released, for how long, and what an
opening of the door means. Seconds come from `DoorConfig`; times are monotonic seconds.

- **Pulse**: a granted code, an exit press and a remote `unlock` release the lock for
  `pulse_s`, then it locks again (the relay ends the pulse itself; a pulse during a pulse
  restarts it, so two members in a row each get the full time).
- **Lock hold by mode** (the mode comes from `edge.access.schedule`): in `free` hours the
  lock is held released, in `members` and `closed` hours it is locked between pulses. So in
  free hours a grant pulses nothing (`edge.access.decide` says `already_open`), an exit press
  does nothing (no event either) and a remote `unlock` answers that the lock is released.
- **Authorised opening**: the door opening within `pulse_s + open_grace_s` of a release is
  `door_opened` with the release's cause (`grant`, `exit`, `remote`); in free hours it always
  is (`free`); any other opening is `forced_open`.
- **Held open**: the door open for `held_open_s` raises `held_open` once per opening (never
  in free hours).
- Contact bounce (the same edge twice) changes nothing.

`DoorMonitor` is the contact's state machine, pure logic; `Door` drives it and the relay from
the ports for the agent's loop. The gpiozero adapters are in `edge.hw`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from edge.access.schedule import DoorMode
from edge.config import DoorConfig
from edge.guard import guarded
from edge.ports import DoorInputs, LockHold, Relay, SensorKind

log = logging.getLogger(__name__)

# What the door does: the contact's happenings, an exit press to answer, and a lock release.
DoorAction = Literal["door_opened", "door_closed", "held_open", "forced_open", "exit", "unlocked"]


@dataclass(frozen=True, slots=True)
class DoorHappening:
    """Something to journal as a door event (`exit` only travels from the monitor to `Door`)."""

    action: DoorAction
    cause: str | None = None

    @property
    def from_contact(self) -> bool:
        """The door moved or stayed open (what footfall listens to), not the lock's release."""
        return self.action != "unlocked"


class DoorMonitor:
    """The door contact's state machine on monotonic seconds; no pins and no I/O."""

    def __init__(self, config: DoorConfig) -> None:
        self.config = config
        self.is_open: bool | None = None  # unknown until the contact is first read
        self._opened_at: float | None = None
        self._held_reported = False
        self._released_until = -float("inf")  # lock released (grant/exit/remote) until then
        self._release_cause: str | None = None
        self.free = False  # free-passage hours: opening is always authorised

    def sync(self, is_open: bool, now: float) -> None:
        """Take the contact's state at start-up without reporting it as an event."""
        self.is_open = is_open
        self._opened_at = now if is_open else None
        self._held_reported = False

    def released(self, now: float, seconds: float, cause: str) -> None:
        """The lock was released at `now` for `seconds` (a grant, an exit press, a remote
        unlock): an opening until the pulse ends plus `open_grace_s` is authorised."""
        self._released_until = now + seconds + self.config.open_grace_s
        self._release_cause = cause

    def sensor(self, kind: SensorKind, now: float) -> list[DoorHappening]:
        if kind == "exit":
            return [DoorHappening("exit", "exit")]
        if kind == "opened" and not self.is_open:
            self.is_open = True
            self._opened_at = now
            self._held_reported = False
            if self.free:
                return [DoorHappening("door_opened", "free")]
            if now <= self._released_until:
                return [DoorHappening("door_opened", self._release_cause)]
            return [DoorHappening("forced_open")]
        if kind == "closed" and self.is_open is not False:
            was_open = self.is_open
            self.is_open = False
            self._opened_at = None
            return [DoorHappening("door_closed")] if was_open else []
        return []  # a repeated edge (contact bounce) changes nothing

    def tick(self, now: float) -> list[DoorHappening]:
        """Time passing: the door open past `held_open_s` raises `held_open` once."""
        opened = self._opened_at
        if opened is None or self._held_reported or self.free:
            return []
        if now - opened >= self.config.held_open_s:
            self._held_reported = True
            return [DoorHappening("held_open")]
        return []


class Door:
    """The lock relay and the door inputs as the agent's loop drives them (rules above).

    A failing relay or input is counted in `stats` (`relay_errors`, `sensor_errors`) and
    logged, never raised, except when the relay cannot be claimed at start: no lock, no agent.
    """

    def __init__(
        self,
        sid: str,
        config: DoorConfig,
        *,
        relay: Relay,
        inputs: DoorInputs | None,
        stats: Counter[str],
    ) -> None:
        self.sid = sid
        self.relay = relay
        self.inputs = inputs  # door contact and exit button; None: neither fitted
        self.stats = stats
        self.monitor = DoorMonitor(config)
        self.mode: DoorMode | None = None  # what the lock follows; None until `follow()`

    @property
    def config(self) -> DoorConfig:
        return self.monitor.config

    @config.setter
    def config(self, config: DoorConfig) -> None:
        """A new remote config's timings, in force from the next release and tick."""
        self.monitor.config = config

    @property
    def is_open(self) -> bool | None:
        """The door contact's state; None until it was first read (or with no contact)."""
        return self.monitor.is_open

    @property
    def held_released(self) -> bool:
        """Free hours: the lock is held released, so there is nothing to pulse."""
        return self.mode is DoorMode.FREE

    def open(self) -> None:
        """Claim the relay (locked; raises if it cannot), then the inputs."""
        self.relay.open()
        if self.inputs is not None:
            guarded(self.sid, self.stats, "sensor_errors", self.inputs.open)

    def close(self) -> None:
        """Let the inputs go, then lock and let the relay go."""
        if self.inputs is not None:
            guarded(self.sid, self.stats, "sensor_errors", self.inputs.close)
        guarded(self.sid, self.stats, "relay_errors", self.relay.close)

    def follow(self, mode: DoorMode) -> None:
        """Hold the lock as `mode` wants: released in free hours, else locked between pulses.
        If the relay refuses, `mode` is not taken, so the next call tries again."""
        free = mode is DoorMode.FREE
        self.monitor.free = free
        relay = self.relay
        if isinstance(relay, LockHold):
            relay.hold(free)
        self.mode = mode

    def release(self, cause: str, now: float) -> bool:
        """Pulse the relay for `pulse_s` at monotonic `now`; the opening that follows is
        authorised with `cause`. False if the relay failed (counted, logged)."""
        pulse_s = self.config.pulse_s
        try:
            self.relay.pulse(pulse_s)
        except Exception:
            self.stats["relay_errors"] += 1
            log.exception("%s: relay pulse failed", self.sid)
            return False
        self.monitor.released(now, pulse_s, cause)
        return True

    def poll(self, now: float) -> list[DoorHappening]:
        """Drain the door inputs, run the held-open timer and answer exit presses (a pulse,
        except in free hours); returns what to journal, in order."""
        happenings: list[DoorHappening] = []
        inputs = self.inputs
        if inputs is not None:
            if self.monitor.is_open is None:
                state = inputs.door_open
                if state is not None:
                    self.monitor.sync(state, now)
            for kind in inputs.drain():
                happenings += self.monitor.sensor(kind, now)
        happenings += self.monitor.tick(now)
        out: list[DoorHappening] = []
        for item in happenings:
            if item.action != "exit":
                out.append(item)
            elif not self.held_released and self.release("exit", now):
                out.append(DoorHappening("unlocked", "exit"))
        return out
