"""The door's QR decoder: zxing-cpp first, retries on fixed-up frames, pyzbar last.

Order from measurement, not habit (docs/benchmarks.md, benchmarks/decode_door.py and
benchmarks/decode_blur.py): on the synthetic door set zxing-cpp alone reads about twice what
pyzbar reads at a tenth of the time, so it goes first; when it finds nothing the frame is
upscaled (far phones; frames up to 960 px wide), then the code's region is upscaled and
sharpened (far phones, blur, JPEG: what the whole frame used to get, at a third of the
pixels), then deconvolved: for the smear of a phone that moved during the exposure,
estimated from the region itself (edge/camera/smear.py; it skips itself for a region with no
smear in it), then for focus blur, a strong and a mild blur and the strong one again sampled
finer (edge/camera/deblur.py); pyzbar, the design card's reader, is the last opinion. Then
the same steps read halved copies of the frame (edge/camera/scales.py): a code much nearer
the lens than a door camera's focus, or a still photograph of one, is blurred by many px
that halving makes a pixel or two again (a region blurred that wide has the halved copy
tried before the full-size deblur steps); a frame larger than 1920 px gets zxing-cpp alone
at full size, and a budget that grows with its pixels (a still, not a camera in a hurry).
The cheap far-phone steps stay ahead of the dearer deblur steps so that on a Pi, where the
budget cuts the cascade short, a far phone is read as early as before. The smear step goes
ahead of the focus-blur steps for the same reason: last, the budget of a Pi-speed core
stopped the cascade before it on many smeared frames it reads (docs/benchmarks.md, "Motion
smear").

A step runs only if every earlier one found nothing, so a readable frame costs one zxing-cpp
call (~0.6 ms at 640×480). An empty doorway runs the cascade to its end, but the region steps
skip themselves when no part of the frame has a code's texture, so it costs less than before
the deblur steps (the whole-frame upscale + sharpen step they replace was the dearest one).

Each code comes back as a `QrCode`: `data`, the exact payload for the verifier (unchanged
for member codes, which are ASCII), and `text`, the code's true text for a person.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

from edge.camera import deblur, preprocess, scales, smear
from edge.camera.charset import display_text
from edge.camera.qr import QrCode, as_text, read_zbar, read_zbar_codes, to_gray

__all__ = [
    "BASELINE_STEPS", "BUDGET_MS", "DEFAULT_STEPS", "CascadeDecoder", "QrCode", "Step", "read_zbar",
    "read_zbar_codes", "read_zxing", "read_zxing_codes",
]  # fmt: skip

log = logging.getLogger(__name__)

# Past this many milliseconds spent on one frame, later steps are skipped: the next frame
# (67 ms later at 15 fps) is a fresh chance, and the door loop must not fall behind.
BUDGET_MS = 40.0

# A reader gives verifier texts (str) or, if it knows the code's charset, `QrCode` items.
Reader = Callable[[np.ndarray], Sequence[str | QrCode]]
Fix = Callable[[np.ndarray], np.ndarray | None]

_QR = zxingcpp.BarcodeFormat.QRCode
# Symbology identifier modifiers of a QR code with ECI in use (ISO/IEC 18004 annex F: ]Q2,
# ]Q4, ]Q6); zxing-cpp's HexECI text starts with the identifier in hex ("5D 51 32" = "]Q2").
_ECI_MODIFIERS = ("5D 51 32", "5D 51 34", "5D 51 36")


def _has_eci(image: np.ndarray, raw: bytes) -> bool:
    """Whether the code with payload `raw` in `image` names its charset with an ECI.

    zxing-cpp reports this only in its ECI text modes, so the image is read once more: only
    for codes whose bytes are neither ASCII nor UTF-8, never for a member code.
    """
    again = zxingcpp.read_barcodes(image, formats=_QR, text_mode=zxingcpp.TextMode.HexECI)
    return any(bytes(c.bytes) == raw and c.text.startswith(_ECI_MODIFIERS) for c in again)


def read_zxing_codes(gray: np.ndarray) -> list[QrCode]:
    """zxing-cpp, QR only: each code's bytes for the verifier and its text for a person."""
    codes = []
    for code in zxingcpp.read_barcodes(gray, formats=_QR, text_mode=zxingcpp.TextMode.Plain):
        if not code.valid:
            continue
        raw = bytes(code.bytes)
        data = as_text(raw)
        if raw.isascii() or data == code.text:  # member codes; UTF-8 text without a doubt
            text = data
        else:
            text = display_text(raw, code.text, has_eci=_has_eci(gray, raw))
        codes.append(QrCode(data, text))
    return codes


def read_zxing(gray: np.ndarray) -> list[str]:
    """zxing-cpp, QR only; bytes that are not UTF-8 come back with U+FFFD like pyzbar's."""
    return [code.data for code in read_zxing_codes(gray)]


def _same(gray: np.ndarray) -> np.ndarray:
    return gray


# Smoothing before the global threshold of `read_zxing_or_otsu`, px (Gaussian σ at the
# upscaled size): it evens out the deconvolution's ringing inside the modules.
OTSU_SMOOTH_PX = 1.0


def read_zxing_or_otsu(gray: np.ndarray) -> list[QrCode]:
    """zxing-cpp, then zxing-cpp on a smoothed, Otsu-binarised copy.

    For deconvolved regions: their ringing trips zxing-cpp's local binariser, while one
    threshold for the whole region (the code, the screen around it and the phone) does not.
    Of the 89 smeared tuning frames (`tune-motion` in benchmarks/decode_blur.py, 250 frames)
    the cascade missed without the smear step, the step read 17 with zxing-cpp alone, 35 with
    this pair.
    """
    codes = read_zxing_codes(gray)
    if codes:
        return codes
    soft = cv2.GaussianBlur(gray, (0, 0), OTSU_SMOOTH_PX)
    _, binary = cv2.threshold(soft, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return read_zxing_codes(binary)


@dataclass(frozen=True, slots=True)
class Step:
    """One attempt: an image fix (None skips the step for this frame) and a reader."""

    name: str
    fix: Fix
    read: Reader
    halves: bool = True  # also tried on the halved copies (`edge.camera.scales`)


def _deblur_strong(gray: np.ndarray) -> np.ndarray | None:
    return deblur.deblur_region(gray, DEBLUR_STRONG_SIGMA_PX)


def _deblur_mild(gray: np.ndarray) -> np.ndarray | None:
    return deblur.deblur_region(gray, DEBLUR_MILD_SIGMA_PX)


def _deblur_fine(gray: np.ndarray) -> np.ndarray | None:
    return deblur.deblur_region(gray, DEBLUR_STRONG_SIGMA_PX, deblur.FINE_UPSCALE)


# The focus blur each deblur step assumes, px (Gaussian σ). Of 129 tuning frames that some
# deblur setting read and plain zxing-cpp did not (blur σ 1.0–1.8 at 3–4 px a module, and
# `random_door` scenes), the strong step alone read 109, the mild one 15 more that the strong
# one over-sharpens into ringing. A third sigma (1.5 or 1.8 beside these two) read 1 more;
# 2.0 none. The last deblur try samples the strong one at 3× (`deblur.FINE_UPSCALE`).
DEBLUR_STRONG_SIGMA_PX = 1.65
DEBLUR_MILD_SIGMA_PX = 1.2

# The step after which the first level with every step looks at the code's blur
# (`scales.coarse`); the region found for that step is reused.
COARSE_CHECK_AFTER = "zxing_region_sharp"

DEFAULT_STEPS: tuple[Step, ...] = (
    Step("zxing", _same, read_zxing_codes),
    # full size only: a halved copy upscaled is the frame again, softer; on one frame of
    # `held-close-720p` it was the only misread of the halved levels (benchmarks/decode_blur.py)
    Step("zxing_up2", preprocess.upscale, read_zxing_codes, halves=False),
    Step("zxing_region_sharp", deblur.sharpen_region, read_zxing_codes),
    Step("zxing_unsmear", smear.unsmear_region, read_zxing_or_otsu),
    Step("zxing_deblur", _deblur_strong, read_zxing_codes),
    Step("zxing_deblur_mild", _deblur_mild, read_zxing_codes),
    Step("zxing_deblur_fine", _deblur_fine, read_zxing_codes),
    # full size only: on halved copies pyzbar read none of the stills and near codes the
    # halving is for (benchmarks/decode_blur.py) and was 3/4 of their cost on an empty doorway
    Step("pyzbar", _same, read_zbar_codes, halves=False),
)

# The cascade before the deblur steps (whole-frame upscale, then upscale + unsharp mask): not
# used at the door, kept as the same-run baseline of benchmarks/decode_blur.py and
# benchmarks/door_unlock.py.
BASELINE_STEPS: tuple[Step, ...] = (
    Step("zxing", _same, read_zxing, halves=False),
    Step("zxing_up2", preprocess.upscale, read_zxing, halves=False),
    Step("zxing_up2_sharp", preprocess.upscale_sharpen, read_zxing, halves=False),
    Step("pyzbar", _same, read_zbar, halves=False),
)


class CascadeDecoder:
    """Implements the `QrDecoder` port; `hits` counts which step read each code.

    `clock` (seconds) measures the budget: wall time at the door; benchmarks on a shared
    machine pass `time.process_time` so other processes' load does not cut steps short.
    """

    def __init__(
        self,
        steps: Sequence[Step] = DEFAULT_STEPS,
        budget_ms: float = BUDGET_MS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.steps = tuple(steps)
        self.budget_ms = budget_ms
        self.clock = clock
        self.hits: Counter[str] = Counter()
        self.last_step: str | None = None

    def decode(self, frame: object) -> list[str]:
        """Verifier texts of the QR codes in `frame`; [] for no code or a frame that is not an
        image. For ASCII codes (every member code) this is their text."""
        return list(dict.fromkeys(code.data for code in self.read(frame)))

    def read(self, frame: object) -> list[QrCode]:
        """The QR codes in `frame` with their exact data and their text for display."""
        self.last_step = None
        try:
            gray = to_gray(frame)
        except Exception:
            log.exception("cannot convert a frame to grayscale")
            return []
        if gray is None:
            return []
        start = self.clock()
        budget_ms = self.budget_ms * scales.budget_scale(gray)
        for factor, step, image in self._plan(gray):
            if (self.clock() - start) * 1000 > budget_ms:
                self.hits["over_budget"] += 1
                return []
            name = step.name if factor == 1 else f"{step.name}/{factor}"
            try:
                fixed = step.fix(image)
                found = step.read(fixed) if fixed is not None else []
            except Exception:  # a reader bug must cost one step, not the door loop
                self.hits[f"{step.name}_errors"] += 1
                log.exception("QR step %s failed", name)
                continue
            if found:
                self.hits[name] += 1
                self.last_step = name
                codes = (QrCode.of(item) for item in found)
                return list({code.data: code for code in codes}.values())  # one code twice
        return []

    def _plan(self, gray: np.ndarray) -> Iterator[tuple[int, Step, np.ndarray]]:
        """(factor, step, image) in the order tried: every step on the frame, then on each
        halved copy (`edge.camera.scales`). After `COARSE_CHECK_AFTER` on the first level that
        gets every step, a region blurred wider than the deblur steps model
        (`scales.coarse`) has the next level's steps tried before the rest of its own."""
        if not any(step.halves for step in self.steps):
            yield from ((1, step, gray) for step in self.steps)
            return
        checked = False
        deferred: list[tuple[int, Step, np.ndarray]] = []  # a coarse level's rest, for later
        for factor, image in scales.levels(gray):
            steps = self._steps_at(factor, image)
            cut = len(steps)
            for i, step in enumerate(steps):
                yield factor, step, image
                if not checked and step.name == COARSE_CHECK_AFTER:
                    checked = True
                    if scales.coarse(image):
                        cut = i + 1
                        break
            yield from deferred  # after the level below it
            deferred = [(factor, step, image) for step in steps[cut:]]
        yield from deferred

    def _steps_at(self, factor: int, image: np.ndarray) -> tuple[Step, ...]:
        """The steps a level gets: all on the frame itself (zxing-cpp alone if it is larger
        than a door camera's), those marked `halves` on a copy."""
        steps = self.steps if scales.full_steps(image) else self.steps[:1]
        return steps if factor == 1 else tuple(s for s in steps if s.halves)
