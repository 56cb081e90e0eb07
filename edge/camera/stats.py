"""Camera throughput and decode latency for the heartbeat and /metrics: frames per second
read, and decoder milliseconds (p50/p95) of the frames actually decoded, over a rolling window.

The door loop calls `frame()` for every camera read and `decoded()` after every decoder call,
so both are O(1) and allocate nothing beyond the float they are given: frames are counted in
one-second buckets, decode times go into a fixed ring. The summaries are computed when asked
(once per heartbeat or scrape, from another thread too: they read a snapshot and never block
the door loop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The window the figures describe, seconds: long enough to smooth a burst of motion, short
# enough that a camera that slowed down shows it within a heartbeat or two.
WINDOW_S = 60
# Decode times kept at most: 15 fps decoded without pause for the whole window is 900.
RING = 1024


@dataclass(frozen=True, slots=True)
class CameraSummary:
    """What the window says; None where there is nothing to say yet."""

    fps: float | None
    decode_ms_p50: float | None
    decode_ms_p95: float | None
    decoded: int  # decodes in the window


def _pct(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class CameraStats:
    """Rolling frame rate and decode latency; feed it monotonic seconds."""

    def __init__(self, window_s: int = WINDOW_S, ring: int = RING) -> None:
        if window_s < 2 or ring < 1:
            raise ValueError("window_s must be ≥ 2 and ring ≥ 1")
        self.window_s = window_s
        self._second = [-1] * window_s  # which whole second each bucket holds
        self._count = [0] * window_s  # frames read in that second
        self._first: float | None = None  # first frame ever: the window's start until it fills
        self._ms = [0.0] * ring
        self._at = [-math.inf] * ring  # monotonic time of each decode
        self._next = 0

    def frame(self, now: float) -> None:
        """One frame read from the camera at monotonic `now`."""
        sec = int(now)
        i = sec % self.window_s
        if self._second[i] != sec:
            self._second[i] = sec
            self._count[i] = 1
        else:
            self._count[i] += 1
        if self._first is None:
            self._first = now

    def decoded(self, ms: float, now: float) -> None:
        """One decoder call that took `ms` milliseconds, finished at monotonic `now`."""
        i = self._next
        self._ms[i] = ms
        self._at[i] = now
        self._next = (i + 1) % len(self._ms)

    def fps(self, now: float) -> float | None:
        """Frames per second over the whole seconds of the last `window_s` (fewer right after
        start; a half-done second would skew it); None: not one whole second seen yet."""
        first = self._first
        if first is None:
            return None
        sec = int(now)
        low = max(sec - self.window_s + 1, int(first) + 1)  # the first whole second seen
        if low >= sec:
            return None
        frames = sum(c for s, c in zip(self._second, self._count, strict=True) if low <= s < sec)
        return round(frames / (sec - low), 2)

    def decode_ms(self, now: float) -> list[float]:
        """Decode times of the window, ascending."""
        low = now - self.window_s
        return sorted(ms for ms, at in zip(list(self._ms), list(self._at), strict=True) if at > low)

    def summary(self, now: float) -> CameraSummary:
        ms = self.decode_ms(now)
        return CameraSummary(
            fps=self.fps(now),
            decode_ms_p50=round(_pct(ms, 0.50), 2) if ms else None,
            decode_ms_p95=round(_pct(ms, 0.95), 2) if ms else None,
            decoded=len(ms),
        )
