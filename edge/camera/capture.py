"""A real camera (USB/CSI device index, video file or RTSP URL) through `cv2.VideoCapture`.

Implements the `FrameSource` port. A camera that stops delivering is reopened with a
back-off instead of stopping the door loop; the newest-frame/stale-frame handling and the
`camera_down` alarm come with the door-scanner work.
"""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

log = logging.getLogger(__name__)

REOPEN_MIN_S = 0.5  # first retry after a camera loss; doubles up to REOPEN_MAX_S
REOPEN_MAX_S = 10.0


def parse_source(source: str) -> int | str:
    """'0' → device index 0; anything else (path, rtsp://…) is passed to OpenCV as is."""
    return int(source) if source.isdigit() else source


class OpenCvSource:
    """Frames from OpenCV; `read()` returns None while the camera is away."""

    def __init__(self, source: str, *, width: int = 640, height: int = 480) -> None:
        self.source = parse_source(source)
        self.width = width
        self.height = height
        self.failures = 0
        self._cap: cv2.VideoCapture | None = None
        self._retry_at = 0.0
        self._delay = REOPEN_MIN_S

    def open(self) -> None:
        cap = cv2.VideoCapture(self.source)
        if isinstance(self.source, int):
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the newest frame, not a backlog
        if not cap.isOpened():
            cap.release()
            raise OSError(f"cannot open camera {self.source!r}")
        self._cap = cap
        self._delay = REOPEN_MIN_S

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            if time.monotonic() < self._retry_at:
                return None
            try:
                self.open()
                log.info("camera %r (re)opened", self.source)
            except OSError as exc:
                self._retry_at = time.monotonic() + self._delay
                self._delay = min(REOPEN_MAX_S, self._delay * 2)
                log.warning("%s; retrying in %.1f s", exc, self._delay)
                return None
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self.failures += 1
            log.warning("camera %r returned no frame; reopening", self.source)
            self.close()
            return None
        return frame
