"""Frame in → motion gate → decoder cascade → decision → relay → journal, on one core.

Run: flock /tmp/ws-bench.lock taskset -c 0 .venv/bin/python benchmarks/door_slice.py
     [--frames 200]

"Scan-to-unlock" is measured from the moment the frame is handed to the agent (`on_frame`,
what the door loop does right after the camera delivers it) to the moment the relay is told
to open (gpiozero mock pin); "frame → journal" runs on until the access and door events are
committed (SQLite WAL). Each phone frame follows an empty-doorway frame, so the motion gate
sees the phone arrive, as at a real door. Two scene sets: everyday (`random_moderate`) and
hard (`random_door`: far phones, night, glare, JPEG) — on the hard set the cascade's retries
are part of the latency. Baseline (same frames, same run): pyzbar decoding alone.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge.agent import Agent, Ports
from edge.camera.cascade import read_zbar
from edge.camera.qr import to_gray
from edge.config import AccessConfig, EdgeConfig
from edge.hw.relay import GpioRelay
from firmware_sim.pins import TimedRelay, mock_factory, relay_pin
from firmware_sim.scenes import random_door, random_moderate, render_empty, render_phone_qr
from firmware_sim.union import SimUnion


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_set(
    name: str, scene: Callable[[np.random.Generator], dict[str, Any]], frames_n: int, tmp: Path
) -> None:
    union = SimUnion.create(11)
    trust_dir = union.write_trust_dir(tmp / name / "trust")
    config = EdgeConfig(
        station_id="bench-01",
        journal_path=tmp / name / "journal.db",
        access=AccessConfig(trust_dir=trust_dir, debounce_s=0.0),
    )
    pins = mock_factory()
    relay = TimedRelay(GpioRelay(config.door, pin_factory=pins))
    agent = Agent(config, Ports(relay=relay))
    agent.start()
    pin = relay_pin(pins, config.door.relay_pin)
    wallets = [union.enroll(f"m{i}") for i in range(frames_n)]
    rng = np.random.default_rng(3)
    # Each code is dated just before its frame is rendered and shown, as a phone redraws it
    # (dated once for the whole set, a slow run would show the last ones after their window).
    empty = render_empty(rng=rng)

    decode_ms: list[float] = []
    unlock_ms: list[float] = []
    total_ms: list[float] = []
    for wallet in wallets:  # baseline and path interleaved: same caches, same CPU state
        frame = render_phone_qr(wallet.present(int(time.time())), rng=rng, **scene(rng))
        gray = to_gray(frame)
        assert gray is not None
        start = time.perf_counter()
        read_zbar(gray)
        decode_ms.append((time.perf_counter() - start) * 1000)

        agent.on_frame(empty)
        relay.pulsed_at = None
        start = time.perf_counter()
        agent.on_frame(frame)
        done = time.perf_counter()
        total_ms.append((done - start) * 1000)
        if relay.pulsed_at is not None and pin.state:
            unlock_ms.append((relay.pulsed_at - start) * 1000)
    agent.stop()
    pins.close()

    def row(label: str, values: list[float]) -> str:
        if not values:
            return f"  {label:<30} (none)"
        return (
            f"  {label:<30} p50 {statistics.median(values):6.2f} ms  "
            f"p95 {pct(values, 0.95):6.2f} ms  max {max(values):6.2f} ms"
        )

    reasons = {
        k.removeprefix("reason."): v for k, v in agent.stats.items() if k.startswith("reason.")
    }
    print(
        f"{name}: {frames_n} frames 640×480, unlocked {len(unlock_ms)}; decisions {reasons}, "
        f"frames read {agent.stats['frames']}, suppressed {agent.stats['suppressed']}"
    )
    print(row("baseline: pyzbar decode alone", decode_ms))
    print(row("scan-to-unlock (relay on)", unlock_ms))
    print(row("frame → journal committed", total_ms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_set("everyday scenes", random_moderate, args.frames, Path(tmp))
        run_set("hard door scenes", random_door, args.frames, Path(tmp))


if __name__ == "__main__":
    main()
