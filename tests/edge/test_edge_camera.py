"""Frame sources, camera health and the motion gate (edge/camera/)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.agent import Agent, Ports
from edge.camera.capture import DirectorySource, OpenCvSource, make_source, video_frames
from edge.camera.health import CameraHealth, is_usable
from edge.camera.motion import MotionGate
from edge.config import CameraConfig, EdgeConfig, MqttConfig
from edge.hw.relay import GpioRelay
from edge.link.mqtt import Link
from firmware_sim.camera import SimCamera
from firmware_sim.pins import mock_factory
from firmware_sim.scenes import render_empty, render_phone_qr
from firmware_sim.union import SimUnion
from tests.support.wait import wait_for
from waystation.mosquitto import MosquittoProcess


def _video(path: Path, frames: list[np.ndarray], fps: float = 15.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


# --- sources ------------------------------------------------------------------------------


def test_directory_source_reads_images_in_order_then_none(tmp_path: Path) -> None:
    for i, level in enumerate((10, 200)):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 40, 3), level, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    source = make_source(str(tmp_path))
    assert isinstance(source, DirectorySource)
    source.open()
    assert [int(source.read()[0, 0, 0]) for _ in range(2)] == [10, 200]
    assert source.read() is None


def test_video_file_unthreaded_gives_every_frame(tmp_path: Path) -> None:
    frames = [render_empty(rng=np.random.default_rng(i)) for i in range(5)]
    path = _video(tmp_path / "door.avi", frames)
    assert len(list(video_frames(path))) == 5
    source = OpenCvSource(str(path))
    assert not source.threaded  # a file is read in order, nothing is dropped
    source.open()
    got = [source.read() for _ in range(5)]
    source.close()
    assert all(isinstance(f, np.ndarray) and f.shape == (480, 640, 3) for f in got)


def test_threaded_source_keeps_only_the_newest_frame(tmp_path: Path) -> None:
    """Story: a slow decision made the door look at frames seconds old from the buffer."""
    frames = [render_empty(rng=np.random.default_rng(i)) for i in range(40)]
    path = _video(tmp_path / "door.avi", frames)
    source = OpenCvSource(str(path), threaded=True, max_age_s=0.5)
    source.open()
    try:
        time.sleep(0.3)  # the door loop was busy: the pump read on
        assert source.read() is not None
        assert source.dropped > 0
    finally:
        source.close()


def test_threaded_source_refuses_a_stale_frame(tmp_path: Path) -> None:
    path = _video(tmp_path / "one.avi", [render_empty()])
    source = OpenCvSource(str(path), threaded=True, max_age_s=0.05)
    source.open()
    try:
        time.sleep(0.2)  # the only frame is now older than max_age_s
        assert source.read() is None
        assert source.stale == 1
    finally:
        source.close()


def test_missing_camera_retries_instead_of_raising(tmp_path: Path) -> None:
    source = OpenCvSource(str(tmp_path / "absent.avi"), threaded=False)
    with pytest.raises(OSError, match="cannot open"):
        source.open()
    assert source.read() is None  # reopen attempted, failed, backs off
    assert source.read() is None


# --- health ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [None, np.zeros((480, 640, 3), np.uint8), np.zeros((10, 10), np.uint8), b"junk",
     np.zeros((480, 640), np.float32)],
)  # fmt: skip
def test_unusable_frames(frame: object) -> None:
    assert not is_usable(frame)


def test_camera_down_is_raised_after_the_delay_and_cleared_on_a_good_frame() -> None:
    health = CameraHealth(down_after_s=5.0)
    good = render_empty()
    assert health.observe(good, 0.0) == (True, None)
    assert health.observe(None, 3.0) == (False, None)
    assert health.observe(None, 5.5) == (False, "raised")
    assert health.observe(None, 9.0) == (False, None)  # raised once
    assert health.observe(good, 10.0) == (True, "cleared")


# --- motion gate ----------------------------------------------------------------------------


def test_idle_doorway_decodes_only_once_a_second() -> None:
    gate = MotionGate(hold_s=3.0, idle_every_s=1.0)
    rng = np.random.default_rng(1)
    frames = [render_empty(rng=np.random.default_rng(0), noise=0) for _ in range(2)]
    decided = 0
    for i in range(150):  # 10 s at 15 fps, sensor noise only
        frame = frames[0].astype(np.int16) + rng.normal(0, 3, frames[0].shape).astype(np.int16)
        decide = gate.should_decode(np.clip(frame, 0, 255).astype(np.uint8), i / 15)
        decided += decide and i / 15 > 3.0  # the first frame counts as motion, then hold_s
    assert decided <= 7  # one per second for the last 7 s


def test_a_phone_held_still_after_motion_is_decoded_every_frame() -> None:
    gate = MotionGate(hold_s=3.0, idle_every_s=1.0)
    empty = render_empty(rng=np.random.default_rng(0))
    phone = render_phone_qr("WS1:X", rng=np.random.default_rng(0))
    for i in range(30):
        gate.should_decode(empty, i / 15)
    t0 = 2.0
    assert gate.should_decode(phone, t0)  # it moved in
    still = [gate.should_decode(phone, t0 + (i + 1) / 15) for i in range(30)]  # 2 s, still
    assert all(still)


# --- the agent's camera path ------------------------------------------------------------------


def test_agent_raises_and_clears_camera_down_and_keeps_running(config: EdgeConfig) -> None:
    union = SimUnion.create(7)  # today's union: the agent runs on the system clock here
    union.write_trust_dir(config.access.trust_dir or Path("unused"))
    cfg = config.model_copy(update={"camera": CameraConfig(down_after_s=0.3)})
    camera = SimCamera(fps=50)
    factory = mock_factory()
    agent = Agent(cfg, Ports(relay=GpioRelay(cfg.door, pin_factory=factory), source=camera))
    agent.start()
    stop = threading.Event()
    loop = threading.Thread(target=agent.run, args=(stop,))
    loop.start()
    try:
        camera.fault = "garbage"  # for longer than down_after_s, then unplugged: the scenario
        time.sleep(0.6)
        camera.fault = "unplugged"
        time.sleep(0.2)
        camera.fault = None
        text = union.enroll("m").present(int(time.time()))
        deadline = time.monotonic() + 5
        while agent.stats["granted"] == 0 and time.monotonic() < deadline:
            camera.show(render_phone_qr(text))
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(5)
    rows = [json.loads(r.payload) for r in agent.journal.pending(limit=100)]
    agent.stop()
    factory.close()
    alarms = [(r["alarm"], r["state"]) for r in rows if r["type"] == "alarm"]
    assert alarms == [("camera_down", "raised"), ("camera_down", "cleared")]
    assert agent.stats["granted"] == 1  # the loop survived and still opens the door
    assert agent.stats["bad_frames"] > 0


def test_threaded_camera_absent_at_start_is_picked_up_when_it_appears(tmp_path: Path) -> None:
    """Story: a camera plugged in after boot was never opened: no capture thread had started."""
    path = tmp_path / "late.avi"
    source = OpenCvSource(str(path), threaded=True, max_age_s=1.0)
    with pytest.raises(OSError, match="cannot open"):
        source.open()
    try:
        assert source.read() is None
        _video(path, [render_empty()] * 60)
        deadline = time.monotonic() + 5
        frame = None
        while frame is None and time.monotonic() < deadline:
            frame = source.read()
        assert isinstance(frame, np.ndarray)
    finally:
        source.close()


def test_a_dead_camera_makes_the_retained_state_degraded_until_it_recovers(
    config: EdgeConfig, mosquitto: MosquittoProcess, watch: Callable[..., Any]
) -> None:
    """DESIGN.md: `degraded` while the station runs but cannot admit members."""
    topic = f"ws/v1/{config.station_id}/state"
    watcher = watch(topic)
    cfg = config.model_copy(
        update={
            "camera": CameraConfig(down_after_s=0.3),
            "mqtt": MqttConfig(broker=f"mqtt://127.0.0.1:{mosquitto.port}"),
        }
    )
    camera = SimCamera(fps=50)
    factory = mock_factory()
    agent = Agent(
        cfg, Ports(relay=GpioRelay(cfg.door, pin_factory=factory), source=camera), uplink=Link
    )
    agent.start()
    stop = threading.Event()
    loop = threading.Thread(target=agent.run, args=(stop,))
    loop.start()

    def statuses() -> list[str]:
        return [d["status"] for d in watcher.on(topic)]

    try:
        watcher.wait_for(lambda _t, d, _r: d.get("status") == "online")
        camera.fault = "unplugged"
        degraded = watcher.wait_for(lambda _t, d, _r: d.get("status") == "degraded")
        assert "camera" in degraded["reason"]
        assert agent.link is not None
        assert degraded["sess"] == agent.link.sess  # the same session, re-stated
        camera.fault = None
        camera.show(np.full((480, 640, 3), 128, np.uint8))
        wait_for(
            lambda: "online" in statuses()[statuses().index("degraded") :],
            10,
            what=lambda: f"online after degraded in {statuses()}",
        )
    finally:
        stop.set()
        loop.join(5)
        agent.stop()
        factory.close()
    seen = statuses()
    assert seen[: seen.index("degraded")] == ["online"] * seen.index("degraded")
