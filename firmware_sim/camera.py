"""A simulated camera implementing the `FrameSource` port.

Frames are shown to it (`show`) by whoever plays the scene; `read()` paces itself at `fps`
like a real capture and returns the newest frame shown, or the empty doorway. Like a real
camera under load it keeps only the newest frame: one shown while another was pending
replaces it and is counted as dropped. `fault` plays a failing camera: "unplugged" (no
frames at all) or "garbage" (black frames, as a dead sensor or a cut video line gives).
"""

from __future__ import annotations

import threading
import time
from typing import Literal

import numpy as np

from firmware_sim.scenes import DEFAULT_SIZE, render_empty

Fault = Literal["unplugged", "garbage"] | None


class SimCamera:
    def __init__(
        self, *, fps: float = 10.0, size: tuple[int, int] = DEFAULT_SIZE, seed: int = 0
    ) -> None:
        self.period_s = 1.0 / fps
        self.size = size
        self.seed = seed
        self.dropped = 0
        self.fault: Fault = None
        self._empty: np.ndarray | None = None
        self._pending: np.ndarray | None = None
        self._lock = threading.Lock()
        self._next = 0.0

    def open(self) -> None:
        self._empty = render_empty(size=self.size, rng=np.random.default_rng(self.seed))
        self._next = time.monotonic()

    def close(self) -> None:
        self._empty = None

    def show(self, frame: np.ndarray) -> None:
        """Put `frame` in front of the camera for the next read."""
        with self._lock:
            if self._pending is not None:
                self.dropped += 1
            self._pending = frame

    def read(self) -> np.ndarray | None:
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next + self.period_s, time.monotonic())
        if self.fault == "unplugged":
            return None
        if self.fault == "garbage":
            w, h = self.size
            return np.zeros((h, w, 3), dtype=np.uint8)
        with self._lock:
            frame, self._pending = self._pending, None
        return frame if frame is not None else self._empty
