"""Per-frame read rate at ≥ 3 px a module under blur, tilt, noise, glare and JPEG: tuning sets,
fresh seeds and generator settings never used while tuning, against today's cascade.

Run: taskset -c 0 .venv/bin/python benchmarks/decode_blur.py [--frames 200] [--sets all]
     [--clock cpu|wall] [--budget-ms 40]

The door cascade's deblur steps (edge/camera/deblur.py) and their order were tuned on the
`tune-blur` set only, its smear step (edge/camera/smear.py) on `tune-motion` only, the
whole-frame upscale's width limit (edge/camera/preprocess.py) on `tune-far-720p` only.
`fresh-*` are the same generator settings with seeds never used while tuning; `held-*` are
settings never used while tuning at all: version 11–13 codes, ≤ 1.6 px blur with tilt to
0.23 (the issue's description of the independent test; `-near3` keeps to 3.0–3.4 px a module
with more noise and harder JPEG), a sunlit backdrop, a backdrop full of notices, tiles and
stripes, motion smear instead of focus blur (`held-motion`, and `held-motion-wide`: longer
smears on a cluttered 1280×720 view), and a 1280×720 camera (`held-far-720p`: far phones,
1.8–3.2 px a module, on it). Stills and codes too near the lens are blurred by a fraction of
a module, many px: `tune-still` (12 MP photos) chose the halved levels (edge/camera/scales.py)
and `tune-close` (a phone too near a 640×480 camera) when a coarse blur reads the halved copy
first (`scales.COARSE_SIGMA_PX`); `fresh-still` is the first's fresh seed; `held-still` (5 MP,
portrait, versions 2–12, to 40 px a module, sunlit), `held-still-2mp` (1600×1200),
`held-close` / `held-close-720p` (a phone too near a door camera) and `held-closeup` (a code
filling the frame) were never tuned on. Every reader runs on the same frames in the same
run: the cascade as it was before the deblur steps (the baseline), zxing-cpp alone, and the
door's cascade now. A read counts only if the text is exactly the one shown; any other text
is a misread. The last lines time what must not get dearer: an everyday frame (read by the
first step) and an empty doorway (every step), the cascades interleaved on the
same frames ("door, full size only": today's steps without the halved copies).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import segno

from edge.camera.cascade import BASELINE_STEPS, DEFAULT_STEPS, CascadeDecoder, read_zxing
from edge.camera.qr import to_gray
from firmware_sim.scenes import modules_of, random_moderate, render_empty, render_phone_qr

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"  # QR alphanumeric mode, like base45


def _version_of(length: int) -> int:
    return int(segno.make_qr("A" * length, error="m", boost_error=False).version)


@cache
def lengths_of_version(version: int) -> tuple[int, int]:
    """Shortest and longest alphanumeric text that encodes as `version` at error level M."""
    bounds = []
    for target in (version, version + 1):
        lo, hi = 1, 2000
        while lo < hi:  # shortest length needing at least `target`
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if _version_of(mid) < target else (lo, mid)
        bounds.append(lo)
    return bounds[0], bounds[1] - 1


def text_of_version(version: int, rng: np.random.Generator) -> str:
    """A `WS1:`-like alphanumeric text that encodes as exactly `version` at error level M."""
    first, last = lengths_of_version(version)
    length = int(rng.integers(max(first, 5), last + 1))
    return "WS1:" + "".join(ALNUM[int(i)] for i in rng.integers(0, 45, length - 4))


@dataclass(frozen=True)
class FrameSet:
    """One generator setting: code versions, scene parameter ranges, px a module, backdrop."""

    name: str
    seed: int
    versions: tuple[int, ...]
    blur: tuple[float, float]
    tilt: float
    noise: tuple[float, float]
    jpeg: tuple[int, int]
    ppm: tuple[float, float]
    backdrop: str = "doorway"
    motion_px: tuple[float, float] = (0.0, 0.0)
    size: tuple[int, int] = (640, 480)
    bright: tuple[float, float] = (0.3, 1.15)
    # focus blur in module widths instead of px (`blur` then unused): a still photograph or a
    # code near the lens, blurred by as many modules as a door frame but many more px
    blur_modules: tuple[float, float] | None = None
    fill: float = 0.6  # stills: the code's largest share of the frame's short side
    turn_deg: float = 40.0  # the phone is turned up to this much either way

    def params(self, rng: np.random.Generator, modules: int) -> dict[str, Any]:
        lo, hi = self.bright
        night = rng.random() < 0.5 and lo < 0.5
        travel = rng.uniform(*self.motion_px)
        heading = rng.uniform(0, 2 * np.pi)
        # stills: the code kept to `fill` of the frame's short side (60 %: turned by 40° it
        # still fits), the blur drawn in module widths; the door-frame sets draw in their old
        # order and range, so their frames stay the same
        ppm = blur = 0.0
        if self.blur_modules is not None:
            ppm = min(float(rng.uniform(*self.ppm)), self.fill * min(self.size) / modules)
            blur = float(rng.uniform(*self.blur_modules)) * ppm
        return {
            "angle_deg": float(rng.uniform(-self.turn_deg, self.turn_deg)),
            "tilt": float(rng.uniform(0, self.tilt)),
            "brightness": float(rng.uniform(lo, 0.5) if night else rng.uniform(max(lo, 0.5), hi)),
            "blur": blur or float(rng.uniform(*self.blur)),
            "noise": float(rng.uniform(*self.noise)),
            "glare": float(rng.choice([0.0, 0.0, rng.uniform(0.2, 0.6)])),
            "jpeg_quality": int(rng.integers(self.jpeg[0], self.jpeg[1] + 1)),
            "code_px": round((ppm or float(rng.uniform(*self.ppm))) * modules),
            "motion_px": (float(travel * np.cos(heading)), float(travel * np.sin(heading))),
            "backdrop": self.backdrop,
            "size": self.size,
        }


TUNE_MOTION = {"versions": (6, 8), "blur": (0.3, 1.0), "tilt": 0.2, "noise": (2.0, 9.0),
               "jpeg": (44, 90), "ppm": (3.0, 4.0), "motion_px": (1.5, 7.0)}  # fmt: skip
TUNE = {"versions": (6, 8, 10), "blur": (1.0, 1.8), "tilt": 0.25, "noise": (2.0, 9.0),
        "jpeg": (44, 90), "ppm": (3.0, 4.0)}  # fmt: skip
SETS = [
    FrameSet("tune-blur", 12, **TUNE),  # the frames the deblur steps were tuned on
    FrameSet("fresh-blur", 1012, **TUNE),
    FrameSet("held-v11", 2001, versions=(11,), blur=(1.0, 1.6), tilt=0.23, noise=(2.0, 9.0),
             jpeg=(44, 89), ppm=(3.0, 5.0)),
    FrameSet("held-v11-near3", 2006, versions=(11,), blur=(1.0, 1.6), tilt=0.23,
             noise=(4.0, 9.0), jpeg=(44, 70), ppm=(3.0, 3.4)),
    FrameSet("held-v13-day", 2002, versions=(12, 13), blur=(0.8, 1.6), tilt=0.3,
             noise=(1.0, 6.0), jpeg=(60, 95), ppm=(3.0, 4.5), backdrop="day", bright=(0.7, 1.2)),
    FrameSet("held-clutter", 2003, versions=(7, 9), blur=(1.0, 1.6), tilt=0.2, noise=(2.0, 9.0),
             jpeg=(44, 89), ppm=(3.0, 4.0), backdrop="clutter"),
    FrameSet("held-motion", 2004, versions=(5, 10), blur=(0.4, 1.0), tilt=0.15,
             noise=(2.0, 8.0), jpeg=(50, 90), ppm=(3.0, 4.5), motion_px=(2.0, 6.0)),
    FrameSet("tune-motion", 14, **TUNE_MOTION),  # the frames the smear step was tuned on
    FrameSet("fresh-motion", 1014, **TUNE_MOTION),
    FrameSet("held-motion-wide", 2007, versions=(7, 11), blur=(0.3, 0.9), tilt=0.25,
             noise=(2.0, 9.0), jpeg=(44, 85), ppm=(3.2, 5.0), motion_px=(3.0, 8.0),
             backdrop="clutter", size=(1280, 720)),
    # Far phones (under 3 px a module) on a 1280×720 camera: where the whole-frame upscale
    # step would help if anywhere. `tune-far-720p` decided that 1280-wide frames skip it.
    FrameSet("tune-far-720p", 41, versions=(6, 10), blur=(0.4, 1.3), tilt=0.2, noise=(2.0, 8.0),
             jpeg=(50, 90), ppm=(1.6, 3.0), size=(1280, 720)),
    FrameSet("held-far-720p", 2008, versions=(8, 11), blur=(0.6, 1.5), tilt=0.25,
             noise=(2.0, 9.0), jpeg=(44, 85), ppm=(1.8, 3.2), size=(1280, 720),
             backdrop="clutter"),
    FrameSet("held-720p", 2005, versions=(10, 11), blur=(1.0, 1.6), tilt=0.2, noise=(2.0, 9.0),
             jpeg=(44, 89), ppm=(3.0, 4.0), size=(1280, 720)),
    # Stills (a phone's 12 MP photo of a code) and codes held too near a door camera: focus
    # blur of a fraction of a module, many px. `tune-still` chose the halved levels
    # (edge/camera/scales.py), `tune-close` their order; the others were run once, after.
    FrameSet("tune-still", 15, versions=(4, 6, 8), blur=(0.0, 0.0), blur_modules=(0.25, 0.65),
             tilt=0.3, noise=(2.0, 8.0), jpeg=(60, 95), ppm=(4.0, 20.0), size=(4032, 3024),
             backdrop="clutter"),
    FrameSet("fresh-still", 1015, versions=(4, 6, 8), blur=(0.0, 0.0),
             blur_modules=(0.25, 0.65), tilt=0.3, noise=(2.0, 8.0), jpeg=(60, 95),
             ppm=(4.0, 20.0), size=(4032, 3024), backdrop="clutter"),
    FrameSet("held-still", 2009, versions=(2, 10, 12), blur=(0.0, 0.0),
             blur_modules=(0.2, 0.55), tilt=0.35, noise=(1.0, 10.0), jpeg=(50, 92),
             ppm=(6.0, 40.0), size=(1944, 2592), backdrop="day", bright=(0.6, 1.2)),
    FrameSet("held-still-2mp", 2012, versions=(3, 7, 10), blur=(0.0, 0.0),
             blur_modules=(0.3, 0.6), tilt=0.3, noise=(2.0, 9.0), jpeg=(50, 92), ppm=(5.0, 14.0),
             size=(1600, 1200)),
    # a close-up: the code fills most of a 640×480 frame (a photo of a code, a phone against
    # a wide-angle lens), barely turned
    FrameSet("held-closeup", 2013, versions=(8, 10), blur=(0.0, 0.0), blur_modules=(0.45, 0.65),
             tilt=0.08, noise=(2.0, 8.0), jpeg=(50, 90), ppm=(6.4, 7.2), fill=0.98,
             turn_deg=4.0),
    FrameSet("tune-close", 16, versions=(6, 8), blur=(0.0, 0.0), blur_modules=(0.3, 0.6),
             tilt=0.2, noise=(2.0, 9.0), jpeg=(44, 90), ppm=(4.0, 7.0)),
    FrameSet("held-close-720p", 2010, versions=(6, 11), blur=(0.0, 0.0),
             blur_modules=(0.25, 0.55), tilt=0.2, noise=(2.0, 9.0), jpeg=(44, 85),
             ppm=(6.0, 10.0), size=(1280, 720), backdrop="clutter"),
    FrameSet("held-close", 2011, versions=(4, 6), blur=(0.0, 0.0), blur_modules=(0.3, 0.55),
             tilt=0.2, noise=(2.0, 9.0), jpeg=(44, 89), ppm=(4.5, 7.0)),
]  # fmt: skip


def make_frames(spec: FrameSet, n: int) -> list[tuple[str, np.ndarray, float]]:
    """(text, grayscale frame, focus blur σ) for `n` frames of `spec`."""
    rng = np.random.default_rng(spec.seed)
    pool = {v: [text_of_version(v, rng) for _ in range(6)] for v in spec.versions}
    out = []
    for i in range(n):
        text = pool[spec.versions[i % len(spec.versions)]][int(rng.integers(0, 6))]
        params = spec.params(rng, modules_of(text))
        gray = to_gray(render_phone_qr(text, rng=rng, **params))
        assert gray is not None
        blur = params["blur"]
        if spec.blur_modules is not None:  # binned in module widths
            blur /= params["code_px"] / modules_of(text)
        out.append((text, gray, blur))
    return out


BLUR_BINS = ((0.0, 1.0), (1.0, 1.3), (1.3, 1.6), (1.6, 9.9))  # focus blur σ, px
MODULE_BINS = ((0.0, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 9.9))  # ... in module widths


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_set(spec: FrameSet, n: int, budget_ms: float, clock: Callable[[], float]) -> None:
    frames = make_frames(spec, n)
    baseline = CascadeDecoder(BASELINE_STEPS, budget_ms=budget_ms, clock=clock)
    door = CascadeDecoder(budget_ms=budget_ms, clock=clock)
    readers: dict[str, Callable[[np.ndarray], list[str]]] = {
        "baseline cascade": baseline.decode,
        "zxing-cpp alone": read_zxing,
        "door cascade": door.decode,
    }
    results = {name: [0, 0, []] for name in readers}
    bins, unit = (BLUR_BINS, "") if spec.blur_modules is None else (MODULE_BINS, " modules")
    by_blur = {name: {b: [0, 0] for b in bins} for name in readers}
    for text, gray, blur in frames:  # readers interleaved frame by frame: same load
        for name, read in readers.items():
            start = clock()
            got = read(gray)
            cell = results[name]
            cell[2].append((clock() - start) * 1000)
            cell[0] += text in got
            cell[1] += bool(got) and text not in got
            tally = next(by_blur[name][b] for b in bins if b[0] <= blur < b[1])
            tally[0] += 1
            tally[1] += text in got
    blur_range = spec.blur if spec.blur_modules is None else spec.blur_modules
    print(f"{spec.name} (seed {spec.seed}, {n} frames {spec.size[0]}×{spec.size[1]}, "
          f"versions {spec.versions}, blur σ {blur_range}{unit}, tilt ≤ {spec.tilt}, "
          f"{spec.ppm} px/module, {spec.backdrop})")  # fmt: skip
    for name, (ok, wrong, ms) in results.items():
        bins = "  ".join(
            f"σ{lo:g}–{hi:g}: {got}/{total}" if hi < 9 else f"σ≥{lo:g}: {got}/{total}"
            for (lo, hi), (total, got) in by_blur[name].items() if total
        )  # fmt: skip
        print(f"  {name:<17} {ok:>4}/{n} = {100 * ok / n:5.1f} %  misread {wrong}  "
              f"p50 {statistics.median(ms):6.2f} ms  p95 {pct(ms, 0.95):6.2f} ms  "
              f"by blur {bins}")  # fmt: skip
    print(f"  door steps that read: {dict(door.hits)}")


def run_costs(n: int, budget_ms: float, clock: Callable[[], float]) -> None:
    """Everyday frames (read at the first step) and empty doorways, both cascades."""
    rng = np.random.default_rng(7)
    easy = [render_phone_qr(f"WS1:{i:0>280}", rng=rng, **random_moderate(rng)) for i in range(n)]
    empty = [
        render_empty(rng=rng, noise=float(rng.uniform(1, 8)),
                     brightness=float(rng.uniform(0.3, 1.1)), jpeg_quality=80)
        for _ in range(n)
    ]  # fmt: skip
    full_size_only = tuple(replace(step, halves=False) for step in DEFAULT_STEPS)
    decoders = {
        "baseline cascade": CascadeDecoder(BASELINE_STEPS, budget_ms=budget_ms, clock=clock),
        "door, full size only": CascadeDecoder(full_size_only, budget_ms=budget_ms, clock=clock),
        "door cascade": CascadeDecoder(budget_ms=budget_ms, clock=clock),
    }
    for label, frames in (("everyday frame", easy), ("empty doorway", empty)):
        times: dict[str, list[float]] = {name: [] for name in decoders}
        for frame in frames:
            for name, decoder in decoders.items():
                start = clock()
                decoder.decode(frame)
                times[name].append((clock() - start) * 1000)
        for name, ms in times.items():
            print(f"  {label:<15} {name:<20} p50 {statistics.median(ms):6.2f} ms  "
                  f"p95 {pct(ms, 0.95):6.2f} ms")  # fmt: skip
    hits: Counter[str] = decoders["door cascade"].hits
    print(f"  door steps on those frames: {dict(hits)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames per set")
    parser.add_argument("--sets", default="all", help="comma-separated names or prefixes")
    parser.add_argument("--budget-ms", type=float, default=None, help="cascade budget, ms")
    parser.add_argument("--costs", type=int, default=100, help="frames per cost line; 0: none")
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), default="cpu",
        help="cpu: this process's CPU time (pin it to one core), immune to other load; wall",
    )  # fmt: skip
    args = parser.parse_args()
    from edge.camera.cascade import BUDGET_MS

    budget = args.budget_ms if args.budget_ms is not None else BUDGET_MS
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    wanted = args.sets.split(",")
    for spec in SETS:
        if args.sets == "all" or any(spec.name.startswith(w) for w in wanted):
            run_set(spec, args.frames, budget, clock)
    if args.costs:
        print(f"cost per frame, {args.costs} frames each, 640×480:")
        run_costs(args.costs, budget, clock)


if __name__ == "__main__":
    main()
