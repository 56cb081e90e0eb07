"""Per-frame cost of the camera stats hook (fps and decode latency for telemetry) in the door loop.

Run: flock /tmp/ws-bench.lock taskset -c 0 .venv/bin/python benchmarks/camera_stats.py
     [--calls 1000000] [--frames 3000]

Two figures, each against a baseline measured in the same run:

1. The hook alone, ns per frame: `CameraStats.frame()` for every frame read, and for a frame
   that goes to the decoder also the two `perf_counter()` calls, the clock's `monotonic()` and
   `CameraStats.decoded()`. Baseline: an empty method call, what any hook costs at least.
2. The real `Agent.on_frame` (camera health, motion gate, cascade decoder when the gate says
   so) on an empty doorway with sensor noise at 15 fps of simulated time (so the gate's idle
   decode falls on the same frames in every round), with the hook and with a no-op stats
   object, interleaved rounds, median µs per frame: the hook's share of the door loop's work.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

from edge.agent import Agent, Ports
from edge.camera.stats import CameraStats
from edge.clock import SystemClock
from edge.config import AccessConfig, EdgeConfig
from edge.hw.relay import GpioRelay
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory
from firmware_sim.scenes import render_empty


class NullStats(CameraStats):
    """The hook with nothing behind it: the baseline for the agent measurement."""

    def frame(self, now: float) -> None:
        pass

    def decoded(self, ms: float, now: float) -> None:
        pass


def ns_per_call(stmt: str, calls: int, env: dict[str, object]) -> float:
    timer = timeit.Timer(stmt, globals=env)
    return min(timer.repeat(repeat=5, number=calls)) / calls * 1e9


def hook_alone(calls: int) -> None:
    stats = CameraStats()
    null = NullStats()
    clock = SystemClock()
    env: dict[str, object] = {
        "stats": stats,
        "null": null,
        "clock": clock,
        "perf_counter": time.perf_counter,
        "monotonic": time.monotonic,
    }
    noop = ns_per_call("null.frame(1000.5)", calls, env)
    frame = ns_per_call("stats.frame(monotonic())", calls, env) - ns_per_call(
        "monotonic()", calls, env
    )  # the loop reads monotonic anyway; count the hook only
    decoded = ns_per_call(
        "s = perf_counter(); stats.decoded((perf_counter() - s) * 1000.0, clock.monotonic())",
        calls,
        env,
    )
    print(f"baseline: empty method call              {noop:7.0f} ns")
    print(f"frame read (every frame)                 {frame:7.0f} ns")
    print(f"frame decoded (timing + decoded())       {decoded:7.0f} ns")
    print(f"decoded frame, whole hook                {frame + decoded:7.0f} ns")


def agent_on_frame(frames_n: int, rounds: int) -> None:
    rng = np.random.default_rng(0)
    base = render_empty(rng=np.random.default_rng(0), noise=0.0).astype(np.float32)
    frames = [
        np.clip(base + rng.normal(0, 3.0, base.shape), 0, 255).astype(np.uint8) for _ in range(30)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        config = EdgeConfig(
            station_id="bench-stats",
            journal_path=Path(tmp) / "journal.db",
            access=AccessConfig(trust_dir=None),
        )
        pins = mock_factory()
        clock = SimClock()
        agent = Agent(config, Ports(relay=GpioRelay(config.door, pin_factory=pins), clock=clock))
        agent.start()
        real, null = CameraStats(), NullStats()
        times: dict[str, list[float]] = {"with hook": [], "no-op stats (baseline)": []}
        decoded = 0
        for _ in range(rounds):
            for label, stats in (("with hook", real), ("no-op stats (baseline)", null)):
                agent.camera_stats = stats
                before = agent.motion.decoded
                start = time.perf_counter()
                for i in range(frames_n):
                    agent.on_frame(frames[i % len(frames)])
                    clock.advance(1 / 15)
                times[label].append((time.perf_counter() - start) / frames_n * 1e6)
                decoded += agent.motion.decoded - before
        agent.stop()
        pins.close()
    share = decoded / (2 * rounds * frames_n)
    print(f"Agent.on_frame, empty doorway, {share:.0%} of frames decoded (gate's idle decodes)")
    medians = {label: statistics.median(values) for label, values in times.items()}
    for label, median in medians.items():
        print(f"  {label:<24} {median:8.2f} µs/frame (median of {rounds})")
    hook, base = medians.values()
    print(f"  difference               {hook - base:8.2f} µs/frame ({hook / base - 1:+.2%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    hook_alone(args.calls)
    agent_on_frame(args.frames, args.rounds)


if __name__ == "__main__":
    main()
