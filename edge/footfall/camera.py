"""`CameraCounter`: camera frames → `Crossing`s, in memory only.

Per frame: downscale to `process_width` → input guard (frozen / noise / light
jump) → gain-normalised MOG2 foreground, shadows dropped (in colour) → blobs (their shape,
and the heads the gain-normalised frame shows in them) → tracks → crossings of the line
band. After anything the counter cannot trust it stops counting for
`settle_s` while the background re-learns fast, then starts its tracks afresh: a missed
crossing is better than a burst of invented ones. `degraded` names the reason meanwhile
(→ `counter_degraded`). No frame is kept beyond the next one, written or sent (except
installer debug snapshots, off by default).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from edge.footfall.background import Foreground
from edge.footfall.blobs import PersonSize, find_blobs
from edge.footfall.crossing import Crossing
from edge.footfall.geometry import CountingConfig, LineBand
from edge.footfall.guard import InputGuard, Verdict
from edge.footfall.mode import CameraMode, looks_monochrome
from edge.footfall.snapshot import Snapshots
from edge.footfall.tracker import Tracker

log = logging.getLogger(__name__)

SETTLE_LEARNING_RATE = 0.1  # background time constant ~10 frames while settling
NOISE_FRAMES_TO_RELEARN = 3  # too much foreground this many frames running: re-learn


class CameraCounter:
    def __init__(self, config: CountingConfig) -> None:
        self.config = config
        self.frames = 0
        self._shape: tuple[int, ...] | None = None
        self._size = PersonSize(config.person_area_px)
        self._foreground = Foreground(
            history=config.history_frames,
            var_threshold=config.var_threshold,
            shadow_threshold=config.shadow_threshold,
            min_area_px=config.min_area_px,
        )
        self._guard = InputGuard(frozen_s=config.frozen_s, light_jump=config.light_jump)
        self.mode = CameraMode()
        self.band = LineBand.from_config(config)
        self.tracker = self._new_tracker()
        self._reason: str | None = None
        self._reason_until = 0.0
        self._settle_until: float | None = None
        self._released: list[Crossing] = []  # held crossings let go when the tracks were cleared
        self._crowded_run = 0
        self._failed = False
        self._snapshots = (
            Snapshots(
                config.debug_snapshot_dir,
                every_s=config.debug_snapshot_every_s,
                keep=config.debug_snapshot_keep,
            )
            if config.debug_snapshot_dir is not None
            else None
        )

    @property
    def degraded(self) -> str | None:
        """Why the counter cannot trust its input right now ("frozen", "noise",
        "light_change", "bad_frame"), or None."""
        return self._reason

    @property
    def busy(self) -> bool:
        """Someone is in view: a live track, or one lost mid-view within `memory_s` (people
        standing still fade into the background). The occupancy re-zero waits for False."""
        return bool(self.tracker.tracks or self.tracker.ghosts)

    def process(self, frame: np.ndarray | None, at: float) -> list[Crossing]:
        """The crossings reported in this frame (`at`: monotonic seconds; each crossing keeps
        the time it was made, which can be up to `HOLD_S` earlier). Never raises."""
        try:
            crossings = self._process(frame, at)
            if self._released:
                crossings, self._released = self._released + crossings, []
            return crossings
        except Exception:  # the door loop calls this: a counter bug must not stop the door
            if not self._failed:
                log.exception("footfall counter failed on a frame; skipping it")
                self._failed = True
            self._set_reason("bad_frame", at)
            return []

    def _process(self, frame: np.ndarray | None, at: float) -> list[Crossing]:
        self.frames += 1
        before = self._reason
        if self._reason is not None and at >= self._reason_until and self._reason != "frozen":
            self._reason = None
        if not _usable(frame):
            self._set_reason("bad_frame", at)
            return []
        assert frame is not None
        if frame.shape != self._shape:
            self._reshape(frame)
        image, small, grey = self._prepare(frame)
        median = float(np.median(small))
        verdict = self._guard.check(small, median, at)
        if verdict is Verdict.FROZEN:
            self._reason, self._reason_until = "frozen", at + self.config.settle_s
            return []
        if self._reason == "frozen":
            self._reason = None
        if verdict is Verdict.NOISE:
            self._set_reason("noise", at)
            return []
        if verdict is Verdict.LIGHT_CHANGE:
            self._settle("light_change", at)
        elif verdict is Verdict.RESET:
            self._settle(before or "noise", at)  # after a freeze or lasting noise
        mono = self.mode.observe(grey, at)
        settling = self._settle_until is not None and at < self._settle_until
        rate = SETTLE_LEARNING_RATE if settling else -1.0
        normalised = self._foreground.normalise(image, median)
        mask = self._foreground.apply(normalised, rate, mono=mono)
        crowded = cv2.countNonZero(mask) > self.config.noise_fraction * mask.size
        self._crowded_run = self._crowded_run + 1 if crowded else 0
        if crowded:
            if self._crowded_run >= NOISE_FRAMES_TO_RELEARN:
                self._settle("light_change", at)
            else:
                self._set_reason("noise", at)
            return []
        if settling:
            return []
        if self._settle_until is not None:  # settled: tracks start afresh on the new model
            self._settle_until = None
            self.tracker.clear()
        blobs = find_blobs(mask, self.config.min_area_px, self.tracker.along, normalised)
        crossings = self.tracker.update(blobs, at)
        if self._snapshots is not None and self._snapshots.due(at):
            tracks = [(t.x, t.y, t.state) for t in self.tracker.tracks]
            self._snapshots.write(image, mask, self.band, tracks, at)
        return crossings

    def flush(self) -> list[Crossing]:
        """Crossings still held for confirmation whose people are past the line: call at the
        end of a video (a live camera never needs it: every held crossing is settled within
        `edge.footfall.tracker.HOLD_S`), with any released by a light change on a frame that
        then failed."""
        released, self._released = self._released, []
        return released + self.tracker.flush()

    def _settle(self, reason: str, at: float) -> None:
        self._settle_until = at + self.config.settle_s
        self._set_reason(reason, at)
        self.mode.relearn()  # a switch to IR is a light change: the next frame decides
        # crossings made on frames it trusted, held for confirmation, are reported: their
        # people were past the line (the ones that were not are dropped)
        self._released += self.tracker.flush()
        self.tracker.clear()

    def _set_reason(self, reason: str, at: float) -> None:
        self._reason, self._reason_until = reason, at + self.config.settle_s

    def _reshape(self, frame: np.ndarray) -> None:
        """A new frame size: scale the line to it and forget the background."""
        if self._shape is not None:
            log.info("footfall: frame size changed to %s; background re-learned", frame.shape)
        self._shape = frame.shape
        width = frame.shape[1]
        self._scale = min(1.0, self.config.process_width / width)
        self._out = (
            round(width * self._scale),
            round(frame.shape[0] * self._scale),
        )
        self.band = LineBand.from_config(self.config, self._scale)
        self._foreground.reset()
        self._guard = InputGuard(frozen_s=self.config.frozen_s, light_jump=self.config.light_jump)
        self.mode = CameraMode()
        self.tracker = self._new_tracker()

    def _prepare(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """(frame at processing size, colour kept: the MOG2 shadow test uses chroma;
        a 1/4-size grey copy for the guard and the brightness median; whether this frame
        looks monochrome, the evidence `CameraMode` decides on)."""
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        elif frame.ndim == 3 and frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        if self._scale < 1.0:
            frame = cv2.resize(frame, self._out, interpolation=cv2.INTER_AREA)
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (w // 4, h // 4), interpolation=cv2.INTER_NEAREST)
        if small.ndim == 2:
            return frame, small, True
        return frame, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), looks_monochrome(small)

    def _new_tracker(self) -> Tracker:
        c = self.config
        return Tracker(
            self.band,
            self._size,
            max_match_px=c.max_match_px,
            max_missed_frames=c.max_missed_frames,
            memory_s=c.memory_s,
            max_people_per_blob=c.max_people_per_blob,
        )


def _usable(frame: object) -> bool:
    return (
        isinstance(frame, np.ndarray)
        and frame.dtype == np.uint8
        and (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] in (1, 3, 4)))
        and frame.shape[0] >= 16
        and frame.shape[1] >= 16
    )
