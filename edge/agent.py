"""The station agent, composition root: frame → motion → decode → verify → policy → door →
journal → link.

Owns no rules itself: it wires the stages together and guarantees that nothing a stage does
(a bad frame, garbage QR text, a full disk, a dead relay, the broker down) escapes the door
loop as an exception — it becomes a decision, a log line or a counter. With no link at all
(`online=False`) the same code runs and the journal simply grows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from edge import AGENT_VERSION, heartbeat
from edge.access.debounce import Debouncer
from edge.access.decide import AccessDecider, DoorAction, Verdict
from edge.access.schedule import DoorMode, DoorSchedule
from edge.access.store import TrustStore
from edge.access.timeguard import TimeGuard, timesyncd_synced
from edge.access.verify import AccessVerifier
from edge.camera.cascade import CascadeDecoder
from edge.camera.health import CameraHealth
from edge.camera.motion import MotionGate
from edge.camera.stats import CameraStats
from edge.clock import SystemClock
from edge.config import EdgeConfig
from edge.door import Door
from edge.events import EventLog
from edge.footfall.unit import FootfallUnit
from edge.journal import Journal
from edge.link.mqtt import Link
from edge.ports import Clock, DoorInputs, FrameSource, LinkHooks, QrDecoder, Relay
from edge.remote import Remote, exit_process_soon
from edge.sensors import Sensor
from protocol.credential import Decision, Reason, VerifyPolicy
from protocol.messages import (
    CmdResultPayload,
    MetaPayload,
    Status,
    TelemetryPayload,
)

log = logging.getLogger(__name__)

CAPABILITIES = ["access", "ws1", "ws2", "journal", "schedule", "door_sensors"]
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
    return DoorSchedule(free=rules.free, members=rules.members, timezone=rules.timezone)


class Agent:
    """One station. Hardware comes in through ports; everything else is built from config."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        relay: Relay,
        clock: Clock | None = None,
        source: FrameSource | None = None,
        decoder: QrDecoder | None = None,
        sensors: DoorInputs | None = None,
        clock_probe: Callable[[], bool | None] | None = None,
        online: bool = True,
        station_sensors: Sequence[Sensor] = (),
        reboot: Callable[[], None] = exit_process_soon,
        footfall: FootfallUnit | None = None,
    ) -> None:
        self.sid = config.station_id
        self.local_config = config  # the TOML; a remote config is applied on top of it
        self.reboot = reboot  # the `reboot` command; tests inject their own
        self._config_alarm = False
        self.remote = Remote(
            self.sid,
            config,
            config.journal_path.parent,
            now=lambda: self.time_guard.best_now(),
            actions={
                "unlock": self._cmd_unlock,
                "rebirth": self._cmd_rebirth,
                "sync": self._cmd_sync,
                "reboot": self._cmd_reboot,
            },
            apply=self.apply_config,
        )
        config = self.remote.load() or config  # the last applied remote config survives restarts
        self.config = config
        self.relay = relay
        self.sensors = sensors
        self.clock: Clock = clock or SystemClock()
        self.source = source
        self.decoder: QrDecoder = decoder or CascadeDecoder()
        self.journal = Journal(config.journal_path)
        access = config.access
        camera = config.camera
        self.motion = MotionGate(
            hold_s=camera.motion_hold_s, idle_every_s=camera.idle_decode_every_s
        )
        self.camera_health = CameraHealth(camera.down_after_s)
        self.camera_stats = CameraStats()  # fps and decode latency, for telemetry and /metrics
        self.station_sensors = list(station_sensors)  # fridge, ambient, energy: in telemetry
        # The people inside now, for the heartbeat; the footfall wiring sets it.
        self.occupancy_source: Callable[[], int | None] | None = None
        self.last_telemetry: TelemetryPayload | None = None  # the last heartbeat built
        self.loop_tick: float | None = None  # monotonic time of the door loop's last turn
        self.time_guard = TimeGuard(
            self.clock,
            access.clock_file or config.journal_path.with_name("clock.json"),
            # The host's NTP state says nothing about an injected (simulated) clock.
            probe=clock_probe or (timesyncd_synced if clock is None else _no_probe),
            max_ahead_s=access.unsynced_max_ahead_s,
        )
        self._clock_alarm = False
        self.store = TrustStore(access.trust_dir) if access.trust_dir else None
        self.verifier = AccessVerifier(
            anchor=None,
            policy=VerifyPolicy(window_s=access.window_s, skew_s=access.skew_s),
        )
        # The one "may this open the door now" rule (edge.access.decide).
        self.decider = AccessDecider(
            verifier=self.verifier,
            time_guard=self.time_guard,
            schedule=_schedule(config),
            max_entries=access.replay_max_entries,
        )
        self.link: Link | None = (
            Link(
                config,
                self.journal,
                clock=self.clock,
                hooks=LinkHooks(
                    meta=self.meta,
                    status=self.reported_status,
                    on_trust=self.on_trust,
                    on_revocations=self.on_revocations,
                    on_command=self.remote.on_command,
                    on_config=self.on_remote_config,
                ),
            )
            if online
            else None
        )
        self.stats: Counter[str] = Counter()
        self.door = Door(self.sid, config.door, relay=relay, inputs=sensors, stats=self.stats)
        self.events = EventLog(
            self.sid, self.journal, now=self.time_guard.best_now, stats=self.stats, wake=self.kick
        )
        self._texts = Debouncer(access.debounce_s)  # the same QR text, frame after frame
        self._outcomes = Debouncer(access.debounce_s)  # the same member and outcome
        self._decide_lock = threading.Lock()  # the replay cache is single-threaded
        self._started_at: float | None = None
        self._next_housekeeping = -float("inf")
        # People counting on its own thread (edge.footfall.unit); the door loop only feeds it.
        if footfall is None and config.footfall.enabled:
            pins = getattr(sensors, "pin_factory", None)  # the door inputs' GPIO factory
            footfall = FootfallUnit(config.footfall, clock=self.clock, pin_factory=pins)
        self.footfall = footfall
        if footfall is not None:
            self.occupancy_source = lambda: footfall.occupancy

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open the journal, load the trust directory, claim the relay, start camera and link."""
        self.journal.open()
        if self.store is not None:
            anchor = self.store.load_anchor()
            self.verifier.load(
                anchor, self.store.load_trust(anchor), self.store.load_revocations(anchor)
            )
        self.time_guard.load()
        self.door.open()
        if self.source is not None:
            self._guarded("source_errors", self.source.open)
        if self.link is not None:
            self.link.start()
        if self.footfall is not None:  # a counter that fails to start never stops the door
            self._guarded("footfall_errors", self._start_footfall)
        self._started_at = self.clock.monotonic()
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
            alarm=self.alarm,
            wake=self.kick,
            state_path=self.config.journal_path.with_name("footfall.json"),
        )

    def stop(self, *, clean: bool = True) -> None:
        """Stop everything; `clean=False` drops the MQTT connection like a power cut (LWT)."""
        if self.link is not None:
            self._guarded("link_errors", self.link.stop if clean else self.link.abort)
        if self.footfall is not None:
            self._guarded("footfall_errors", self.footfall.stop)
        if self.source is not None:
            self._guarded("source_errors", self.source.close)
        self._guarded("clock_errors", lambda: self.time_guard.tick(force=True))
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
            if self.clock.monotonic() >= self._next_housekeeping:
                self._guarded("housekeeping_errors", self.housekeeping)
            if self.clock.monotonic() >= next_heartbeat:
                self._guarded("telemetry_errors", self.publish_telemetry)
                next_heartbeat = self.clock.monotonic() + self.config.telemetry_interval_s

    # --- the access path ---------------------------------------------------------------------

    def on_frame(self, frame: object) -> bool:
        """One camera read: camera health, then the motion gate, then (maybe) the decoder.

        Returns whether the frame was usable. Never raises.
        """
        now = self.clock.monotonic()
        if frame is not None:
            self.camera_stats.frame(now)
        usable, transition = self.camera_health.observe(frame, now)
        if transition is not None:
            self.stats[f"camera_down.{transition}"] += 1
            self.alarm(
                "camera_down", transition, "no usable frame" if transition == "raised" else None
            )
            if self.link is not None:  # the retained state says `degraded` / `online` again
                self._guarded("link_errors", self.link.rebirth)
        if not usable:
            if frame is not None:
                self.stats["bad_frames"] += 1
            return False
        assert isinstance(frame, np.ndarray)
        if self.motion.should_decode(frame, now):
            self.process_frame(frame)
        else:
            self.stats["gated"] += 1
        return True

    def process_frame(self, frame: object) -> list[Decision]:
        """Decode a frame and decide on each new code in it. Held codes are debounced."""
        self.stats["frames"] += 1
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            self.stats["bad_frames"] += 1
            return []
        start = time.perf_counter()
        try:
            texts = self.decoder.decode(frame)
        except Exception:
            self.stats["decode_errors"] += 1
            log.exception("%s: decoder failed", self.sid)
            return []
        self.camera_stats.decoded((time.perf_counter() - start) * 1000.0, self.clock.monotonic())
        decisions = []
        for text in texts:
            decision = self._handle(text, debounce=True)
            if decision is not None:
                decisions.append(decision)
        return decisions

    def scan_text(self, text: str) -> Decision:
        """Decide on one text as if scanned (no camera, no debounce: every call counts)."""
        decision = self._handle(text, debounce=False)
        assert decision is not None
        return decision

    def _handle(self, text: str, *, debounce: bool) -> Decision | None:
        with self._decide_lock:
            now = self.clock.monotonic()
            if debounce and self._texts.seen(text, now):
                self.stats["suppressed"] += 1
                return None
            if now >= self._next_housekeeping:  # the mode in force is at most 1 s old
                self._guarded("housekeeping_errors", self.housekeeping)
            try:
                verdict = self.decider.decide(text, self.mode or self.decider.mode_now())
            except Exception as exc:  # decide() never raises; this keeps the promise if it did
                log.exception("%s: decision failed", self.sid)
                denied = Decision(Reason.MALFORMED, detail=f"decision error: {exc!r}"[:200])
                verdict = Verdict(denied, DoorAction.NONE, synced=True)
            decision = verdict.decision
            if debounce and self._outcomes.seen((decision.serial or text, decision.reason), now):
                self.stats["suppressed"] += 1
                return None
            self._act(verdict)
        return decision

    def _act(self, verdict: Verdict) -> None:
        """Door first (the member is waiting), then the journal, then wake the link."""
        decision = verdict.decision
        pulsed = False
        if not verdict.synced:
            self.stats["unsynced_decisions"] += 1
        if verdict.action is DoorAction.ALREADY_OPEN:
            self.stats["granted_while_free"] += 1  # the lock is held released already
        elif verdict.action is DoorAction.PULSE:
            pulsed = self.door.release("grant", self.clock.monotonic())
        self.stats["granted" if decision.granted else "denied"] += 1
        if decision.granted and self.footfall is not None:
            self.footfall.granted()  # tailgating: entries beyond the grants
        self.stats[f"reason.{decision.reason.value}"] += 1
        now = self.time_guard.best_now()
        self.events.access(decision, now)
        if pulsed:
            self.events.door("unlocked", "grant", now)
        self.kick()

    def alarm(self, name: str, state: str, detail: str | None = None) -> None:
        """Journal an alarm transition ("raised" / "cleared") and wake the link."""
        self.events.alarm(name, state, detail)

    # --- the door and the clock ---------------------------------------------------------------

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
            self.alarm("clock_unsynced", "cleared" if view.synced else "raised", view.why or None)
        mode = self.decider.mode_now()
        if mode is not self.door.mode:
            log.info("%s: door mode %s → %s", self.sid, self.door.mode, mode)
            self.door.follow(mode)

    @property
    def mode(self) -> DoorMode | None:
        """The door mode in force (`housekeeping()` sets it); None until its first run."""
        return self.door.mode

    def kick(self) -> None:
        """Wake the link's drain (nothing to do while offline)."""
        if self.link is not None:
            self.link.kick()

    def _guarded(self, counter: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception:
            self.stats[counter] += 1
            log.exception("%s: %s failed", self.sid, getattr(fn, "__name__", fn))

    # --- trust updates (link thread) ---------------------------------------------------------

    def on_trust(self, raw: bytes) -> None:
        """A trust list arrived; apply it if newer and signed, and keep it for the next boot."""
        store = self.store
        if self.verifier.update_trust(raw) is not None and store is not None:
            self._guarded("store_errors", lambda: store.save_trust(raw))

    def on_revocations(self, raw: bytes) -> None:
        store = self.store
        if self.verifier.update_revocations(raw) is not None and store is not None:
            self._guarded("store_errors", lambda: store.save_revocations(raw))

    # --- remote config and commands (link thread; the rules are in edge.remote) ---------------

    def apply_config(self, config: EdgeConfig, version: int) -> None:
        """Switch to a validated config at once: the door loop sees all of it or none."""
        schedule = _schedule(config)
        policy = VerifyPolicy(window_s=config.access.window_s, skew_s=config.access.skew_s)
        with self._decide_lock:
            self.config = config
            self.decider.schedule = schedule
            self.verifier.policy = policy
            self.door.config = config.door
            self._next_housekeeping = -float("inf")  # re-evaluate the door mode now
        log.info("%s: remote config v%d in force", self.sid, version)

    def on_remote_config(self, raw: bytes) -> CmdResultPayload | None:
        """A desired config arrived: apply it, or raise `config_rejected` (journaled)."""
        result = self.remote.on_config(raw)
        if result is not None and result.ok and self.link is not None:
            self.link.rebirth()  # meta and state carry the applied config_version
        if result is not None and result.ok == self._config_alarm:
            self._config_alarm = not result.ok
            self.alarm("config_rejected", "cleared" if result.ok else "raised", result.detail)
        return result

    def _cmd_unlock(self, args: dict[str, object]) -> str:
        with self._decide_lock:
            if self.door.held_released:
                return "free mode: the lock is already released"
            if not self.door.release("remote", self.clock.monotonic()):
                raise RuntimeError("relay pulse failed")
            self.events.door("unlocked", "remote")
        self.kick()
        return f"released for {self.config.door.pulse_s} s"

    def _cmd_rebirth(self, args: dict[str, object]) -> None:
        if self.link is None:
            raise RuntimeError("no link")
        self.link.rebirth()

    def _cmd_sync(self, args: dict[str, object]) -> None:
        if self.link is None:
            raise RuntimeError("no link")
        self.link.sync()

    def _cmd_reboot(self, args: dict[str, object]) -> str:
        self.reboot()
        return "restarting"

    # --- reporting ---------------------------------------------------------------------------

    def reported_status(self) -> tuple[Status, str | None]:
        """What the station's retained state says (DESIGN.md): `degraded` while it runs but
        cannot admit members because the camera is down; `online` otherwise."""
        if self.camera_health.down:
            return "degraded", "camera down: member codes cannot be read"
        return "online", None

    def meta(self) -> MetaPayload:
        """The retained `meta` published on every connect."""
        return MetaPayload(
            sid=self.sid,
            ts=self.time_guard.best_now(),
            agent_version=AGENT_VERSION,
            capabilities=CAPABILITIES,
            config_version=self.remote.config_version,
            trust_version=self.verifier.trust_version,
            revocation_version=self.verifier.revocation_version,
        )

    def telemetry(self) -> TelemetryPayload:
        """The heartbeat, built by `edge.heartbeat` from this station's parts."""
        parts = heartbeat.Parts(
            sid=self.sid,
            journal=self.journal,
            relay=self.relay,
            door_open=lambda: self.door.is_open,
            verifier=self.verifier,
            time_guard=self.time_guard,
            camera=self.camera_stats,
            sensors=self.station_sensors,
            data_dir=self.config.journal_path.parent,
            occupancy=self.occupancy_source,
        )
        mono = self.clock.monotonic()
        started = self._started_at
        return heartbeat.build(
            parts,
            mono_now=mono,
            uptime_s=0.0 if started is None else mono - started,
            interval_s=self.config.telemetry_interval_s,
            config_version=self.remote.config_version,
        )

    def publish_telemetry(self) -> TelemetryPayload:
        """Build a heartbeat and send it if there is a link (QoS 0, never journaled)."""
        payload = self.telemetry()
        self.last_telemetry = payload  # /metrics shows its sensor and host readings
        if self.link is not None:
            self.link.publish_telemetry(payload)
        return payload
