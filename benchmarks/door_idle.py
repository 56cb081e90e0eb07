"""Idle CPU of the door loop at 15 fps with nobody at the door, motion gate on and off.

Run: flock /tmp/ws-bench.lock taskset -c 0 .venv/bin/python benchmarks/door_idle.py
     [--seconds 20]

The real `Agent.run` loop reads a paced camera (15 fps) that shows an empty doorway with fresh
sensor noise each frame (30 noisy frames rendered up front and cycled, so making noise costs
nothing during the measurement). CPU is the process's CPU time over wall time, in % of one
core. Baselines in the same run: the loop with the gate off (every frame through the
cascade) and with the gate off and pyzbar alone (the old door decoder).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from edge.agent import Agent, Ports
from edge.camera.cascade import CascadeDecoder, Step, read_zbar
from edge.camera.motion import MotionGate
from edge.config import AccessConfig, EdgeConfig
from edge.hw.relay import GpioRelay
from edge.ports import QrDecoder
from firmware_sim.pins import mock_factory
from firmware_sim.scenes import render_empty

FPS = 15.0


class NoisyDoorway:
    """A `FrameSource` at `FPS` showing the empty doorway with per-frame sensor noise."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.i = 0
        self._next = 0.0

    def open(self) -> None:
        self._next = time.monotonic()

    def close(self) -> None: ...

    def read(self) -> np.ndarray:
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next + 1 / FPS, time.monotonic())
        self.i += 1
        return self.frames[self.i % len(self.frames)]


class AlwaysGate(MotionGate):
    def should_decode(self, frame: np.ndarray, now: float) -> bool:
        self.frames += 1
        self.decoded += 1
        return True


def measure(
    label: str, frames: list[np.ndarray], seconds: float, tmp: Path, *, gate: bool,
    decoder: QrDecoder,
) -> None:  # fmt: skip
    config = EdgeConfig(
        station_id="bench-idle",
        journal_path=tmp / f"{label}.db",
        access=AccessConfig(trust_dir=None),
    )
    pins = mock_factory()
    agent = Agent(
        config,
        Ports(
            relay=GpioRelay(config.door, pin_factory=pins),
            source=NoisyDoorway(frames),
            decoder=decoder,
        ),
    )
    if not gate:
        agent.motion = AlwaysGate()
    agent.start()
    stop = threading.Event()
    loop = threading.Thread(target=agent.run, args=(stop,))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    loop.start()
    time.sleep(seconds)
    stop.set()
    loop.join()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    agent.stop()
    pins.close()
    print(
        f"{label:<36} CPU {100 * cpu / wall:5.1f} % of one core   frames {agent.motion.frames:4d}"
        f"   decoded {agent.motion.decoded:4d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frames = [render_empty(rng=np.random.default_rng(0), noise=0.0) for _ in range(1)]
    base = frames[0].astype(np.float32)
    noisy = [
        np.clip(base + rng.normal(0, 3.0, base.shape), 0, 255).astype(np.uint8) for _ in range(30)
    ]
    print(f"{args.seconds:g} s per run at {FPS:g} fps, 640×480, empty doorway with sensor noise")
    with tempfile.TemporaryDirectory() as tmp:
        measure("motion gate + cascade (door)", noisy, args.seconds, Path(tmp), gate=True,
                decoder=CascadeDecoder())  # fmt: skip
        measure("no gate, cascade every frame", noisy, args.seconds, Path(tmp), gate=False,
                decoder=CascadeDecoder())  # fmt: skip
        pyzbar_only = CascadeDecoder((Step("pyzbar", lambda g: g, read_zbar),))
        measure("baseline: no gate, pyzbar every frame", noisy, args.seconds, Path(tmp),
                gate=False, decoder=pyzbar_only)  # fmt: skip


if __name__ == "__main__":
    main()
