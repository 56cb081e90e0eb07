"""Frame in → decision → relay → journal: the door's whole path, on one core.

Run: taskset -c 0 .venv/bin/python benchmarks/door_slice.py [--frames 200]
Baseline (same frames, same run): pyzbar decoding alone. The difference is what verifying,
pulsing the relay (gpiozero mock pin) and journaling (SQLite WAL) add. "Scan-to-unlock" is
measured from the call with the frame to the moment the relay pin is energised.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from edge.agent import Agent
from edge.camera.qr import ZbarDecoder
from edge.config import AccessConfig, EdgeConfig
from edge.door import Door
from firmware_sim.pins import mock_factory, relay_pin
from firmware_sim.scenes import random_moderate, render_phone_qr
from firmware_sim.union import SimUnion


class TimedRelay:
    """The real Door on mock pins, noting when the relay was told to open."""

    def __init__(self, door: Door) -> None:
        self.door = door
        self.pulsed_at: float | None = None

    def open(self) -> None:
        self.door.open()

    def close(self) -> None:
        self.door.close()

    def pulse(self, seconds: float) -> None:
        self.pulsed_at = time.perf_counter()
        self.door.pulse(seconds)

    @property
    def is_active(self) -> bool:
        return self.door.is_active


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        union = SimUnion.create(11)
        trust_dir = union.write_trust_dir(Path(tmp) / "trust")
        config = EdgeConfig(
            station_id="bench-01",
            journal_path=Path(tmp) / "journal.db",
            access=AccessConfig(trust_dir=trust_dir, debounce_s=0.0),
        )
        pins = mock_factory()
        relay = TimedRelay(Door(config.door, pin_factory=pins))
        agent = Agent(config, relay=relay, online=False)
        agent.start()
        pin = relay_pin(pins, config.door.relay_pin)
        wallets = [union.enroll(f"m{i}") for i in range(args.frames)]
        rng = np.random.default_rng(3)
        now = int(time.time())
        frames = [render_phone_qr(w.present(now), rng=rng, **random_moderate(rng)) for w in wallets]

        decoder = ZbarDecoder()
        decode_ms: list[float] = []
        unlock_ms: list[float] = []
        total_ms: list[float] = []
        for frame in frames:  # baseline and path interleaved: same caches, same CPU state
            start = time.perf_counter()
            decoder.decode(frame)
            decode_ms.append((time.perf_counter() - start) * 1000)

            relay.pulsed_at = None
            start = time.perf_counter()
            decisions = agent.process_frame(frame)
            done = time.perf_counter()
            total_ms.append((done - start) * 1000)
            if decisions and decisions[0].granted and relay.pulsed_at is not None and pin.state:
                unlock_ms.append((relay.pulsed_at - start) * 1000)
        agent.stop()

    def row(name: str, values: list[float]) -> str:
        return (
            f"{name:<28} p50 {statistics.median(values):6.2f} ms  p95 {pct(values, 0.95):6.2f} ms"
        )

    print(f"frames: {args.frames} (640×480 moderate door scenes), unlocked {len(unlock_ms)}")
    print(row("baseline: pyzbar decode", decode_ms))
    print(row("scan-to-unlock (relay on)", unlock_ms))
    print(row("frame → journal committed", total_ms))
    ratio = statistics.median(unlock_ms) / statistics.median(decode_ms)
    print(f"ratio scan-to-unlock / decode (p50) {ratio:.2f}×")


if __name__ == "__main__":
    main()
