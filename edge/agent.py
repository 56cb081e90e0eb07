"""The station agent, composition root: frame → decode → verify → door → journal → link.

Owns no rules itself: it wires the stages together and guarantees that nothing a stage does
(a bad frame, garbage QR text, a full disk, a dead relay, the broker down) escapes the door
loop as an exception — it becomes a decision, a log line or a counter. With no link at all
(`online=False`) the same code runs and the journal simply grows.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable

import numpy as np
import uuid6

from edge import AGENT_VERSION, telemetry
from edge.access.debounce import Debouncer
from edge.access.store import TrustStore
from edge.access.verify import AccessVerifier
from edge.camera.qr import ZbarDecoder
from edge.clock import SystemClock
from edge.config import EdgeConfig
from edge.journal import Journal
from edge.link.mqtt import Link
from edge.ports import Clock, FrameSource, QrDecoder, Relay
from protocol.credential import Decision, Reason, ReplayCache, VerifyPolicy
from protocol.messages import AccessEvent, DoorEvent, MetaPayload, Payload, TelemetryPayload
from protocol.topics import Kind

log = logging.getLogger(__name__)

CAPABILITIES = ["access", "ws1", "ws2", "journal"]
# When the camera has no frame, wait this long before asking again (seconds): short enough
# to stay inside the 0.3 s door budget, long enough not to spin a core.
IDLE_S = 0.02


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
        online: bool = True,
    ) -> None:
        self.config = config
        self.sid = config.station_id
        self.relay = relay
        self.clock: Clock = clock or SystemClock()
        self.source = source
        self.decoder: QrDecoder = decoder or ZbarDecoder()
        self.journal = Journal(config.journal_path)
        access = config.access
        self.store = TrustStore(access.trust_dir) if access.trust_dir else None
        self.verifier = AccessVerifier(
            anchor=None,
            policy=VerifyPolicy(window_s=access.window_s, skew_s=access.skew_s),
            clock=self.clock,
            # Entries older than window + skew would be refused as stale anyway.
            replay=ReplayCache(2 * (access.window_s + access.skew_s), access.replay_max_entries),
        )
        self.link: Link | None = (
            Link(
                config,
                self.journal,
                meta=self.meta,
                clock=self.clock,
                on_trust=self.on_trust,
                on_revocations=self.on_revocations,
            )
            if online
            else None
        )
        self.stats: Counter[str] = Counter()
        self._texts = Debouncer(access.debounce_s)  # the same QR text, frame after frame
        self._outcomes = Debouncer(access.debounce_s)  # the same member and outcome
        self._decide_lock = threading.Lock()  # the replay cache is single-threaded
        self._started_at: float | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open the journal, load the trust directory, claim the relay, start camera and link."""
        self.journal.open()
        if self.store is not None:
            anchor = self.store.load_anchor()
            self.verifier.load(
                anchor, self.store.load_trust(anchor), self.store.load_revocations(anchor)
            )
        self.relay.open()
        if self.source is not None:
            self._guarded("source_errors", self.source.open)
        if self.link is not None:
            self.link.start()
        self._started_at = self.clock.monotonic()
        log.info(
            "%s: started (trust v%s, revocations v%s, %s)",
            self.sid,
            self.verifier.trust_version,
            self.verifier.revocation_version,
            "online" if self.link else "offline",
        )

    def stop(self, *, clean: bool = True) -> None:
        """Stop everything; `clean=False` drops the MQTT connection like a power cut (LWT)."""
        if self.link is not None:
            self._guarded("link_errors", self.link.stop if clean else self.link.abort)
        if self.source is not None:
            self._guarded("source_errors", self.source.close)
        self._guarded("relay_errors", self.relay.close)
        self._guarded("journal_errors", self.journal.close)

    def run(self, stop: threading.Event) -> None:
        """The door loop: read frames at the source's rate until `stop` is set."""
        next_heartbeat = self.clock.monotonic()
        while not stop.is_set():
            frame = None
            if self.source is not None:
                try:
                    frame = self.source.read()
                except Exception:
                    self.stats["source_errors"] += 1
                    log.exception("%s: camera read failed", self.sid)
                    stop.wait(0.5)
            if frame is None:
                stop.wait(IDLE_S)
            else:
                try:
                    self.process_frame(frame)
                except Exception:  # process_frame guards itself; this is the last net
                    self.stats["loop_errors"] += 1
                    log.exception("%s: frame processing failed", self.sid)
            if self.clock.monotonic() >= next_heartbeat:
                self._guarded("telemetry_errors", self.publish_telemetry)
                next_heartbeat = self.clock.monotonic() + self.config.telemetry_interval_s

    # --- the access path ---------------------------------------------------------------------

    def process_frame(self, frame: object) -> list[Decision]:
        """Decode a frame and decide on each new code in it. Held codes are debounced."""
        self.stats["frames"] += 1
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            self.stats["bad_frames"] += 1
            return []
        try:
            texts = self.decoder.decode(frame)
        except Exception:
            self.stats["decode_errors"] += 1
            log.exception("%s: decoder failed", self.sid)
            return []
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
            try:
                decision = self.verifier.decide(text)
            except Exception as exc:  # verify() never raises; this keeps the promise if it did
                log.exception("%s: verifier failed", self.sid)
                decision = Decision(Reason.MALFORMED, detail=f"verifier error: {exc!r}"[:200])
            if debounce and self._outcomes.seen((decision.serial or text, decision.reason), now):
                self.stats["suppressed"] += 1
                return None
            self._act(decision)
        return decision

    def _act(self, decision: Decision) -> None:
        """Door first (the member is waiting), then the journal, then wake the link."""
        pulsed = False
        if decision.granted:
            try:
                self.relay.pulse(self.config.door.pulse_s)
                pulsed = True
            except Exception:
                self.stats["relay_errors"] += 1
                log.exception("%s: relay pulse failed", self.sid)
        self.stats["granted" if decision.granted else "denied"] += 1
        self.stats[f"reason.{decision.reason.value}"] += 1
        now = self.clock.now()
        self._journal(
            lambda seq: AccessEvent(
                sid=self.sid,
                ts=now,
                event_id=uuid6.uuid7(),
                seq=seq,
                granted=decision.granted,
                reason=decision.reason,
                credential=decision.credential,
                kid=decision.kid,
                serial=decision.serial,
            )
        )
        if pulsed:
            self._journal(
                lambda seq: DoorEvent(
                    sid=self.sid,
                    ts=now,
                    event_id=uuid6.uuid7(),
                    seq=seq,
                    action="unlocked",
                    cause="grant",
                )
            )
        if self.link is not None:
            self.link.kick()

    def _journal(self, make: Callable[[int], Payload], kind: Kind = Kind.EVENTS) -> int | None:
        try:
            seq, _ = self.journal.append(kind.value, make)
        except Exception:  # disk full, closed journal: the door already acted; count it
            self.stats["journal_errors"] += 1
            log.exception("%s: could not journal a %s item", self.sid, kind.value)
            return None
        return seq

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

    # --- reporting ---------------------------------------------------------------------------

    def meta(self) -> MetaPayload:
        """The retained `meta` published on every connect."""
        return MetaPayload(
            sid=self.sid,
            ts=self.clock.now(),
            agent_version=AGENT_VERSION,
            capabilities=CAPABILITIES,
            trust_version=self.verifier.trust_version,
            revocation_version=self.verifier.revocation_version,
        )

    def telemetry(self) -> TelemetryPayload:
        """The heartbeat: uptime, journal backlog, lock state and host metrics."""
        started = self._started_at
        uptime = 0.0 if started is None else max(0.0, self.clock.monotonic() - started)
        try:
            backlog = self.journal.backlog()
        except Exception:
            backlog = 0
        try:
            lock = "unlocked" if self.relay.is_active else "locked"
        except Exception:
            lock = "fault"
        return TelemetryPayload(
            sid=self.sid,
            ts=self.clock.now(),
            uptime_s=round(uptime, 1),
            interval_s=self.config.telemetry_interval_s,
            journal_backlog=backlog,
            lock=lock,
            cpu_temp_c=telemetry.cpu_temp_c(),
            load1=telemetry.load1(),
            mem_used_pct=telemetry.mem_used_pct(),
            disk_used_pct=telemetry.disk_used_pct(self.config.journal_path.parent),
        )

    def publish_telemetry(self) -> TelemetryPayload:
        """Build a heartbeat and send it if there is a link (QoS 0, never journaled)."""
        payload = self.telemetry()
        if self.link is not None:
            self.link.publish_telemetry(payload)
        return payload
