"""How big a QR code looks to the camera: pixels per module, the reading distance's measure.

The door reads a code reliably from about 3 pixels a module and hardly below 2
(docs/installer.md); the installer moves the camera or the mark on the floor until a phone
held where members stand gives that. zxing-cpp locates a code and reports its version even
when it cannot decode it (`return_errors`), so a code too far or too blurred still gets a
size: exactly the case the installer needs the number for. Decoding stays the cascade's
(`edge.camera.cascade`); this only measures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import zxingcpp

_QR = zxingcpp.BarcodeFormat.QRCode


@dataclass(frozen=True, slots=True)
class CodeSize:
    """One QR code located in a frame."""

    modules: int  # modules across the symbol, without the quiet zone (17 + 4 × version)
    px_per_module: float  # the symbol's mean side in pixels / modules
    valid: bool  # zxing-cpp decoded it in this plain pass (the cascade may read more)


def _side_px(position: object) -> float:
    """Mean length of the four sides of zxing-cpp's corner quadrilateral, pixels."""
    corners = [
        (float(p.x), float(p.y))
        for p in (
            position.top_left,  # type: ignore[attr-defined]
            position.top_right,  # type: ignore[attr-defined]
            position.bottom_right,  # type: ignore[attr-defined]
            position.bottom_left,  # type: ignore[attr-defined]
        )
    ]
    sides = [math.dist(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    return sum(sides) / 4


def _modules(code: object) -> int | None:
    """17 + 4 × version for a QR code of known version (Micro QR's 'M1'… are not ours)."""
    extra = getattr(code, "extra", None)  # zxing-cpp ≥ 2.3 reports the version there
    version = extra.get("Version") if isinstance(extra, dict) else None
    if not isinstance(version, str) or not version.isdigit() or not 1 <= int(version) <= 40:
        return None
    return 17 + 4 * int(version)


def code_sizes(gray: np.ndarray) -> list[CodeSize]:
    """Every QR code zxing-cpp locates in a grayscale frame, decodable or not."""
    found = []
    for code in zxingcpp.read_barcodes(gray, formats=_QR, return_errors=True):
        modules = _modules(code)
        if modules is None:
            continue
        px = _side_px(code.position)
        if px > 0:
            found.append(CodeSize(modules, round(px / modules, 2), bool(code.valid)))
    return found
