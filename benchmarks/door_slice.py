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

Door feedback off and on, same frames, same run: a second agent with `[feedback]` (LEDs and
buzzer on mock pins, a voice prompt per decision through a player process) gets each frame
too, in alternating order. The player stands in for aplay (`sleep`, as long as a prompt), and
frames come faster than a pattern lasts, so every decision pre-empts the one before: the
worker stops the last player and starts a new one each time, on the same core as the door.
"""

from __future__ import annotations

import argparse
import shlex
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
from edge.feedback.config import FeedbackConfig
from edge.feedback.cues import PROMPTS
from edge.hw.indicators import gpio_feedback
from edge.hw.relay import GpioRelay
from firmware_sim.pins import TimedRelay, mock_factory, relay_pin
from firmware_sim.scenes import random_door, random_moderate, render_empty, render_phone_qr
from firmware_sim.union import SimUnion


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Door:
    """One offline agent on its own mock pins, timing the relay; with feedback or without."""

    def __init__(self, tmp: Path, trust_dir: Path, cues: FeedbackConfig | None) -> None:
        config = EdgeConfig(
            station_id="bench-01",
            journal_path=tmp / "journal.db",
            access=AccessConfig(trust_dir=trust_dir, debounce_s=0.0),
            feedback=cues or FeedbackConfig(),
        )
        self.pins = mock_factory()
        self.relay = TimedRelay(GpioRelay(config.door, pin_factory=self.pins))
        self.feedback = None if cues is None else gpio_feedback(cues, self.pins)
        self.agent = Agent(config, Ports(relay=self.relay, feedback=self.feedback))
        self.agent.start()
        self.pin = relay_pin(self.pins, config.door.relay_pin)
        self.unlock_ms: list[float] = []
        self.total_ms: list[float] = []

    def show(self, empty: np.ndarray, frame: np.ndarray) -> None:
        self.agent.on_frame(empty)
        self.relay.pulsed_at = None
        start = time.perf_counter()
        self.agent.on_frame(frame)
        done = time.perf_counter()
        self.total_ms.append((done - start) * 1000)
        if self.relay.pulsed_at is not None and self.pin.state:
            self.unlock_ms.append((self.relay.pulsed_at - start) * 1000)

    def stop(self) -> None:
        self.agent.stop()
        self.pins.close()


def feedback_config(tmp: Path) -> FeedbackConfig:
    """LEDs, buzzer and voice; the player a stand-in for aplay that plays for 1 s."""
    audio = tmp / "voice"
    audio.mkdir(parents=True)
    for prompt in PROMPTS:
        (audio / f"{prompt.name}.wav").write_bytes(b"RIFF")
    player = tmp / "player"
    player.write_text("#!/bin/sh\nexec sleep 1\n")
    player.chmod(0o755)
    command = f"{shlex.quote(str(player))} {{file}}"
    return FeedbackConfig(green_pin=23, red_pin=24, buzzer_pin=25, voice=True,
                          audio_dir=audio, player=command)  # fmt: skip


def run_set(
    name: str, scene: Callable[[np.random.Generator], dict[str, Any]], frames_n: int, tmp: Path
) -> None:
    union = SimUnion.create(11)
    trust_dir = union.write_trust_dir(tmp / name / "trust")
    off = Door(tmp / name / "off", trust_dir, None)
    on = Door(tmp / name / "on", trust_dir, feedback_config(tmp / name / "on"))
    wallets = [union.enroll(f"m{i}") for i in range(frames_n)]
    rng = np.random.default_rng(3)
    # Each code is dated just before its frame is rendered and shown, as a phone redraws it
    # (dated once for the whole set, a slow run would show the last ones after their window).
    empty = render_empty(rng=rng)

    decode_ms: list[float] = []
    for i, wallet in enumerate(wallets):  # baseline and paths interleaved: same CPU state
        frame = render_phone_qr(wallet.present(int(time.time())), rng=rng, **scene(rng))
        gray = to_gray(frame)
        assert gray is not None
        start = time.perf_counter()
        read_zbar(gray)
        decode_ms.append((time.perf_counter() - start) * 1000)
        for door in (off, on) if i % 2 == 0 else (on, off):
            door.show(empty, frame)
    assert on.feedback is not None
    on.feedback.wait_idle(10)
    off.stop()
    on.stop()

    def row(label: str, values: list[float]) -> str:
        if not values:
            return f"  {label:<36} (none)"
        return (
            f"  {label:<36} p50 {statistics.median(values):6.2f} ms  "
            f"p95 {pct(values, 0.95):6.2f} ms  max {max(values):6.2f} ms"
        )

    stats = off.agent.stats
    reasons = {k.removeprefix("reason."): v for k, v in stats.items() if k.startswith("reason.")}
    shown = {k: v for k, v in on.agent.stats.items() if k.startswith("feedback")}
    print(
        f"{name}: {frames_n} frames 640×480, unlocked {len(off.unlock_ms)} (off) / "
        f"{len(on.unlock_ms)} (on); decisions {reasons}, frames read {stats['frames']}, "
        f"suppressed {stats['suppressed']}; feedback {shown}"
    )
    print(row("baseline: pyzbar decode alone", decode_ms))
    print(row("scan-to-unlock, feedback off", off.unlock_ms))
    print(row("scan-to-unlock, feedback on", on.unlock_ms))
    print(row("frame → journal, feedback off", off.total_ms))
    print(row("frame → journal, feedback on", on.total_ms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_set("everyday scenes", random_moderate, args.frames, Path(tmp))
        run_set("hard door scenes", random_door, args.frames, Path(tmp))


if __name__ == "__main__":
    main()
