"""One simulated station: a real `edge.agent.Agent` on mock pins, fed with rendered frames.

Everything below the agent is real (journal, verifier, door over gpiozero, MQTT link); only
the hardware is fake. `visit()` plays one member walking up to the door: most show a fresh
valid code, a few show an expired card or some unrelated QR, so denials appear as well.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from gpiozero.pins.mock import MockPin

from edge.agent import Agent
from edge.clock import SystemClock
from edge.config import AccessConfig, DoorConfig, EdgeConfig, MqttConfig
from edge.door import Door, DoorSensors
from edge.footfall.config import BeamConfig, FootfallConfig
from edge.footfall.crossing import Direction
from edge.footfall.unit import FootfallUnit
from edge.ports import Clock
from firmware_sim.beams import walk_through
from firmware_sim.pins import mock_factory, press_button, relay_pin, set_door
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
        self.pins = mock_factory()
        self.door = Door(self.config.door, pin_factory=self.pins)
        self.sensors = DoorSensors(self.config.door, pin_factory=self.pins)
        wall = clock or SystemClock()
        # Beams on the same mock pins, stepped by the visits and heartbeats (no thread each).
        self.footfall = (
            FootfallUnit(self.config.footfall, clock=wall, pin_factory=self.pins, threaded=False)
            if footfall
            else None
        )
        self.environment = station_sensors(lambda: wall.now().timestamp(), self.rng)
        self.agent = Agent(
            self.config,
            relay=self.door,
            sensors=self.sensors,
            clock=clock,
            online=broker_url is not None,
            station_sensors=self.environment,
            reboot=self._reboot,  # never exit the simulator's (or the demo's) process
            footfall=self.footfall,
        )
        self.reboots = 0
        self._expired: Wallet | None = None

    def _reboot(self) -> None:
        """The `reboot` command, simulated: counted only (a real agent exits for systemd)."""
        self.reboots += 1

    @property
    def sid(self) -> str:
        return self.record.id

    @property
    def relay_pin(self) -> MockPin:
        return relay_pin(self.pins, self.config.door.relay_pin)

    def start(self) -> None:
        """Write the union's trust directory, then start the agent (and its link)."""
        self.union.write_trust_dir(self.config.access.trust_dir or self.home / "trust")
        if not self.members:
            self.members = [self.union.enroll(f"{self.sid}-m{i}") for i in range(3)]
        self._expired = self.union.enroll_expired(f"{self.sid}-expired")
        self.agent.start()
        self.move_door(is_open=False)  # the pull-up reads "open" until the door is shut

    def stop(self, clean: bool = True) -> None:
        """Stop; `clean=False` is a power cut (no `offline` state, the broker sends the LWT)."""
        self.agent.stop(clean=clean)
        self.pins.close()

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

    def press_exit(self) -> None:
        """Someone inside presses the exit button."""
        press_button(self.pins, EXIT_PIN)

    def heartbeat(self) -> None:
        """Publish one telemetry message (the fleet scheduler calls this periodically)."""
        self._step_footfall()  # closes footfall intervals on time even without visits
        self.agent.publish_telemetry()
