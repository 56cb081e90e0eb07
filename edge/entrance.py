"""The entrance: where a code shown to the camera meets the door.

    camera read → camera health → motion gate → decode → debounce → decide → door
                → feedback (queued) → journal

Every step is guarded: a bad frame, a decoder crash or garbage text becomes a counter or a
denial, never an exception out of the door loop. The door acts first (the member is waiting),
then the member's feedback is queued (played on its own thread), then the decision is
journaled, then the link is woken. The rules are elsewhere: the decision in
`edge.access.decide`, the pulse in `edge.door`, the lights and prompts in `edge.feedback`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from functools import partial
from typing import Protocol

import numpy as np

from edge.access.debounce import Debouncer
from edge.access.decide import AccessDecider, DoorAction, Verdict
from edge.access.timeguard import TimeGuard
from edge.camera.health import CameraHealth
from edge.camera.motion import MotionGate
from edge.camera.stats import CameraStats
from edge.door import Door
from edge.events import EventLog
from edge.feedback.cues import feedback_kind
from edge.footfall.unit import FootfallUnit
from edge.guard import guarded
from edge.ports import Clock, Feedback, Publisher, QrDecoder
from protocol.credential import Decision, Reason

log = logging.getLogger(__name__)


class Host(Protocol):
    """What the entrance reaches in the agent (read at each use: a part may be swapped)."""

    sid: str
    clock: Clock
    decoder: QrDecoder
    motion: MotionGate
    camera_health: CameraHealth
    camera_stats: CameraStats
    decider: AccessDecider
    time_guard: TimeGuard
    door: Door
    events: EventLog
    footfall: FootfallUnit | None
    feedback: Feedback | None
    link: Publisher | None
    stats: Counter[str]
    decide_lock: threading.Lock

    def kick(self) -> None: ...

    def housekeeping_if_due(self) -> None: ...


class Entrance:
    """Frames and texts in, decisions out; the door and the journal follow each decision."""

    def __init__(self, host: Host, *, debounce_s: float) -> None:
        self.host = host
        self._texts = Debouncer(debounce_s)  # the same QR text, frame after frame
        self._outcomes = Debouncer(debounce_s)  # the same member and outcome

    def on_frame(self, frame: object) -> bool:
        """One camera read: camera health, then the motion gate, then (maybe) the decoder.

        Returns whether the frame was usable. Never raises.
        """
        host = self.host
        now = host.clock.monotonic()
        if frame is not None:
            host.camera_stats.frame(now)
        usable, transition = host.camera_health.observe(frame, now)
        if transition is not None:
            host.stats[f"camera_down.{transition}"] += 1
            detail = "no usable frame" if transition == "raised" else None
            host.events.alarm("camera_down", transition, detail)
            link = host.link
            if link is not None:  # the retained state says `degraded` / `online` again
                guarded(host.sid, host.stats, "link_errors", link.rebirth)
        if not usable:
            if frame is not None:
                host.stats["bad_frames"] += 1
            return False
        assert isinstance(frame, np.ndarray)
        if host.motion.should_decode(frame, now):
            self.process_frame(frame)
        else:
            host.stats["gated"] += 1
        return True

    def process_frame(self, frame: object) -> list[Decision]:
        """Decode a frame and decide on each new code in it. Held codes are debounced."""
        host = self.host
        host.stats["frames"] += 1
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            host.stats["bad_frames"] += 1
            return []
        start = time.perf_counter()
        try:
            texts = host.decoder.decode(frame)
        except Exception:
            host.stats["decode_errors"] += 1
            log.exception("%s: decoder failed", host.sid)
            return []
        host.camera_stats.decoded((time.perf_counter() - start) * 1000.0, host.clock.monotonic())
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
        host = self.host
        with host.decide_lock:
            now = host.clock.monotonic()
            if debounce and self._texts.seen(text, now):
                host.stats["suppressed"] += 1
                return None
            host.housekeeping_if_due()  # the mode in force is at most 1 s old
            decider = host.decider
            try:
                verdict = decider.decide(text, host.door.mode or decider.mode_now())
            except Exception as exc:  # decide() never raises; this keeps the promise if it did
                log.exception("%s: decision failed", host.sid)
                denied = Decision(Reason.MALFORMED, detail=f"decision error: {exc!r}"[:200])
                verdict = Verdict(denied, DoorAction.NONE, synced=True)
            decision = verdict.decision
            if debounce and self._outcomes.seen((decision.serial or text, decision.reason), now):
                host.stats["suppressed"] += 1
                return None
            self._act(verdict)
        return decision

    def _act(self, verdict: Verdict) -> None:
        """Door first (the member is waiting), then the member's feedback (queued only), then
        the journal, then wake the link."""
        host = self.host
        stats = host.stats
        decision = verdict.decision
        pulsed = False
        if not verdict.synced:
            stats["unsynced_decisions"] += 1
        if verdict.action is DoorAction.ALREADY_OPEN:
            stats["granted_while_free"] += 1  # the lock is held released already
        elif verdict.action is DoorAction.PULSE:
            pulsed = host.door.release("grant", host.clock.monotonic())
        feedback = host.feedback
        if feedback is not None:  # queued only: it plays on the feedback's own thread
            show = partial(feedback.show, feedback_kind(verdict), decision.reason)
            guarded(host.sid, stats, "feedback_errors", show)
        stats["granted" if decision.granted else "denied"] += 1
        if decision.granted and host.footfall is not None:
            host.footfall.granted()  # tailgating: entries beyond the grants
        stats[f"reason.{decision.reason.value}"] += 1
        now = host.time_guard.best_now()
        host.events.access(decision, now)
        if pulsed:
            host.events.door("unlocked", "grant", now)
        host.kick()
