"""Decode rate and time per frame on synthetic door-camera frames, by pixels per module.

Run: flock /tmp/ws-bench.lock taskset -c 0 .venv/bin/python benchmarks/decode_door.py
     [--frames 600] [--seed 1]

Frames come from `firmware_sim.scenes.random_door`: a phone showing a member code (half WS1
presentations, ~290 characters / 65 modules with quiet zone; half WS2 tokens, ~120
characters / 45 modules) at 80–250 px in a 640×480 frame, rotated ±40°, tilted, dim or
bright, blurred, noisy, sometimes with glare or in dark mode, and JPEG-compressed like an IP
camera stream. Every reader runs on the same grayscale frames in the same run: pyzbar alone
(the baseline, the design card's reader), zxing-cpp alone, OpenCV's QRCodeDetector alone,
and the door's cascade (edge/camera/cascade.py). A read counts only if the text is exactly
the one shown; any other text is a misread.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import cv2
import numpy as np

from edge.camera.cascade import CascadeDecoder, read_zbar, read_zxing
from edge.camera.qr import to_gray
from firmware_sim.scenes import modules_of, random_door, render_phone_qr
from firmware_sim.union import SimUnion
from protocol.credential import issue_token

T0 = 1_772_366_400
BINS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)  # pixels per module, lower edges


def read_opencv_factory() -> Callable[[np.ndarray], list[str]]:
    detector = cv2.QRCodeDetector()

    def read(gray: np.ndarray) -> list[str]:
        text, _, _ = detector.detectAndDecode(gray)
        return [text] if text else []

    return read


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bin_of(ppm: float) -> float:
    return max(b for b in (0.0, *BINS) if ppm >= b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    union = SimUnion.create(3)
    wallets = [union.enroll(f"m{i}") for i in range(16)]
    rng = np.random.default_rng(args.seed)
    frames: list[tuple[str, np.ndarray, float]] = []
    for i in range(args.frames):
        wallet = wallets[i % 16]
        if i % 2 == 0:
            text = wallet.present(T0 + i)
        else:
            text = issue_token(
                union.issuer, kid=union.kid, serial=wallet.cert.serial, window_start_min=T0 // 60
            )
        params = random_door(rng)
        frame = render_phone_qr(text, rng=rng, **params)
        gray = to_gray(frame)
        assert gray is not None
        frames.append((text, gray, params["code_px"] / modules_of(text)))

    cascade = CascadeDecoder()
    readers: dict[str, Callable[[np.ndarray], list[str]]] = {
        "pyzbar (baseline)": read_zbar,
        "zxing-cpp": read_zxing,
        "opencv": read_opencv_factory(),
        "cascade (door)": cascade.decode,
    }
    print(f"frames: {len(frames)} synthetic door scenes, 640×480, seed {args.seed}")
    header = f"{'reader':<18} {'read':>9} {'misread':>7} {'p50 ms':>7} {'p95 ms':>7}"
    per_bin_hdr = "  ".join(f"≥{b:g}px" for b in (0.0, *BINS))
    print(f"{header}   by px/module: {per_bin_hdr}")
    for name, read in readers.items():
        ok = wrong = 0
        ms: list[float] = []
        by_bin: dict[float, list[int]] = defaultdict(lambda: [0, 0])
        for text, gray, ppm in frames:
            start = time.perf_counter()
            got = read(gray)
            ms.append((time.perf_counter() - start) * 1000)
            hit = text in got
            ok += hit
            wrong += bool(got) and not hit
            cell = by_bin[bin_of(ppm)]
            cell[0] += 1
            cell[1] += hit
        bins = "  ".join(
            f"{by_bin[b][1]:>3}/{by_bin[b][0]:<3}" if by_bin[b][0] else "   -   "
            for b in (0.0, *BINS)
        )
        rate = f"{ok}/{len(frames)}"
        print(
            f"{name:<18} {rate:>9} {wrong:>7} {statistics.median(ms):7.2f} "
            f"{pct(ms, 0.95):7.2f}   {bins}"
        )
    print("cascade steps that read:", dict(cascade.hits))
    at3 = [(t, g) for t, g, ppm in frames if ppm >= 3.0]
    fresh = CascadeDecoder()
    got3 = sum(t in fresh.decode(g) for t, g in at3)
    print(f"cascade at ≥ 3 px/module: {got3}/{len(at3)} = {100 * got3 / max(1, len(at3)):.1f} %")


if __name__ == "__main__":
    main()
