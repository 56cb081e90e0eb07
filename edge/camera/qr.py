"""QR decoding: frame → list of texts.

Behind the `QrDecoder` port so a zxing-cpp cascade or a motion-gated decoder can replace or
wrap `ZbarDecoder` without touching the agent. A decoder never raises: a frame it cannot use
gives `[]`, and bytes that are not UTF-8 come back as text with U+FFFD in it, which the
verifier turns into a `malformed` decision. Readers that know more give `QrCode` items: the
same verifier text plus the text a person should see (charset and ECI honoured).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
from pyzbar import pyzbar

log = logging.getLogger(__name__)

# Biggest frame worth decoding (pixels); a bigger one is a misconfigured camera, and decoding
# it would blow the door's 0.3 s budget.
MAX_PIXELS = 4096 * 4096


def to_gray(frame: object) -> np.ndarray | None:
    """A contiguous uint8 grayscale view of `frame`, or None if it is not an image."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3):
        return None
    h, w = frame.shape[:2]
    if h < 21 or w < 21 or h * w > MAX_PIXELS:  # 21 px: the smallest QR at one pixel a module
        return None
    channels = 1 if frame.ndim == 2 else frame.shape[2]
    if channels == 1:
        return np.ascontiguousarray(frame.reshape(h, w))
    if channels == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if channels == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    return None


def as_text(data: bytes) -> str:
    """Payload bytes as text; undecodable bytes become U+FFFD rather than an exception."""
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class QrCode:
    """One code read from a frame.

    `data` is the payload bytes as UTF-8 text (`as_text`): what the verifier gets, byte for
    byte, whatever the code's charset (member codes are ASCII, so it is also their text).
    `text` is what a person should see: the code's charset or ECI honoured (`edge scan`).
    """

    data: str
    text: str

    @classmethod
    def of(cls, item: str | QrCode) -> QrCode:
        """A reader's item as a `QrCode`; a plain string is both data and text."""
        return item if isinstance(item, QrCode) else cls(item, item)


def read_zbar_codes(gray: np.ndarray) -> list[QrCode]:
    """pyzbar (libzbar) on a grayscale frame, QR symbols only.

    zbar converts the payload to UTF-8 itself (guessing Shift-JIS or Big5 and ignoring ECI),
    so its bytes are already its display text; the raw bytes are not available through pyzbar.
    """
    symbols = pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol.QRCODE])
    return [QrCode(as_text(symbol.data), as_text(symbol.data)) for symbol in symbols]


def read_zbar(gray: np.ndarray) -> list[str]:
    """pyzbar (libzbar) on a grayscale frame, QR symbols only: the verifier texts."""
    return [code.data for code in read_zbar_codes(gray)]


class ZbarDecoder:
    """pyzbar alone, behind the `QrDecoder` port (the baseline the cascade is measured on)."""

    def decode(self, frame: object) -> list[str]:
        try:
            gray = to_gray(frame)
            texts = read_zbar(gray) if gray is not None else []
        except Exception:  # a decoder bug must cost one frame, not the door loop
            log.exception("QR decoding failed on a frame")
            return []
        return list(dict.fromkeys(texts))  # zbar may report one code twice


_DEFAULT = ZbarDecoder()


def decode(frame: object) -> list[str]:
    """Texts of the QR codes in `frame` with the default decoder."""
    return _DEFAULT.decode(frame)
