"""The door's QR decoder: zxing-cpp first, retries on fixed-up frames, pyzbar last.

Order from measurement, not habit (docs/benchmarks.md, benchmarks/decode_door.py): on the
synthetic door set zxing-cpp alone reads about twice what pyzbar reads at a tenth of the
time, so it goes first; when it finds nothing the frame is upscaled (far phones) and then
also sharpened (blur, JPEG) for zxing-cpp again; pyzbar, the design card's reader, is the
last opinion. A step runs only if every earlier one found nothing, so a readable frame costs
one zxing-cpp call (~0.6 ms at 640×480) and an empty doorway the whole cascade (~8 ms).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import zxingcpp

from edge.camera import preprocess
from edge.camera.qr import as_text, read_zbar, to_gray

log = logging.getLogger(__name__)

# Past this many milliseconds spent on one frame, later steps are skipped: the next frame
# (67 ms later at 15 fps) is a fresh chance, and the door loop must not fall behind.
BUDGET_MS = 40.0

Reader = Callable[[np.ndarray], list[str]]
Fix = Callable[[np.ndarray], np.ndarray | None]


def read_zxing(gray: np.ndarray) -> list[str]:
    """zxing-cpp, QR only; bytes that are not UTF-8 come back with U+FFFD like pyzbar's."""
    found = zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)
    return [as_text(bytes(code.bytes)) for code in found if code.valid]


def _same(gray: np.ndarray) -> np.ndarray:
    return gray


@dataclass(frozen=True, slots=True)
class Step:
    """One attempt: an image fix (None skips the step for this frame) and a reader."""

    name: str
    fix: Fix
    read: Reader


DEFAULT_STEPS: tuple[Step, ...] = (
    Step("zxing", _same, read_zxing),
    Step("zxing_up2", preprocess.upscale, read_zxing),
    Step("zxing_up2_sharp", preprocess.upscale_sharpen, read_zxing),
    Step("pyzbar", _same, read_zbar),
)


class CascadeDecoder:
    """Implements the `QrDecoder` port; `hits` counts which step read each code."""

    def __init__(self, steps: Sequence[Step] = DEFAULT_STEPS, budget_ms: float = BUDGET_MS):
        self.steps = tuple(steps)
        self.budget_ms = budget_ms
        self.hits: Counter[str] = Counter()
        self.last_step: str | None = None

    def decode(self, frame: object) -> list[str]:
        """Texts of the QR codes in `frame`; [] for no code or a frame that is not an image."""
        self.last_step = None
        try:
            gray = to_gray(frame)
        except Exception:
            log.exception("cannot convert a frame to grayscale")
            return []
        if gray is None:
            return []
        start = time.perf_counter()
        for step in self.steps:
            if (time.perf_counter() - start) * 1000 > self.budget_ms:
                self.hits["over_budget"] += 1
                break
            try:
                image = step.fix(gray)
                texts = step.read(image) if image is not None else []
            except Exception:  # a reader bug must cost one step, not the door loop
                self.hits[f"{step.name}_errors"] += 1
                log.exception("QR step %s failed", step.name)
                continue
            if texts:
                self.hits[step.name] += 1
                self.last_step = step.name
                return list(dict.fromkeys(texts))  # a reader may report one code twice
        return []
