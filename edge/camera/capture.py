"""Frame sources behind the `FrameSource` port: a live camera, a video file, a directory.

A live camera (USB/CSI device index or an rtsp:// URL) is read on its own thread that keeps
only the newest frame, so a slow decision never makes the next one look at the past: frames
the door loop did not take in time are counted as `dropped`, and a frame older than
`max_age_s` is never handed out. A camera that stops delivering is reopened with a back-off
instead of stopping the door loop; the agent turns the silence into a `camera_down` alarm.
Video files and image directories are read in order, one frame per `read()` (installer
self-tests, benchmarks, replaying a recording).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

REOPEN_MIN_S = 0.5  # first retry after a camera loss; doubles up to REOPEN_MAX_S
REOPEN_MAX_S = 10.0
# A frame older than this is stale: a member moved on, or the stream stalled. Two frame
# periods at 15 fps; larger values decide on the past, smaller ones drop good frames.
MAX_AGE_S = 0.15
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".mjpeg", ".webm"})


def parse_source(source: str) -> int | str:
    """'0' → device index 0; anything else (path, rtsp://…) is passed to OpenCV as is."""
    return int(source) if source.isdigit() else source


def is_live(source: int | str) -> bool:
    return isinstance(source, int) or "://" in source


class OpenCvSource:
    """A live camera through OpenCV; `read()` returns the newest fresh frame or None."""

    def __init__(
        self,
        source: str,
        *,
        width: int = 640,
        height: int = 480,
        max_age_s: float = MAX_AGE_S,
        threaded: bool | None = None,
    ) -> None:
        self.source = parse_source(source)
        self.width = width
        self.height = height
        self.max_age_s = max_age_s
        self.threaded = is_live(self.source) if threaded is None else threaded
        self.failures = 0
        self.dropped = 0  # frames replaced by a newer one before the door loop took them
        self.stale = 0  # frames too old when the door loop asked
        self._cap: cv2.VideoCapture | None = None
        self._retry_at = 0.0
        self._delay = REOPEN_MIN_S
        self._cond = threading.Condition()
        self._newest: tuple[np.ndarray, float] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the capture device ------------------------------------------------------------------

    def _open_cap(self) -> None:
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

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _grab(self) -> np.ndarray | None:
        """One frame from the device, reopening with back-off; None while it is away."""
        if self._cap is None:
            if time.monotonic() < self._retry_at:
                return None
            try:
                self._open_cap()
                log.info("camera %r (re)opened", self.source)
            except OSError as exc:
                self._retry_at = time.monotonic() + self._delay
                self._delay = min(REOPEN_MAX_S, self._delay * 2)
                log.warning("%s; retrying in %.1f s", exc, self._delay)
                return None
        assert self._cap is not None
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self.failures += 1
            log.warning("camera %r returned no frame; reopening", self.source)
            self._release()
            return None
        return frame

    # --- the port ----------------------------------------------------------------------------

    def open(self) -> None:
        """Open the camera; raises OSError if it is not there, but keeps trying in `read()`
        (unthreaded) or on the capture thread, which starts either way."""
        try:
            self._open_cap()
        except OSError:
            self._retry_at = time.monotonic() + self._delay
            raise
        finally:
            if self.threaded and self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._pump, name="camera", daemon=True)
                self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        self._release()

    def read(self) -> np.ndarray | None:
        """Unthreaded: the next frame. Threaded: the newest frame, waiting ≤ `max_age_s`."""
        if not self.threaded:
            return self._grab()
        with self._cond:
            if self._newest is None:
                self._cond.wait(self.max_age_s)
            item, self._newest = self._newest, None
        if item is None:
            return None
        frame, arrived = item
        if time.monotonic() - arrived > self.max_age_s:
            self.stale += 1
            return None
        return frame

    def exposure(self) -> float | None:
        """The exposure the driver reports (V4L2: units of 100 µs; others vary), or None if
        the camera is not open or does not say (OpenCV answers 0 or -1 then)."""
        cap = self._cap
        if cap is None:
            return None
        try:
            value = float(cap.get(cv2.CAP_PROP_EXPOSURE))
        except cv2.error:
            return None
        return value if value > 0 else None

    def _pump(self) -> None:
        """Capture thread: read as fast as the camera delivers, keep only the newest."""
        while not self._stop.is_set():
            frame = self._grab()
            if frame is None:
                self._stop.wait(0.05 if self._cap is not None else self._delay / 4)
                continue
            with self._cond:
                if self._newest is not None:
                    self.dropped += 1
                self._newest = (frame, time.monotonic())
                self._cond.notify()


class DirectorySource:
    """Image files of a directory in name order, one per `read()`; None after the last."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._files: list[Path] = []
        self._next = 0

    def open(self) -> None:
        if not self.directory.is_dir():
            raise OSError(f"{self.directory} is not a directory")
        self._files = sorted(
            p for p in self.directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
        )
        self._next = 0

    def close(self) -> None:
        self._files = []

    def read(self) -> np.ndarray | None:
        if self._next >= len(self._files):
            return None
        path = self._files[self._next]
        self._next += 1
        return cv2.imread(str(path), cv2.IMREAD_COLOR)


def video_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame of a video file in order (for `edge scan`); none if OpenCV cannot read it."""
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            yield frame
    finally:
        cap.release()


def make_source(spec: str, *, width: int = 640, height: int = 480) -> object:
    """The frame source a config string names: a directory, or anything OpenCV opens."""
    if not spec.isdigit() and "://" not in spec and Path(spec).is_dir():
        return DirectorySource(Path(spec))
    return OpenCvSource(spec, width=width, height=height)
