"""The footfall unit: counter(s) → aggregator → journal, on its own thread.

The door loop never waits for it: door events, grants and (with `source = "door"`) the door
camera's frames are dropped into queues / a one-frame slot, and the unit's thread does the
counting, the interval bookkeeping and the tailgating check. It raises and clears
`counter_degraded` from the count source's own judgement (`CameraCounter.degraded`, a
blocked beam), and exposes `occupancy` for the heartbeat.

With both a camera and beams configured, `count_by` counts and the other is only compared
with it (`CrossCheck`), so nobody is counted twice.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from gpiozero.pins import Factory

from edge.footfall.aggregate import Aggregator
from edge.footfall.beam import BeamCounter
from edge.footfall.config import FootfallConfig
from edge.footfall.crossing import Crossing
from edge.footfall.fusion import AlarmFn, CrossCheck, TailgateDetector
from edge.journal import Journal
from edge.ports import Clock, FrameSource

log = logging.getLogger(__name__)

DOOR_CAMERA = "door"  # `[footfall.camera] source = "door"`: count on the door camera's frames
BEAM_POLL_S = 0.05  # beams only: how often the thread looks at the queued edges
TICK_S = 1.0  # interval roll-over, re-zero and degraded checks
NO_FRAME_S = 10.0  # a counting camera silent this long raises counter_degraded


class FootfallUnit:
    """Built from `[footfall]`; `start()` binds it to the agent's journal, clock and alarms."""

    def __init__(
        self,
        config: FootfallConfig,
        *,
        clock: Clock,
        pin_factory: Factory | None = None,
        frame_source: FrameSource | None = None,
        camera_counter: Any = None,
        threaded: bool = True,
    ) -> None:
        self.config = config
        self.threaded = threaded  # False: the owner calls step() (a simulated fleet)
        self.clock = clock
        self.stats: Counter[str] = Counter()
        self.beam = (
            BeamCounter(config.beam, clock=clock.monotonic, pin_factory=pin_factory)
            if config.beam is not None
            else None
        )
        self.camera = camera_counter
        self.source = frame_source
        cam = config.camera
        if cam is not None and self.camera is None:
            from edge.footfall.camera import CameraCounter  # OpenCV only when a camera counts

            self.camera = CameraCounter(cam.counting)
        if cam is not None and self.source is None and cam.source != DOOR_CAMERA:
            from edge.camera.capture import make_source

            self.source = make_source(cam.source, width=cam.width, height=cam.height)  # type: ignore[assignment]
        self.aggregator: Aggregator | None = None
        self.tailgate: TailgateDetector | None = None
        self.cross_check: CrossCheck | None = None
        self._alarm: AlarmFn = lambda name, state, detail: None
        self._door: queue.SimpleQueue[tuple[str, str | None, float]] = queue.SimpleQueue()
        self._frame: Any = None  # the newest door-camera frame offered, not yet counted
        self._frame_lock = threading.Lock()
        self._degraded: str | None = None
        self._next_tick = -float("inf")
        self._last_frame = 0.0  # monotonic time of the last frame counted
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle (agent thread) -------------------------------------------------------------

    def start(
        self,
        sid: str,
        journal: Journal,
        *,
        now: Callable[[], datetime],
        alarm: AlarmFn,
        wake: Callable[[], None],
        state_path: Path,
    ) -> None:
        """Load the open interval, open the counters, and run (if `threaded`)."""
        self._alarm = alarm
        self.aggregator = Aggregator(
            sid,
            journal,
            interval_s=self.config.interval_s,
            state_path=state_path,
            now=now,
            rezero_idle_s=self.config.rezero_idle_min * 60.0,
            stats=self.stats,
            wake=wake,
        )
        self.aggregator.load()
        self.tailgate = TailgateDetector(alarm)
        if self.camera is not None and self.beam is not None:
            self.cross_check = CrossCheck(alarm)
        self._last_frame = self.clock.monotonic()
        if self.beam is not None:
            self.beam.open()
        if self.source is not None:
            try:
                self.source.open()
            except Exception:  # counted as silent below → counter_degraded; the door goes on
                self.stats["footfall_source_errors"] += 1
                log.exception("%s: counting camera %s did not open", sid, self.config.camera)
        log.info(
            "%s: footfall counting by %s every %d s%s",
            sid,
            self.config.count_by,
            self.config.interval_s,
            " (cross-checked)" if self.cross_check else "",
        )
        if self.threaded:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="footfall", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread, save the open interval, release pins and camera."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        for fn in (
            self.aggregator.close if self.aggregator else None,
            self.beam.close if self.beam else None,
            self.source.close if self.source else None,
        ):
            if fn is not None:
                try:
                    fn()
                except Exception:
                    self.stats["footfall_errors"] += 1
                    log.exception("footfall: stopping %s failed", fn)

    # --- from the door loop (cheap, never blocks) ---------------------------------------------

    def door(self, action: str, cause: str | None) -> None:
        """A door happening (`door_opened`, `forced_open`, `door_closed`) or a grant."""
        self._door.put((action, cause, self.clock.monotonic()))

    def granted(self) -> None:
        self.door("granted", None)

    def offer(self, frame: object) -> None:
        """The door camera's newest frame (`source = "door"`); an older one is replaced."""
        if frame is not None:
            with self._frame_lock:
                self._frame = frame

    @property
    def occupancy(self) -> int | None:
        agg = self.aggregator
        return None if agg is None else agg.occupancy

    # --- the unit's thread --------------------------------------------------------------------

    def _run(self) -> None:
        period = BEAM_POLL_S
        if self.config.count_by == "camera" and self.config.camera is not None:
            period = 1.0 / self.config.camera.fps
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a bug here must not end counting for good, nor the agent
                self.stats["footfall_errors"] += 1
                log.exception("footfall step failed")
                self._stop.wait(1.0)
            self._stop.wait(period)

    def step(self) -> list[Crossing]:
        """One turn: door events, counters, aggregation; returns the counted crossings."""
        assert self.aggregator is not None, "start() first"
        assert self.tailgate is not None
        now = self.clock.monotonic()
        self._drain_door()
        beam = self.beam.poll(now) if self.beam is not None else []
        cam = self._camera_step(now)
        counted, other = (cam, beam) if self.config.count_by == "camera" else (beam, cam)
        if counted:
            self.aggregator.add(counted)
            self.tailgate.crossings(counted)
        if self.cross_check is not None:
            self.cross_check.add(counted, other, now)
        if now >= self._next_tick:
            self._next_tick = now + TICK_S
            self._tick(now)
        return counted

    def _camera_step(self, now: float) -> list[Crossing]:
        if self.camera is None:
            return []
        if self.source is not None:
            frame = self.source.read()
        else:
            with self._frame_lock:
                frame, self._frame = self._frame, None
        if frame is None:
            return []
        self._last_frame = now
        return list(self.camera.process(frame, at=now))

    def _drain_door(self) -> None:
        tailgate = self.tailgate
        assert tailgate is not None
        while True:
            try:
                action, cause, at = self._door.get_nowait()
            except queue.Empty:
                return
            if action == "granted":
                tailgate.granted(at)
            elif action == "door_opened":
                tailgate.door_opened(at, cause)
            elif action == "forced_open":
                tailgate.door_opened(at, None)
            elif action == "door_closed":
                tailgate.door_closed(at)

    def _tick(self, now: float) -> None:
        assert self.aggregator is not None
        assert self.tailgate is not None
        reason = self._reason(now)
        if (reason is None) != (self._degraded is None):  # a transition, not a new wording
            if reason is not None:
                self._alarm("counter_degraded", "raised", reason)
            else:
                self._alarm("counter_degraded", "cleared", None)
        self._degraded = reason
        self.aggregator.tick(still=not self._busy(), trusted=reason is None)
        self.tailgate.tick(now)

    def _reason(self, now: float) -> str | None:
        """Why the count source cannot be trusted now, or None."""
        if self.config.count_by == "beam" and self.beam is not None:
            return self.beam.degraded(now)
        if self.camera is not None:
            if now - self._last_frame >= NO_FRAME_S:
                return f"camera: no frame for {now - self._last_frame:.0f} s"
            reason = self.camera.degraded
            return None if reason is None else f"camera: {reason}"
        return None

    def _busy(self) -> bool:
        """Someone at the counting line right now (never re-zero then)."""
        if self.beam is not None and self.beam.busy:
            return True
        return bool(getattr(self.camera, "busy", False))
