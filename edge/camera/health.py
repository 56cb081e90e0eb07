"""Camera health: turns a run of missing or garbage frames into a `camera_down` alarm.

A camera that is unplugged returns None; one whose sensor or cable fails often returns
frames that are all one value, or not images at all. Either way the door cannot see a
member, so operators must know; the door loop itself keeps running and keeps retrying.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Transition = Literal["raised", "cleared"] | None


def is_usable(frame: object) -> bool:
    """A uint8 image with some contrast: a uniform frame is a covered lens or a dead sensor."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3):
        return False
    if frame.shape[0] < 21 or frame.shape[1] < 21:
        return False
    sample = frame[::16, ::16]  # a sparse grid is enough to see that a frame is not flat
    return int(sample.max()) - int(sample.min()) > 2


class CameraHealth:
    """Feed every read (frame or None) with monotonic seconds; it reports alarm transitions."""

    def __init__(self, down_after_s: float = 5.0) -> None:
        self.down_after_s = down_after_s
        self.down = False
        self.bad_frames = 0
        self._last_good: float | None = None
        self._since: float | None = None  # first observation, so a camera never seen alarms

    def observe(self, frame: object, now: float) -> tuple[bool, Transition]:
        """(frame usable, alarm transition or None)."""
        if self._since is None:
            self._since = now
        usable = frame is not None and is_usable(frame)
        if frame is not None and not usable:
            self.bad_frames += 1
        if usable:
            self._last_good = now
            if self.down:
                self.down = False
                return True, "cleared"
            return True, None
        reference = self._last_good if self._last_good is not None else self._since
        if not self.down and now - reference >= self.down_after_s:
            self.down = True
            return False, "raised"
        return False, None
