"""One simulated station: a real `edge.agent.Agent` on mock pins, fed with rendered frames.

Everything below the agent is real (journal, verifier, door over gpiozero, MQTT link); only
the hardware is fake. `visit()` plays one member walking up to the door: most show a fresh
valid code, a few show an expired card or some unrelated QR, so denials appear as well.

Fleet mode (`firmware_sim.fleet`): `loop=` hands the link to a shared `NetLoop` (no thread
per station), and `light_hardware=True` swaps gpiozero's relay and buttons for thread-free
equivalents on the same mock pins (gpiozero starts a hold-watching thread per `Button`, polling
every 0.1 s, and a thread per relay pulse: 10,000 threads for 5,000 stations). The door
monitor, the journal, the verifier and the link stay the real edge code.

Faults for chaos runs (the interface `firmware_sim.faults` uses): `kill()`, `restart()`,
`partition(on)`, `reset_connection()`, `clock_offset_s`, `freeze_camera(on)`, and `ledger`,
every item the station ever journaled, read from `ledger.jsonl` beside the journal (the journal
deletes rows once acked; the ledger keeps the truth and survives kill/restart).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
from gpiozero.pins.mock import MockFactory, MockPin

from edge.access.timeguard import timesyncd_synced
from edge.agent import Agent, Ports
from edge.clock import SystemClock
from edge.config import AccessConfig, DoorConfig, EdgeConfig, MqttConfig
from edge.footfall.config import BeamConfig, FootfallConfig
from edge.footfall.crossing import Direction
from edge.footfall.unit import FootfallUnit
from edge.hw.door_inputs import GpioDoorInputs
from edge.hw.relay import GpioRelay
from edge.journal import Journal
from edge.link.mqtt import Link
from edge.link.runner import ExternalLoop
from edge.ports import Clock, LinkHooks
from firmware_sim.beams import walk_through
from firmware_sim.pins import mock_factory, press_button, relay_pin, set_door
from firmware_sim.scenes import random_moderate, render_phone_qr
from firmware_sim.sensors import station_sensors
from firmware_sim.union import SimUnion
from firmware_sim.wallet import Wallet
from protocol.credential import Decision
from protocol.messages import Payload
from protocol.registry import StationRecord

log = logging.getLogger(__name__)

# Share of visits that are not a valid member code (they produce denial events).
GARBAGE_P = 0.03  # some other QR: a payment code, a parcel label
EXPIRED_P = 0.04  # a member whose certificate ran out while the phone was offline
_GARBAGE = (
    "https://qr.alipay.com/fkx{n:05d}",
    "wxp://f2f0{n:06d}",
    "SF{n:012d}",
    "WS1:{n}NOTBASE45",
)
CONTACT_PIN = 27  # BCM pins of the simulated door contact and exit button
EXIT_PIN = 22
BEAM_A_PIN = 5  # the footfall beams, street side and inside
BEAM_B_PIN = 6
LEDGER_NAME = "ledger.jsonl"


class LedgerEntry(NamedTuple):
    """One journaled item: `key` is the event_id (events) or interval_start (footfall)."""

    seq: int
    key: str
    kind: str
    t: float  # unix seconds when the journal committed it (for end-to-end latency)


def read_ledger(path: Path) -> list[LedgerEntry]:
    """Every entry of a ledger file, oldest first (a torn last line is skipped)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            d = json.loads(line)
            out.append(LedgerEntry(int(d["seq"]), str(d["key"]), str(d["kind"]), float(d["t"])))
        except (ValueError, KeyError, TypeError):
            continue
    return out


class OffsetClock:
    """The station's wall clock with a settable skew (`offset_s`); monotonic time is untouched."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.offset_s = 0.0

    def now(self) -> datetime:
        now = self.base.now()
        return now + timedelta(seconds=self.offset_s) if self.offset_s else now

    def monotonic(self) -> float:
        return self.base.monotonic()


class LightRelay:
    """The lock relay on a mock pin without gpiozero's per-pulse thread: a pulse ends lazily,
    when the relay is next looked at (`is_active`, `step()`)."""

    def __init__(self, pins: MockFactory, pin: int) -> None:
        self.pins = pins
        self.pin_number = pin
        self._pin: MockPin | None = None
        self._until = 0.0
        self._held = False

    def open(self) -> None:
        if self._pin is None:
            self._pin = self.pins.pin(self.pin_number)
            self._pin.function = "output"
            self._pin.state = False

    def close(self) -> None:
        pin, self._pin = self._pin, None
        if pin is not None:
            pin.state = False
            pin.close()

    def pulse(self, seconds: float) -> None:
        if self._pin is None:
            raise RuntimeError("door relay is not open")
        self._until = time.monotonic() + seconds
        self._pin.state = True

    def hold(self, released: bool) -> None:
        if self._pin is None:
            raise RuntimeError("door relay is not open")
        self._held = released
        self.step()

    def step(self) -> None:
        if self._pin is not None:
            self._pin.state = self.is_active

    @property
    def is_active(self) -> bool:
        return self._pin is not None and (self._held or time.monotonic() < self._until)


class LightDoorInputs:
    """Door contact and exit button read straight off mock pin edges (no gpiozero `Button`,
    so no hold thread). Same wiring as `edge.hw.door_inputs.GpioDoorInputs`: pull-ups, low =
    closed/pressed."""

    def __init__(self, pins: MockFactory, contact: int, exit_button: int) -> None:
        self.pins = pins
        self.numbers = (contact, exit_button)
        self._pins: list[MockPin] = []
        self._events: list[str] = []

    def open(self) -> None:
        if self._pins:
            return
        for number, handler in zip(self.numbers, (self._contact, self._exit), strict=True):
            pin = self.pins.pin(number)
            pin.function = "input"
            pin.pull = "up"
            pin.edges = "both"
            pin.when_changed = handler
            self._pins.append(pin)

    def close(self) -> None:
        for pin in self._pins:
            pin.when_changed = None
        self._pins = []

    def _contact(self, ticks: float, state: bool) -> None:
        self._events.append("opened" if state else "closed")

    def _exit(self, ticks: float, state: bool) -> None:
        if not state:
            self._events.append("exit")

    @property
    def door_open(self) -> bool | None:
        return bool(self._pins[0].state) if self._pins else None

    def drain(self) -> list[str]:
        out, self._events = self._events, []
        return out


class SimStation:
    """A station with its own journal and trust directory under `workdir/<id>/`."""

    def __init__(
        self,
        record: StationRecord,
        union: SimUnion,
        *,
        broker_url: str | None,
        workdir: Path,
        mqtt_protocol: int = 5,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        members: Sequence[Wallet] = (),
        telemetry_interval_s: float = 30.0,
        render_frames: bool = True,
        footfall: bool = False,
        footfall_interval_s: int = 300,
        loop: ExternalLoop | None = None,
        light_hardware: bool = False,
    ) -> None:
        self.record = record
        self.union = union
        self.rng = rng or random.Random(record.id)
        self.home = Path(workdir) / record.id
        self.members = list(members)
        self.render_frames = render_frames
        self.config = EdgeConfig(
            station_id=record.id,
            mqtt=MqttConfig(
                broker=broker_url or "mqtt://127.0.0.1:1883",
                protocol=5 if mqtt_protocol == 5 else 311,
                reconnect_min_s=0.5,
                reconnect_max_s=10.0,
            ),
            journal_path=self.home / "journal.db",
            door=DoorConfig(contact_pin=CONTACT_PIN, exit_pin=EXIT_PIN),
            access=AccessConfig(trust_dir=self.home / "trust"),
            telemetry_interval_s=telemetry_interval_s,
            footfall=FootfallConfig(
                enabled=footfall,
                count_by="beam",
                beam=BeamConfig(pin_a=BEAM_A_PIN, pin_b=BEAM_B_PIN, bounce_s=0.0),
                interval_s=footfall_interval_s,
            ),
        )
        self.online = broker_url is not None
        self.loop = loop
        self.light_hardware = light_hardware
        self.pins = mock_factory()
        # The wall clock every part of the station reads, with a skew chaos runs can set.
        self.clock = OffsetClock(clock or SystemClock())
        self._probe = None if clock is not None else timesyncd_synced  # agent's default
        self.environment = station_sensors(lambda: self.clock.now().timestamp(), self.rng)
        self.ledger_path = self.home / LEDGER_NAME
        self.journaled = 0  # items journaled by this process (the ledger has them all)
        self.camera_frozen = False
        self.record_acks = False  # benchmarks: keep (time, upto_seq) of every ack in `acks`
        self.acks: list[tuple[float, int]] = []
        self.partitioned = False
        self.killed = False
        self.reboots = 0
        self._expired: Wallet | None = None
        self._build()

    def _build(self) -> None:
        """The hardware drivers and a fresh agent (at start and after a kill)."""
        if self.light_hardware:
            self.door: GpioRelay | LightRelay = LightRelay(self.pins, self.config.door.relay_pin)
            self.sensors: GpioDoorInputs | LightDoorInputs = LightDoorInputs(
                self.pins, CONTACT_PIN, EXIT_PIN
            )
        else:
            self.door = GpioRelay(self.config.door, pin_factory=self.pins)
            self.sensors = GpioDoorInputs(self.config.door, pin_factory=self.pins)
        # Beams on the same mock pins, stepped by the visits and heartbeats (no thread each).
        self.footfall = (
            FootfallUnit(
                self.config.footfall, clock=self.clock, pin_factory=self.pins, threaded=False
            )
            if self.config.footfall.enabled
            else None
        )
        # Fleet mode: exclusive locking, so no -shm descriptor per station.
        journal = Journal(self.config.journal_path, exclusive=self.loop is not None)
        self._tap_journal(journal)
        ports = Ports(
            relay=self.door,
            door_inputs=self.sensors,
            clock=self.clock,
            clock_probe=self._probe,
            station_sensors=self.environment,
            footfall=self.footfall,
            reboot=self._reboot,  # never exit the simulator's (or the demo's) process
        )
        self.agent = Agent(
            self.config,
            ports,
            journal=journal,
            uplink=self._link if self.online else None,
        )

    def _link(
        self, config: EdgeConfig, journal: Journal, *, clock: Clock, hooks: LinkHooks
    ) -> Link:
        """The agent's uplink: the real link, on the shared loop in fleet mode, with the acks
        also noted here."""
        hooks = replace(hooks, on_ack=self._acked)
        return Link(config, journal, clock=clock, hooks=hooks, loop=self.loop)

    def _acked(self, upto_seq: int) -> None:
        """The cloud committed every row up to `upto_seq` (link thread): keep when, for the
        end-to-end latency figures (journal → database → ack back at the station)."""
        if self.record_acks:
            self.acks.append((time.time(), upto_seq))

    def _tap_journal(self, journal: Journal) -> None:
        """Copy every append into the ledger (an append-only file the journal never prunes)."""
        append = journal.append
        path = self.ledger_path

        def tapped(topic_kind: str, make: Callable[[int], Payload]) -> tuple[int, bytes]:
            seq, payload = append(topic_kind, make)
            t = time.time()
            try:
                body = json.loads(payload)
                key = body.get("event_id") or body.get("interval_start") or ""
                line = json.dumps({"seq": seq, "key": key, "kind": str(topic_kind), "t": t})
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
                self.journaled += 1
            except Exception:  # the ledger is for the audit; the door must not notice it
                log.exception("%s: ledger write failed", self.sid)
            return seq, payload

        journal.append = tapped  # type: ignore[method-assign]

    def _reboot(self) -> None:
        """The `reboot` command, simulated: counted only (a real agent exits for systemd)."""
        self.reboots += 1

    @property
    def sid(self) -> str:
        return self.record.id

    @property
    def relay_pin(self) -> MockPin:
        return relay_pin(self.pins, self.config.door.relay_pin)

    def start(self, expired: Wallet | None = None) -> None:
        """Write the union's trust directory, then start the agent (and its link)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.union.write_trust_dir(self.config.access.trust_dir or self.home / "trust")
        if not self.members:
            self.members = [self.union.enroll(f"{self.sid}-m{i}") for i in range(3)]
        self._expired = expired or self.union.enroll_expired(f"{self.sid}-expired")
        self._start_agent()

    def _start_agent(self) -> None:
        self.agent.start()
        self.move_door(is_open=False)  # the pull-up reads "open" until the door is shut
        self.agent.poll_door()  # the monitor learns the door is shut
        if self.partitioned:
            self._apply_partition()

    def stop(self, clean: bool = True) -> None:
        """Stop; `clean=False` is a power cut (no `offline` state, the broker sends the LWT)."""
        if not self.killed:
            self.agent.stop(clean=clean)
        self.killed = True
        self.pins.close()

    # --- faults (chaos runs) ---------------------------------------------------------------------

    def kill(self) -> None:
        """Power cut: the connection drops without DISCONNECT (the broker sends the will), the
        agent stops without publishing `offline`; journal, ledger and identity stay on disk."""
        if self.killed:
            return
        self.killed = True
        self.agent.stop(clean=False)

    def restart(self) -> None:
        """Power back: a fresh agent on the same journal, identity and pins."""
        if not self.killed:
            self.kill()
        self._build()
        self.killed = False
        self._start_agent()

    def partition(self, on: bool) -> None:
        """Cut (`on`) or restore the station's network: a blackhole, the socket stays open and
        nothing is read or written; the door keeps admitting members and journaling. Needs the
        shared loop (fleet mode)."""
        if self.loop is None:
            raise RuntimeError("partition needs the shared network loop (Fleet(shared_loop=True))")
        self.partitioned = on
        self._apply_partition()

    def _apply_partition(self) -> None:
        partition = getattr(self.loop, "partition", None)
        if partition is not None:
            partition(self.sid, self.partitioned)

    def reset_connection(self) -> None:
        """Close the TCP connection under the link (the broker sees a drop); it reconnects."""
        link = self.agent.link
        if link is not None and not self.killed:
            link.drop_connection()

    @property
    def clock_offset_s(self) -> float:
        return self.clock.offset_s

    @clock_offset_s.setter
    def clock_offset_s(self, value: float) -> None:
        """Skew the station's wall clock (seconds, + ahead); payload `ts` and decisions follow."""
        self.clock.offset_s = float(value)

    def freeze_camera(self, on: bool) -> None:
        """A frozen camera reads no codes: visits go unread and, after the camera health's
        `down_after_s` of heartbeats, `camera_down` is raised; unfreezing clears it."""
        self.camera_frozen = on
        if not on and not self.killed:
            noise = np.random.default_rng(self.rng.getrandbits(32))
            self.agent.on_frame(noise.integers(0, 255, (48, 64), dtype=np.uint8))

    @property
    def ledger(self) -> list[LedgerEntry]:
        """Everything this station ever journaled, acked or not, oldest first."""
        return read_ledger(self.ledger_path)

    def _next_text(self) -> str:
        t = int(self.agent.clock.now().timestamp())
        roll = self.rng.random()
        if roll < GARBAGE_P:
            return self.rng.choice(_GARBAGE).format(n=self.rng.randrange(10**5))
        if roll < GARBAGE_P + EXPIRED_P and self._expired is not None:
            return self._expired.present(t)
        wallet = self.rng.choice(self.members)
        return wallet.present(t - self.rng.randint(0, 3))  # the phone drew it a moment ago

    def visit(self) -> list[Decision]:
        """A member walks up and holds a phone to the camera; returns the decisions made."""
        if self.killed:
            return []
        if self.camera_frozen:
            self.agent.on_frame(None)
            return []
        text = self._next_text()
        if not self.render_frames:
            decisions = [self.agent.scan_text(text)]
            self._walk(decisions)
            return decisions
        np_rng = np.random.default_rng(self.rng.getrandbits(64))
        frame = render_phone_qr(text, rng=np_rng, **random_moderate(np_rng))
        decisions = self.agent.process_frame(frame)
        self._walk(decisions)
        return decisions

    def _walk(self, decisions: list[Decision]) -> None:
        """With beams fitted: a granted member walks in; now and then someone leaves."""
        unit = self.footfall
        if unit is None or unit.beam is None:
            return
        config = unit.beam.config
        if any(d.granted for d in decisions):
            walk_through(self.pins, config, Direction.IN)
        if (unit.occupancy or 0) > 0 and self.rng.random() < 0.8:
            walk_through(self.pins, config, Direction.OUT)
        self._step_footfall()

    def _step_footfall(self) -> None:
        if self.footfall is not None:
            try:
                self.footfall.step()
            except Exception:  # as in the agent's own thread: count it, carry on
                log.exception("%s: footfall step failed", self.sid)

    def move_door(self, *, is_open: bool) -> None:
        """Someone pushes the door open or it swings shut (the reed switch follows)."""
        set_door(self.pins, CONTACT_PIN, is_open=is_open)

    def swing_door(self, *, is_open: bool) -> None:
        """Move the door and let the agent see it now (the fleet has no door loop running)."""
        if self.killed:
            return
        self.move_door(is_open=is_open)
        self.agent.poll_door()
        if isinstance(self.door, LightRelay):
            self.door.step()

    def press_exit(self) -> None:
        """Someone inside presses the exit button."""
        press_button(self.pins, EXIT_PIN)

    def heartbeat(self) -> None:
        """Publish one telemetry message (the fleet scheduler calls this periodically)."""
        if self.killed:
            return
        self._step_footfall()  # closes footfall intervals on time even without visits
        if self.camera_frozen:
            self.agent.on_frame(None)
        if self.light_hardware:  # the fleet runs no door loop: timers and mode go here
            self.agent.poll_door()
            self.agent.housekeeping()
            if isinstance(self.door, LightRelay):
                self.door.step()
        self.agent.publish_telemetry()
