"""One simulated station: a real `edge.agent.Agent` on mock pins, fed with rendered frames.

Everything below the agent is real (journal, verifier, door over gpiozero, MQTT link); only
the hardware is fake. `visit()` plays one member walking up to the door: most show a fresh
valid code, a few show an expired card or some unrelated QR, so denials appear as well.

Fleet mode (`firmware_sim.fleet`): `loop=` builds the link on a shared `NetLoop` (no thread
per station), and `light_hardware=True` swaps gpiozero's relay and buttons for thread-free
equivalents on the same mock pins (`firmware_sim.pins`). The door's timing, the journal, the
verifier and the link stay the real edge code.

Door feedback (`feedback=`, a `[feedback]` section): the real worker with its LEDs and buzzer
on the station's mock pins (one thread per station: for a few stations, not a fleet).

Faults for chaos runs (the interface `waystation.harness.injector` drives): `kill()`, `restart()`,
`partition(on)`, `reset_connection()`, `clock_offset_s`, `freeze_camera(on)`, and `ledger`,
every item the station ever journaled, read from `ledger.jsonl` beside the journal
(`firmware_sim.ledger`: the journal deletes rows once acked; the ledger keeps the truth and
survives kill/restart).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from gpiozero.pins.mock import MockPin

from edge.access.timeguard import timesyncd_synced
from edge.agent import Agent, Ports
from edge.clock import SystemClock
from edge.config import AccessConfig, DoorConfig, EdgeConfig, MqttConfig
from edge.feedback.config import FeedbackConfig
from edge.footfall.config import BeamConfig, FootfallConfig
from edge.footfall.crossing import Direction
from edge.footfall.unit import FootfallUnit
from edge.hw.door_inputs import GpioDoorInputs
from edge.hw.indicators import gpio_feedback
from edge.hw.relay import GpioRelay
from edge.journal import Journal
from edge.link.mqtt import Link
from edge.link.runner import ExternalLoop
from edge.ports import Clock, LinkHooks
from firmware_sim.beams import walk_through
from firmware_sim.clock import OffsetClock
from firmware_sim.ledger import LEDGER_NAME, LedgerEntry, LedgerJournal, read_ledger
from firmware_sim.pins import (
    LightDoorInputs,
    LightRelay,
    mock_factory,
    press_button,
    relay_pin,
    set_door,
)
from firmware_sim.scenes import random_moderate, render_phone_qr
from firmware_sim.sensors import station_sensors
from firmware_sim.union import SimUnion
from firmware_sim.wallet import Wallet
from protocol.credential import Decision
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
        feedback: FeedbackConfig | None = None,
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
            feedback=feedback or FeedbackConfig(),
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
        self.link: Link | None = None  # the agent's link (built with it; None: offline)
        self._expired: Wallet | None = None
        self._build()

    def _build(self) -> None:
        """The hardware drivers and a fresh agent (at start and after a kill)."""
        if self.light_hardware:
            self.relay: GpioRelay | LightRelay = LightRelay(self.pins, self.config.door.relay_pin)
            self.door_inputs: GpioDoorInputs | LightDoorInputs = LightDoorInputs(
                self.pins, CONTACT_PIN, EXIT_PIN
            )
        else:
            self.relay = GpioRelay(self.config.door, pin_factory=self.pins)
            self.door_inputs = GpioDoorInputs(self.config.door, pin_factory=self.pins)
        # Beams on the same mock pins, stepped by the visits and heartbeats (no thread each).
        self.footfall = (
            FootfallUnit(
                self.config.footfall, clock=self.clock, pin_factory=self.pins, threaded=False
            )
            if self.config.footfall.enabled
            else None
        )
        cues = self.config.feedback  # LEDs and buzzer on the same mock pins
        self.feedback = gpio_feedback(cues, self.pins) if cues.active else None
        journal = LedgerJournal(
            self.config.journal_path,
            ledger=self.ledger_path,
            exclusive=self.loop is not None,  # fleet mode: no -shm descriptor per station
            on_entry=self._ledgered,
        )
        ports = Ports(
            relay=self.relay,
            door_inputs=self.door_inputs,
            clock=self.clock,
            clock_probe=self._probe,
            station_sensors=self.environment,
            footfall=self.footfall,
            feedback=self.feedback,
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
        self.link = Link(config, journal, clock=clock, hooks=hooks, loop=self.loop)
        return self.link

    def _acked(self, upto_seq: int) -> None:
        """The cloud committed every row up to `upto_seq` (link thread): keep when, for the
        end-to-end latency figures (journal → database → ack back at the station)."""
        if self.record_acks:
            self.acks.append((time.time(), upto_seq))

    def _ledgered(self, entry: LedgerEntry) -> None:
        self.journaled += 1

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
        if self.link is not None and not self.killed:
            self.link.drop_connection()

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
        if isinstance(self.relay, LightRelay):
            self.relay.step()

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
            if isinstance(self.relay, LightRelay):
                self.relay.step()
        self.agent.publish_telemetry()
