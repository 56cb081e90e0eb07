"""Footfall camera counter: accuracy on the simulated overhead scenes, and ms per frame.

Run: flock /tmp/ws-bench.lock .venv/bin/python -m benchmarks.footfall_counter
     [--seeds 5] [--events 24] [--speed-frames 600] [--speed-only]

Accuracy: every named scene (`firmware_sim.overhead`) with several seeds, 320×240 at 10 fps;
counted crossings are matched in time (±1.5 s) to the true ones per direction, so a miss and a
false count both cost: accuracy = 1 - (missed + extra) / truth, errors per 100 crossings =
100 (missed + extra) / truth. Speed: the process pinned to one core
(`os.sched_setaffinity(0, {0})`), frames rendered beforehand, best of 3 passes; baseline in
the same run: the bare MOG2 `apply` on the same frames (what any background-subtraction
counter pays) and a frame copy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from edge.footfall.camera import CameraCounter
from edge.footfall.crossing import Direction
from edge.footfall.geometry import CountingConfig
from firmware_sim.overhead import SCENES, Scene, Score, make_scene, score

TARGETS = {"singles": 0.97, "lights": 0.97, "faults": 0.97}  # others: 0.90


def count(scene: Scene) -> list[tuple[float, int, int]]:
    counter = CameraCounter(CountingConfig(line=scene.line, inside=scene.inside))
    out: list[tuple[float, int, int]] = []
    for t, frame in zip(scene.times(), scene.frames(), strict=True):
        for c in counter.process(frame, t):
            out.append((t, 1 if c.direction is Direction.IN else -1, c.count))
    return out


def accuracy(seeds: int, events: int) -> None:
    print(f"accuracy: {seeds} seeds x {events} arrivals per scene, 320×240 @ 10 fps")
    head = f"{'scene':<11} {'dir':<4} {'truth':>5} {'counted':>7} {'missed':>6} {'extra':>5}"
    print(f"{head} {'err/100':>7} {'accuracy':>8} {'target':>6}")
    for name in SCENES:
        total = {1: Score(0, 0, 0), -1: Score(0, 0, 0)}
        for seed in range(seeds):
            scene = make_scene(name, seed, events=events)
            for d, s in score(scene.crossings(), count(scene)).items():
                t = total[d]
                total[d] = Score(t.truth + s.truth, t.counted + s.counted, t.matched + s.matched)
        target = TARGETS.get(name, 0.90)
        for d, s in total.items():
            label = "in" if d > 0 else "out"
            ok = "ok" if s.accuracy >= target else "MISS"
            print(
                f"{name:<11} {label:<4} {s.truth:>5} {s.counted:>7} {s.missed:>6} {s.extra:>5} "
                f"{s.errors_per_100:>7.1f} {100 * s.accuracy:>7.1f}% {100 * target:>5.0f}% {ok}"
            )


def per_frame_ms(frames: list[np.ndarray], step: Callable[[int, np.ndarray], object]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i, frame in enumerate(frames):
            step(i, frame)
        best = min(best, time.perf_counter() - start)
    return 1000.0 * best / len(frames)


def speed(n: int) -> None:
    os.sched_setaffinity(0, {0})
    for size in ((320, 240), (640, 480)):
        scene = make_scene("mixed", 1, events=max(4, n // 25), size=size)
        frames = list(scene.frames())[:n]
        config = CountingConfig(line=scene.line, inside=scene.inside)

        def counter_run(frames: list[np.ndarray] = frames, config: CountingConfig = config):
            counter = CameraCounter(config)
            return lambda i, f: counter.process(f, i / 10.0)

        def mog_run(size: tuple[int, int] = size):
            mog = cv2.createBackgroundSubtractorMOG2(history=900, detectShadows=True)
            if size == (320, 240):
                return lambda i, f: mog.apply(f)
            return lambda i, f: mog.apply(cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA))

        copy_ms = per_frame_ms(frames, lambda i, f: f.copy())
        mog_ms = statistics.median(per_frame_ms(frames, mog_run()) for _ in range(3))
        full_ms = statistics.median(per_frame_ms(frames, counter_run()) for _ in range(3))
        w, h = size
        print(f"speed {w}×{h} ({len(frames)} frames, one core, best of 3, median of 3 runs):")
        print(f"  baseline frame copy             {copy_ms:7.3f} ms/frame")
        print(f"  baseline bare MOG2 apply @320   {mog_ms:7.3f} ms/frame")
        print(
            f"  CameraCounter.process           {full_ms:7.3f} ms/frame  "
            f"({full_ms / mog_ms:.2f}x MOG2; target ≤ 5 ms at 320×240)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--events", type=int, default=24)
    parser.add_argument("--speed-frames", type=int, default=600)
    parser.add_argument("--speed-only", action="store_true")
    args = parser.parse_args()
    speed(args.speed_frames)
    if not args.speed_only:
        accuracy(args.seeds, args.events)


if __name__ == "__main__":
    main()
