"""The feedback worker: the `Feedback` port, playing each decision's pattern off the door loop.

The door loop only appends to a small bounded queue (`show`, microseconds, never blocks). One
worker thread takes the newest decision, switches the lights and buzzer through the pattern
and starts the voice prompt. A newer decision pre-empts the one playing (lights, buzzer and
prompt cut short: the member now at the door is the one who matters); decisions the worker
never got to are skipped (`feedback_preempted`), and a full queue drops the oldest
(`feedback_dropped`), so a stuck output can never grow memory or hold the door. A prompt still
playing `prompt_timeout_s` after it started is stopped. An output that fails is counted
(`feedback_errors`) and logged; the worker carries on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

from edge.feedback.config import FeedbackConfig
from edge.feedback.cues import PATTERNS, prompt_for
from edge.feedback.voice import VoicePlayer
from edge.guard import guarded
from edge.ports import FeedbackKind, Indicators
from protocol.credential import Reason

log = logging.getLogger(__name__)

# While a prompt plays after its pattern, the worker looks this often whether it ended,
# seconds (a newer decision wakes it at once).
VOICE_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Cue:
    """One decision as the member is shown it."""

    kind: FeedbackKind
    reason: Reason


class DoorFeedback:
    """LEDs, buzzer and voice for each decision, on a thread of its own."""

    def __init__(self, config: FeedbackConfig, *, indicators: Indicators | None) -> None:
        """`indicators`: the lights and buzzer (None: voice only). No I/O here."""
        self.config = config
        self.indicators = indicators
        self.sid = "-"
        self.stats: Counter[str] = Counter()
        self.voice: VoicePlayer | None = None
        self._pending: deque[Cue] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False  # a cue is being played
        self._thread: threading.Thread | None = None

    # --- the Feedback port ---------------------------------------------------------------------

    def start(self, sid: str, stats: Counter[str]) -> None:
        self.sid, self.stats = sid, stats
        if self.config.voice:
            self.voice = VoicePlayer(self.config, sid, stats)
        if self.indicators is not None:
            try:
                self.indicators.open()
            except Exception:  # pins busy or forbidden: voice may still work, the door does
                self.stats["feedback_errors"] += 1
                log.exception("%s: feedback lights and buzzer unavailable", sid)
                self.indicators = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="door-feedback", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self.voice is not None:
            self.voice.stop()
        if self.indicators is not None:
            guarded(self.sid, self.stats, "feedback_errors", self.indicators.close)

    def show(self, kind: FeedbackKind, reason: Reason) -> None:
        with self._cond:
            if len(self._pending) >= self.config.queue_size:
                self._pending.popleft()
                self.stats["feedback_dropped"] += 1
            self._pending.append(Cue(kind, reason))
            self._cond.notify_all()

    # --- for tests and benchmarks --------------------------------------------------------------

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or playing (pattern and prompt), at most `timeout`
        seconds; False if it timed out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._pending and not self._busy,
                timeout=max(0.0, deadline - time.monotonic()),
            )

    # --- the worker ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                self._cond.wait_for(lambda: bool(self._pending) or self._stopping)
                if self._stopping:
                    return
                cue = self._pending.pop()  # the newest; the member now at the door
                if self._pending:  # decisions never shown: a newer member came first
                    self.stats["feedback_preempted"] += len(self._pending)
                    self._pending.clear()
                self._busy = True
            try:
                self._play(cue)
            except Exception:  # never let the thread die: the next member gets feedback
                self.stats["feedback_errors"] += 1
                log.exception("%s: feedback failed", self.sid)

    def _play(self, cue: Cue) -> None:
        self.stats[f"feedback.{cue.kind}"] += 1
        steps = PATTERNS[cue.kind]
        voice = self.voice
        deadline = time.monotonic() + self.config.prompt_timeout_s  # for the prompt
        cut = False
        for i, step in enumerate(steps):
            self._lights(step.green, step.red, step.buzz)
            if i == 0 and voice is not None:  # lights first: they are instant
                voice.play(prompt_for(cue.kind, cue.reason))
            if self._interrupted(step.share * self.config.show_s):
                cut = True
                self._preempted()
                break
        self._lights(False, False, False)
        if voice is None:
            return
        if not cut:  # let the prompt finish, unless a newer decision or the timeout comes
            while voice.playing and time.monotonic() < deadline:
                if self._interrupted(VOICE_POLL_S):
                    self._preempted()
                    break
        voice.stop()

    def _preempted(self) -> None:
        """A pattern or prompt cut short by a newer decision (not by `stop`)."""
        if not self._stopping:
            self.stats["feedback_preempted"] += 1

    def _interrupted(self, seconds: float) -> bool:
        """Wait `seconds`; True at once if a newer decision (or stop) arrives meanwhile."""
        with self._cond:
            return self._cond.wait_for(
                lambda: bool(self._pending) or self._stopping, timeout=seconds
            )

    def _lights(self, green: bool, red: bool, buzz: bool) -> None:
        indicators = self.indicators
        if indicators is None:
            return

        def feedback_lights() -> None:  # the name guarded() logs
            indicators.show(green=green, red=red, buzz=buzz)

        guarded(self.sid, self.stats, "feedback_errors", feedback_lights)
