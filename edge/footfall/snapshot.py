"""Installer debug snapshots: at most one annotated frame every N seconds, on local disk.

Off unless `debug_snapshot_dir` is set; when on, it says so loudly at start, because it is
the only place the footfall counter ever writes an image. Nothing here is ever sent, and old
files are deleted beyond `keep`. A failing disk never reaches the caller.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from edge.footfall.geometry import LineBand

log = logging.getLogger(__name__)

PREFIX = "footfall-debug-"


class Snapshots:
    def __init__(self, directory: Path, *, every_s: float, keep: int) -> None:
        self.directory = directory
        self.every_s = every_s
        self.keep = keep
        self._last: float | None = None
        self._seq = 0
        self._failed = False
        log.warning(
            "footfall debug snapshots ON: an annotated camera frame is written to %s every "
            "%.0f s (local disk only, never sent); turn debug_snapshot_dir off after "
            "installation",
            directory,
            every_s,
        )

    def due(self, at: float) -> bool:
        return self._last is None or at - self._last >= self.every_s

    def write(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        band: LineBand,
        tracks: list[tuple[float, float, int]],
        at: float,
    ) -> Path | None:
        """Annotated frame (line, band edges, foreground tinted, tracks with their side)."""
        self._last = at
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
            image[mask > 0] = (0.5 * image[mask > 0] + (0, 0, 127)).astype(np.uint8)
            h, w = image.shape[:2]
            for offset, colour in ((0.0, (0, 255, 255)), (band.band, (0, 200, 0))):
                for sign in (1, -1) if offset else (1,):
                    _draw_parallel(image, band, sign * offset, colour, w, h)
            for x, y, state in tracks:
                colour = (0, 200, 0) if state > 0 else (255, 128, 0) if state < 0 else (200,) * 3
                cv2.circle(image, (round(x), round(y)), 4, colour, -1)
            self._seq += 1  # wall-clock name: a restart neither overwrites nor misorders
            path = self.directory / f"{PREFIX}{time.time_ns() // 1000:017d}-{self._seq}.jpg"
            cv2.imwrite(str(path), image)
            self._prune()
            return path
        except (OSError, cv2.error) as exc:
            if not self._failed:
                log.warning("footfall debug snapshot not written to %s: %s", self.directory, exc)
                self._failed = True
            return None

    def _prune(self) -> None:
        files = sorted(self.directory.glob(f"{PREFIX}*.jpg"))
        for old in files[: max(0, len(files) - self.keep)]:
            old.unlink(missing_ok=True)


def _draw_parallel(
    image: np.ndarray, band: LineBand, offset: float, colour: tuple[int, ...], w: int, h: int
) -> None:
    """The line shifted by `offset` along its normal, drawn across the whole frame."""
    ox, oy = band.x1 + offset * band.nx, band.y1 + offset * band.ny
    dx, dy = band.ny, -band.nx  # along the line
    reach = float(w + h)
    p1 = (round(ox - reach * dx), round(oy - reach * dy))
    p2 = (round(ox + reach * dx), round(oy + reach * dy))
    cv2.line(image, p1, p2, colour, 1)
