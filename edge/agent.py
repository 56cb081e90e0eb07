"""The station agent: wires the ports to the station's parts and runs the door loop.

    frame → motion → decode → decide → door → feedback → journal → link

It owns no rule: the decision is `edge.access.decide`, the door's timing `edge.door`, what
the station reports `edge.reports`, what the cloud's commands and configs do
`edge.commands` (their rules `edge.remote`), the signed lists `edge.trustlists`, what is
journaled `edge.events`. It guarantees that nothing a part does (a bad frame, garbage QR
text, a full disk, a dead relay, the broker down) escapes the door loop as an exception: it
becomes a decision, a log line or a counter in `stats`. With no uplink (offline) the same
code runs and the journal simply grows.

The constructor does no I/O; `start()` opens the journal, reads what earlier runs persisted
(the remote config, the command memory, the trust lists, the clock's high-water mark),
claims the relay and starts the camera, the link, the footfall unit and the door feedback.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge import heartbeat
from edge.access.decide import AccessDecider
from edge.access.schedule import DoorSchedule
from edge.access.timeguard import TimeGuard, timesyncd_synced
from edge.access.trustfiles import TrustStore
from edge.access.verify import AccessVerifier
from edge.camera.cascade import CascadeDecoder
from edge.camera.health import CameraHealth
from edge.camera.motion import MotionGate
from edge.camera.stats import CameraStats
from edge.clock import SystemClock
from edge.commands import Commands
from edge.config import EdgeConfig
from edge.door import Door
from edge.entrance import Entrance
from edge.events import EventLog
from edge.footfall.unit import FootfallUnit
from edge.guard import guarded
from edge.journal import Journal
from edge.ports import (
    Clock,
    DoorInputs,
    Feedback,
    FrameSource,
    LinkHooks,
    Publisher,
    QrDecoder,
    Relay,
    Uplink,
)
from edge.remote import Remote, exit_process_soon
from edge.reports import Reports
from edge.sensors import Sensor
from edge.trustlists import NO_ANCHOR, AnchorWatch, TrustLists
from protocol.credential import Decision, VerifyPolicy
from protocol.messages import TelemetryPayload

log = logging.getLogger(__name__)

# When the camera has no frame, wait this long before asking again (seconds): short enough
# to stay inside the 0.3 s door budget, long enough not to spin a core.
IDLE_S = 0.02
# How often the door mode, the clock judgement and the held-open timer are re-evaluated,
# seconds: a mode change or held-open alarm is at most this late; each check costs ~50 µs.
HOUSEKEEPING_S = 1.0


def _no_probe() -> bool | None:
    return None


def _schedule(config: EdgeConfig) -> DoorSchedule:
    rules = config.schedule
    if not config.holidays.years and any("PH" in (r or "") for r in (rules.free, rules.members)):
        log.warning("the schedule names PH but no holiday calendar is configured: PH matches "
                    "no day until the cloud's desired config brings one")  # fmt: skip
    return DoorSchedule(
        free=rules.free,
        members=rules.members,
        timezone=rules.timezone,
        coords=rules.coords,
        calendar=config.holidays,
    )


@dataclass(frozen=True)
class Ports:
    """The station's hardware and host as the agent sees them (fakes: `firmware_sim`)."""

    relay: Relay  # the lock
    door_inputs: DoorInputs | None = None  # door contact and exit button; None: not fitted
    source: FrameSource | None = None  # the door camera; None: codes come by `scan_text`
    decoder: QrDecoder | None = None  # None: the zxing-cpp / pyzbar cascade
    clock: Clock | None = None  # None: the system clock, judged by timesyncd
    clock_probe: Callable[[], bool | None] | None = None  # "is the clock synced?"
    station_sensors: Sequence[Sensor] = ()  # fridge, ambient, energy: in the heartbeat
    footfall: FootfallUnit | None = None  # None: built from the config if enabled
    feedback: Feedback | None = None  # lights, buzzer, voice (`edge.feedback`); None: none
    reboot: Callable[[], None] = exit_process_soon  # the `reboot` command


class Agent:
    """One station: its parts built from the config around the ports it is given."""

    def __init__(
        self,
        config: EdgeConfig,
        ports: Ports,
        *,
        journal: Journal | None = None,
        uplink: Uplink | None = None,
    ) -> None:
        """`journal`: the outbox (None: one at `config.journal_path`). `uplink` builds the
        link on the agent's journal and clock (`edge.link.mqtt.Link`; None: offline)."""
        self.sid = config.station_id
        self.local_config = config  # the TOML; a remote config is applied on top of it
        self.config = config  # the one in force
        self.clock: Clock = ports.clock or SystemClock()
        self.source = ports.source
        self.decoder: QrDecoder = ports.decoder or CascadeDecoder()
        self.reboot = ports.reboot
        journal = Journal(config.journal_path) if journal is None else journal
        self.journal = journal
        self.stats: Counter[str] = Counter()
        access, camera = config.access, config.camera
        self.motion = MotionGate(
            hold_s=camera.motion_hold_s, idle_every_s=camera.idle_decode_every_s
        )
        self.camera_health = CameraHealth(camera.down_after_s)
        self.camera_stats = CameraStats()  # fps and decode latency, for telemetry and /metrics
        self.time_guard = TimeGuard(
            self.clock,
            access.clock_file or config.journal_path.with_name("clock.json"),
            # The host's NTP state says nothing about an injected (simulated) clock.
            probe=ports.clock_probe or (timesyncd_synced if ports.clock is None else _no_probe),
            max_ahead_s=access.unsynced_max_ahead_s,
        )
        self.verifier = AccessVerifier(
            anchor=None, policy=VerifyPolicy(window_s=access.window_s, skew_s=access.skew_s)
        )
        store = TrustStore(access.trust_dir) if access.trust_dir else None
        self.trust = TrustLists(self.sid, self.verifier, store, self.stats)
        self.anchor_watch = AnchorWatch(
            self.trust, config.journal_path.with_name("no_trust_anchor.alarm")
        )
        # The one "may this open the door now" rule (edge.access.decide).
        self.decider = AccessDecider(
            verifier=self.verifier,
            time_guard=self.time_guard,
            schedule=_schedule(config),
            max_entries=access.replay_max_entries,
        )
        self.door = Door(
            self.sid, config.door, relay=ports.relay, inputs=ports.door_inputs, stats=self.stats
        )
        self.events = EventLog(
            self.sid, journal, now=self.time_guard.best_now, stats=self.stats, wake=self.kick
        )
        self.commands = Commands(self)
        self.remote = Remote(
            self.sid,
            config,
            config.journal_path.parent,
            now=lambda: self.time_guard.best_now(),
            actions=self.commands.actions(),
            apply=self.apply_config,
        )
        # People counting on its own thread (edge.footfall.unit); the door loop only feeds it.
        footfall = ports.footfall
        if footfall is None and config.footfall.enabled:
            pins = getattr(ports.door_inputs, "pin_factory", None)  # the inputs' GPIO factory
            footfall = FootfallUnit(config.footfall, clock=self.clock, pin_factory=pins)
        self.footfall = footfall
        self.feedback = ports.feedback  # the member's lights and prompts, on their own thread
        parts = heartbeat.Parts(
            sid=self.sid,
            journal=journal,
            relay=ports.relay,
            door_open=lambda: self.door.is_open,
            verifier=self.verifier,
            time_guard=self.time_guard,
            camera=self.camera_stats,
            sensors=list(ports.station_sensors),
            data_dir=config.journal_path.parent,
            occupancy=None if footfall is None else lambda: footfall.occupancy,
            door_mode=lambda: self.decider.mode_now().value,
            schedule=lambda: self.decider.schedule.report(),
        )
        self.reports = Reports(
            parts,
            clock=self.clock,
            camera_health=self.camera_health,
            remote=self.remote,
            interval_s=config.telemetry_interval_s,
        )
        hooks = LinkHooks(
            meta=self.reports.meta,
            status=self.reports.status,
            on_trust=self.trust.on_trust,
            on_revocations=self.trust.on_revocations,
            on_command=self.remote.on_command,
            on_config=self.commands.on_config,
        )
        self.link: Publisher | None = None
        if uplink is not None:
            self.link = uplink(config, journal, clock=self.clock, hooks=hooks)
        self.loop_tick: float | None = None  # monotonic time of the door loop's last turn
        self.entrance = Entrance(self, debounce_s=access.debounce_s)
        # One decision or door action at a time: the replay cache is single-threaded, and a
        # remote config is switched between two decisions, never during one.
        self.decide_lock = threading.Lock()
        self._next_housekeeping = -float("inf")
        self._clock_alarm = False

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open the journal, read what earlier runs persisted, claim the relay, start the
        camera, the link, the footfall unit and the door feedback."""
        self.journal.open()
        applied = self.remote.load()  # the last applied remote config survives restarts
        if applied is not None and self.remote.config_version is not None:
            self.apply_config(applied, self.remote.config_version)
        self.trust.load()
        self.time_guard.load()
        self.door.open()
        feedback = self.feedback
        if feedback is not None:  # lights that fail to start never stop the door
            self._guarded("feedback_errors", lambda: feedback.start(self.sid, self.stats))
        if self.source is not None:
            self._guarded("source_errors", self.source.open)
        if self.link is not None:
            self.link.start()
        if self.footfall is not None:  # a counter that fails to start never stops the door
            self._guarded("footfall_errors", self._start_footfall)
        self.reports.started_at = self.clock.monotonic()
        self.housekeeping()
        log.info(
            "%s: started (trust v%s, revocations v%s, %s)",
            self.sid,
            self.verifier.trust_version,
            self.verifier.revocation_version,
            "online" if self.link else "offline",
        )

    def _start_footfall(self) -> None:
        assert self.footfall is not None
        self.footfall.start(
            self.sid,
            self.journal,
            now=self.time_guard.best_now,
            alarm=self.events.alarm,
            wake=self.kick,
            state_path=self.config.journal_path.with_name("footfall.json"),
        )

    def stop(self, *, clean: bool = True) -> None:
        """Stop everything; `clean=False` drops the MQTT connection like a power cut (will)."""
        if self.link is not None:
            self._guarded("link_errors", self.link.stop if clean else self.link.abort)
        if self.footfall is not None:
            self._guarded("footfall_errors", self.footfall.stop)
        if self.source is not None:
            self._guarded("source_errors", self.source.close)
        self._guarded("clock_errors", lambda: self.time_guard.tick(force=True))
        if self.feedback is not None:
            self._guarded("feedback_errors", self.feedback.stop)
        self.door.close()
        self._guarded("journal_errors", self.journal.close)

    def run(self, stop: threading.Event) -> None:
        """The door loop: read frames at the source's rate until `stop` is set."""
        next_heartbeat = self.clock.monotonic()
        while not stop.is_set():
            self.loop_tick = self.clock.monotonic()  # watched by the systemd watchdog feeder
            frame = None
            if self.source is not None:
                try:
                    frame = self.source.read()
                    if self.footfall is not None:
                        self.footfall.offer(frame)  # `source = "door"` counts on it
                except Exception:
                    self.stats["source_errors"] += 1
                    log.exception("%s: camera read failed", self.sid)
                    stop.wait(0.5)
            try:
                usable = self.on_frame(frame) if self.source is not None else False
            except Exception:  # on_frame guards itself; this is the last net
                self.stats["loop_errors"] += 1
                log.exception("%s: frame processing failed", self.sid)
                usable = True
            if not usable:
                stop.wait(IDLE_S)
            self._guarded("door_errors", self.poll_door)
            self.housekeeping_if_due()
            if self.clock.monotonic() >= next_heartbeat:
                self._guarded("telemetry_errors", self.publish_telemetry)
                next_heartbeat = self.clock.monotonic() + self.config.telemetry_interval_s

    # --- what the camera and the simulator feed in (edge.entrance) -----------------------------

    def on_frame(self, frame: object) -> bool:
        """One camera read; whether it was usable. Never raises."""
        return self.entrance.on_frame(frame)

    def process_frame(self, frame: object) -> list[Decision]:
        """Decode a frame and decide on each new code in it (held codes are debounced)."""
        return self.entrance.process_frame(frame)

    def scan_text(self, text: str) -> Decision:
        """Decide on one text as if scanned (no camera, no debounce: every call counts)."""
        return self.entrance.scan_text(text)

    # --- the door, the clock and the heartbeat -----------------------------------------------

    def poll_door(self) -> None:
        """Door contact, exit button and held-open timer (`edge.door`); journals what happened."""
        happenings = self.door.poll(self.clock.monotonic())
        for item in happenings:
            self.events.door(item.action, item.cause)
            if self.footfall is not None and item.from_contact:
                self.footfall.door(item.action, item.cause)
        if happenings:
            self.kick()

    def housekeeping(self) -> None:
        """Once a second: clock judgement and high-water mark, door mode and lock hold."""
        self._next_housekeeping = self.clock.monotonic() + HOUSEKEEPING_S
        self.time_guard.tick()
        view = self.time_guard.view()
        if view.synced == self._clock_alarm:  # unsynced and no alarm yet, or the reverse
            self._clock_alarm = not view.synced
            state = "cleared" if view.synced else "raised"
            self.events.alarm("clock_unsynced", state, view.why or None)
        self._check_anchor()
        mode = self.decider.mode_now()
        if mode is not self.door.mode:
            log.info("%s: door mode %s → %s", self.sid, self.door.mode, mode)
            self.door.follow(mode)

    def _check_anchor(self) -> None:
        """`no_trust_anchor` raised or cleared; the retained state follows (`degraded` while
        no member can be admitted), and a new anchor asks again for the retained lists."""
        transition = self.anchor_watch.check()
        if transition is None:
            return
        self.events.alarm(
            "no_trust_anchor", transition, NO_ANCHOR if transition == "raised" else None
        )
        link = self.link
        if link is not None:
            if transition == "cleared":  # the lists the broker holds were refused until now
                self._guarded("link_errors", link.sync)
            self._guarded("link_errors", link.rebirth)

    def publish_telemetry(self) -> TelemetryPayload:
        """Build a heartbeat and send it if there is a link (QoS 0, never journaled)."""
        payload = self.reports.telemetry()
        self.reports.last = payload  # /metrics shows its sensor and host readings
        if self.link is not None:
            self.link.publish_telemetry(payload)
        return payload

    def housekeeping_if_due(self) -> None:
        """Housekeeping now if its second is up (a decision must see the mode in force)."""
        if self.clock.monotonic() >= self._next_housekeeping:
            self._guarded("housekeeping_errors", self.housekeeping)

    def kick(self) -> None:
        """Wake the link's drain (nothing to do while offline)."""
        if self.link is not None:
            self.link.kick()

    def apply_config(self, config: EdgeConfig, version: int) -> None:
        """Switch to a validated remote config at once: the door loop sees all of it or none."""
        schedule = _schedule(config)
        policy = VerifyPolicy(window_s=config.access.window_s, skew_s=config.access.skew_s)
        with self.decide_lock:
            self.config = config
            self.decider.schedule = schedule
            self.verifier.policy = policy
            self.door.config = config.door
            self.reports.interval_s = config.telemetry_interval_s
            self._next_housekeeping = -float("inf")  # re-evaluate the door mode now
        log.info("%s: remote config v%d in force", self.sid, version)

    def _guarded(self, counter: str, fn: Callable[[], object]) -> None:
        guarded(self.sid, self.stats, counter, fn)
