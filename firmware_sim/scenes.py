"""Synthetic door-camera frames: a phone held up showing a member QR, or an empty doorway.

The phone is drawn upright on its own canvas (dark body, bright screen, app header, the QR
with its quiet zone), then warped into the frame with a rotation and a slight perspective
tilt, and the camera's flaws are applied: exposure (`brightness`), focus (`blur`, Gaussian
sigma in pixels), the phone's own movement during the exposure (`motion_px`, a smear along a
vector) and sensor noise (`noise`, standard deviation in grey levels). Sizes are pixels of
the output frame; `size` is (width, height) like OpenCV. Backdrops are in
`firmware_sim.backdrops`; videos of a phone moving in front of the camera in
`firmware_sim.door_video`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import segno

from firmware_sim.backdrops import BACKDROPS
from firmware_sim.wallet import QUIET_ZONE, qr_matrix

DEFAULT_SIZE = (640, 480)
# A version-10 code (a WS1 presentation) is 57 modules + 8 of quiet zone = 65; at 260 px
# that is 4 px a module, about what a 640×480 door camera sees of a phone held 25 cm away.
DEFAULT_CODE_PX = 260


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng(0)


@lru_cache(maxsize=64)
def _modules(text: str) -> np.ndarray:
    """QR modules of `text`, cached: segno's mask search is most of a frame's cost, and a
    video shows one code in every frame."""
    modules = qr_matrix(text)
    modules.setflags(write=False)
    return modules


def _backdrop(
    backdrop: str | np.ndarray, size: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """A fresh float32 frame: the named backdrop drawn from `rng`, or a copy of one given."""
    if isinstance(backdrop, str):
        return BACKDROPS[backdrop](size, rng)
    return backdrop.astype(np.float32, copy=True)


def _segno_modules(qr: segno.QRCode) -> np.ndarray:
    rows = qr.matrix_iter(scale=1, border=QUIET_ZONE)
    return np.array([list(row) for row in rows], dtype=bool)


def _rounded_rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, r: int, color) -> None:
    cv2.rectangle(img, (x0 + r, y0), (x1 - r, y1), color, -1)
    cv2.rectangle(img, (x0, y0 + r), (x1, y1 - r), color, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(img, (cx, cy), r, color, -1, lineType=cv2.LINE_AA)


def _phone(
    modules: np.ndarray, module_px: int, screen_level: float
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The phone upright, BGR float32, with the code at `module_px` pixels a module, and the
    code's (left, top, side) on it in pixels."""
    n = modules.shape[0]
    code = n * module_px
    screen_w = int(code * 1.12)
    screen_h = int(screen_w * 1.9)
    bezel = max(4, int(screen_w * 0.05))
    w, h = screen_w + 2 * bezel, screen_h + 2 * bezel
    phone = np.zeros((h, w, 3), dtype=np.float32)
    _rounded_rect(phone, 0, 0, w - 1, h - 1, int(w * 0.09), (22, 22, 24))
    white = (screen_level * 0.97, screen_level, screen_level)  # screens run slightly warm
    _rounded_rect(phone, bezel, bezel, w - bezel - 1, h - bezel - 1, int(w * 0.05), white)
    # App header: the union's red bar and a few grey "text" lines above the code.
    header = int(screen_h * 0.12)
    cv2.rectangle(phone, (bezel, bezel + 6), (w - bezel - 1, bezel + header), (40, 40, 200), -1)
    top = bezel + (screen_h - code) // 2
    left = bezel + (screen_w - code) // 2
    for i in range(3):
        y = bezel + header + 12 + i * max(6, module_px * 3)
        if y + 4 < top:
            cv2.rectangle(phone, (left, y), (left + code * (3 - i) // 3, y + 4), (150,) * 3, -1)
    dark = np.array([30.0, 30.0, 30.0], dtype=np.float32)
    big = np.repeat(np.repeat(modules, module_px, axis=0), module_px, axis=1)
    region = phone[top : top + code, left : left + code]
    region[big] = dark
    return phone, (left, top, code)


def _composite(
    frame: np.ndarray, phone: np.ndarray, scale: float, angle_deg: float, tilt: float,
    center: tuple[float, float], motion_px: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:  # fmt: skip
    """Warp `phone` into `frame` in place: scaled, rotated about its centre, tilted, smeared
    along `motion_px` (its travel during the exposure). Returns the 3×3 warp matrix."""
    h, w = phone.shape[:2]
    hw, hh = w / 2, h / 2
    # Perspective tilt: one vertical edge shorter than the other (phone turned a little).
    corners = np.array(
        [[-hw, -hh * (1 - tilt)], [hw, -hh * (1 + tilt)], [hw, hh * (1 + tilt)],
         [-hw, hh * (1 - tilt)]],
        dtype=np.float32,
    )  # fmt: skip
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=np.float32)
    dst = (corners * scale) @ rot.T + np.array(center, dtype=np.float32)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    size = (frame.shape[1], frame.shape[0])
    warped = cv2.warpPerspective(phone, matrix, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(
        np.ones((h, w), dtype=np.float32), matrix, size, flags=cv2.INTER_LINEAR
    )
    if math.hypot(*motion_px) >= 0.5:
        kernel = _motion_kernel(motion_px)
        warped = cv2.filter2D(warped, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        mask = cv2.filter2D(mask, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    frame *= 1.0 - mask[:, :, None]
    frame += warped * mask[:, :, None]
    return matrix


def _motion_kernel(motion_px: tuple[float, float]) -> np.ndarray:
    """A normalised line of the length and direction of `motion_px` (linear motion blur)."""
    dx, dy = motion_px
    r = math.ceil(max(abs(dx), abs(dy)) / 2) + 1
    kernel = np.zeros((2 * r + 1, 2 * r + 1), dtype=np.float32)
    a = (round((r - dx / 2) * 16), round((r - dy / 2) * 16))  # 4 fractional bits
    b = (round((r + dx / 2) * 16), round((r + dy / 2) * 16))
    cv2.line(kernel, a, b, 1.0, 1, lineType=cv2.LINE_AA, shift=4)
    return kernel / kernel.sum()


def _glare(frame: np.ndarray, strength: float, center: tuple[float, float], radius: float) -> None:
    """A lamp's reflection on the screen: a soft bright blob that washes out modules."""
    h, w = frame.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = ((xx - center[0]) ** 2 + (yy - center[1]) ** 2) / max(1.0, radius) ** 2
    frame += (strength * 255.0 * np.exp(-d2))[:, :, None]


def _camera(
    frame: np.ndarray, brightness: float, blur: float, noise: float, rng: np.random.Generator
) -> np.ndarray:
    frame *= brightness
    if blur > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), sigmaX=blur)
    if noise > 0:
        frame += rng.normal(0.0, noise, frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through JPEG at `quality` (1–100), as an IP camera's stream does."""
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 BGR frame
        return frame
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


@dataclass(frozen=True, slots=True)
class PhoneShot:
    """A rendered frame and where the code (quiet zone included) is in it: `code_quad` holds
    its four corners in frame pixels, clockwise from the code's own top-left."""

    frame: np.ndarray
    code_quad: np.ndarray

    def code_in_view(self) -> bool:
        """Whether the whole code, quiet zone included, is inside the frame."""
        h, w = self.frame.shape[:2]
        xs, ys = self.code_quad[:, 0], self.code_quad[:, 1]
        return bool(xs.min() >= 0 and ys.min() >= 0 and xs.max() <= w and ys.max() <= h)


def render_phone_qr(text: str | segno.QRCode, **params: Any) -> np.ndarray:
    """A BGR uint8 frame of a phone showing `text` as a QR; parameters of `render_phone_shot`."""
    return render_phone_shot(text, **params).frame


def render_phone_shot(
    text: str | segno.QRCode,
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    code_px: int = DEFAULT_CODE_PX,
    angle_deg: float = 0.0,
    tilt: float = 0.0,
    brightness: float = 1.0,
    screen_level: float = 235.0,
    blur: float = 0.0,
    noise: float = 2.0,
    glare: float = 0.0,
    jpeg_quality: int | None = None,
    invert: bool = False,
    center: tuple[float, float] | None = None,
    motion_px: tuple[float, float] = (0.0, 0.0),
    glare_at: tuple[float, float] | None = None,
    backdrop: str | np.ndarray = "doorway",
    rng: np.random.Generator | None = None,
) -> PhoneShot:
    """A phone showing `text` as a QR (error level M, quiet zone) in a BGR uint8 frame.

    `text` may instead be a code segno made (another charset, an ECI): it is drawn as it is.
    `code_px` is the code's width in the frame including the quiet zone; `tilt` (0–0.3) is
    the perspective foreshortening; `glare` (0–1) adds a reflection of that strength over the
    code; `jpeg_quality` round-trips the frame through JPEG; `invert` draws light modules on
    a dark screen (an app in dark mode); `center` places the phone's centre (else `rng` does,
    keeping the code inside the frame); `motion_px` smears the phone along that vector (its
    travel during the exposure); `glare_at` puts the glare's centre at that offset from the
    phone's centre, in code widths (else `rng` does); `backdrop` names a
    `firmware_sim.backdrops` scene or is one already drawn (float32 BGR, as in a video where
    the scene stays put); `rng` draws the backdrop, placement, glare spot and noise.
    """
    rng = _rng(rng)
    w, h = size
    frame = _backdrop(backdrop, size, rng)
    modules = _modules(text) if isinstance(text, str) else _segno_modules(text)
    n = modules.shape[0]
    module_px = max(2, math.ceil(code_px / n))  # draw at >= the final size, then shrink
    phone, (left, top, side) = _phone(modules, module_px, screen_level)
    if invert:
        phone = _invert_screen(phone)
    scale = code_px / (n * module_px)
    if center is None:
        # Keep the code itself inside the frame: jitter the centre by what is left around it.
        reach = code_px * 0.75
        cx = w / 2 + rng.uniform(-1, 1) * max(0.0, w / 2 - reach)
        cy = h / 2 + rng.uniform(-1, 1) * max(0.0, h / 2 - reach)
    else:
        cx, cy = center
    matrix = _composite(frame, phone, scale, angle_deg, tilt, (cx, cy), motion_px)
    if glare > 0:
        if glare_at is None:
            spot = (cx + rng.uniform(-0.3, 0.3) * code_px, cy + rng.uniform(-0.3, 0.3) * code_px)
            radius = code_px * rng.uniform(0.15, 0.3)
        else:
            spot, radius = (cx + glare_at[0] * code_px, cy + glare_at[1] * code_px), code_px * 0.22
        _glare(frame, glare, spot, radius)
    out = _camera(frame, brightness, blur, noise, rng)
    if jpeg_quality is not None:
        out = jpeg_roundtrip(out, jpeg_quality)
    corners = np.array(
        [[left, top], [left + side, top], [left + side, top + side], [left, top + side]],
        dtype=np.float32,
    )
    quad = cv2.perspectiveTransform(corners[None], matrix)[0]
    return PhoneShot(out, quad)


def _invert_screen(phone: np.ndarray) -> np.ndarray:
    """Dark mode: the bright screen area becomes dark and the dark modules light."""
    screen = phone.mean(axis=2) > 25  # everything but the black body
    out = phone.copy()
    out[screen] = 255.0 - phone[screen]
    return out


def render_empty(
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    brightness: float = 1.0,
    noise: float = 2.0,
    blur: float = 0.0,
    jpeg_quality: int | None = None,
    backdrop: str | np.ndarray = "doorway",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The doorway with nobody in it (BGR uint8), through the same camera as a phone shot."""
    rng = _rng(rng)
    out = _camera(_backdrop(backdrop, size, rng), brightness, blur, noise, rng)
    return jpeg_roundtrip(out, jpeg_quality) if jpeg_quality is not None else out


def random_moderate(rng: np.random.Generator) -> dict[str, Any]:
    """Scene parameters a door camera meets every day: a hand-held phone, mixed light."""
    return {
        "angle_deg": float(rng.uniform(-25, 25)),
        "tilt": float(rng.uniform(0, 0.06)),
        "brightness": float(rng.uniform(0.6, 1.1)),
        "blur": float(rng.uniform(0, 0.9)),
        "noise": float(rng.uniform(1, 6)),
        "code_px": int(rng.integers(230, 300)),
    }


def modules_of(text: str) -> int:
    """Modules across the QR for `text` including the 4-module quiet zone on each side."""
    return int(_modules(text).shape[0])


def random_door(rng: np.random.Generator, code_px: tuple[int, int] = (80, 250)) -> dict[str, Any]:
    """A hard door-camera day: any distance, night, blur, glare, noise, a JPEG stream.

    The mix is deliberately harsher than `random_moderate`: it is what the decoder cascade is
    tuned and benchmarked on. `code_px` bounds the code's width in a 640×480 frame.
    """
    return {
        "angle_deg": float(rng.uniform(-40, 40)),
        "tilt": float(rng.uniform(0, 0.15)),
        "brightness": float(rng.choice([rng.uniform(0.25, 0.5), rng.uniform(0.5, 1.15)])),
        "blur": float(rng.uniform(0, 1.2)),
        "noise": float(rng.uniform(1, 10)),
        "glare": float(rng.choice([0.0, 0.0, rng.uniform(0.2, 0.7)])),
        "jpeg_quality": int(rng.choice([rng.integers(35, 60), rng.integers(60, 95)])),
        "invert": bool(rng.random() < 0.05),
        "code_px": int(rng.integers(code_px[0], code_px[1] + 1)),
    }
