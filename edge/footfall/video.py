"""Count people in a video file with the camera counter (`waystation edge count`).

For installers checking a camera placement on a recording: the same `CameraCounter` the
station runs, fed every frame with the video's own timestamps (frame / fps).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import ValidationError

from edge.footfall.camera import CameraCounter
from edge.footfall.crossing import Crossing, Direction
from edge.footfall.geometry import CountingConfig, parse_numbers

DEFAULT_FPS = 10.0  # when the file does not say


class CountError(ValueError):
    """Bad input for `count_video`, said in words an installer can act on."""


@dataclass(frozen=True, slots=True)
class VideoCount:
    entries: int
    exits: int
    frames: int
    ms_per_frame: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "entries": self.entries,
            "exits": self.exits,
            "frames": self.frames,
            "ms_per_frame": self.ms_per_frame,
        }


def make_config(line: str, inside: str, **tunables: object) -> CountingConfig:
    """A `CountingConfig` from the command line's 'X1,Y1,X2,Y2' and 'X,Y'."""
    try:
        segment = parse_numbers(line, 4, "--line")
        point = parse_numbers(inside, 2, "--inside")
        return CountingConfig(line=segment, inside=point, **tunables)  # type: ignore[arg-type]
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise CountError(reasons) from None
    except ValueError as exc:
        raise CountError(str(exc)) from None


def count_video(path: Path, config: CountingConfig) -> VideoCount:
    if not path.exists():
        raise CountError(f"{path}: no such file")
    if not path.is_file():
        raise CountError(f"{path}: not a file")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise CountError(f"{path}: OpenCV cannot open it as a video")
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if math.isfinite(fps) and 1.0 <= fps <= 1000.0 else DEFAULT_FPS
        counter = CameraCounter(config)
        crossings: list[Crossing] = []
        frames = 0
        spent = 0.0
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            start = time.perf_counter()
            crossings += counter.process(frame, frames / fps)
            spent += time.perf_counter() - start
            frames += 1
        crossings += counter.flush()  # held for confirmation when the video ended
    finally:
        cap.release()
    if frames == 0:
        raise CountError(f"{path}: no frame could be read (not a video, or a broken one)")
    entries = sum(c.count for c in crossings if c.direction is Direction.IN)
    exits = sum(c.count for c in crossings if c.direction is Direction.OUT)
    return VideoCount(entries, exits, frames, round(1000.0 * spent / frames, 3))


def crossings_of(
    config: CountingConfig, timed_frames: Iterable[tuple[float, np.ndarray]]
) -> list[tuple[float, int, int]]:
    """(time s, +1 in / -1 out, people) of every crossing one fresh counter reports over
    `timed_frames` ((monotonic s, frame) in order): what a rendered scene's truth is scored
    against (`firmware_sim.overhead.score`)."""
    counter = CameraCounter(config)
    crossings: list[Crossing] = []
    for t, frame in timed_frames:
        crossings += counter.process(frame, t)
    crossings += counter.flush()  # held for confirmation when the frames ended
    return [(c.at, 1 if c.direction is Direction.IN else -1, c.count) for c in crossings]
