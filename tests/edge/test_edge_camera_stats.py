from __future__ import annotations

import threading

import numpy as np
import pytest

from edge.agent import Agent, Ports
from edge.camera.stats import CameraStats
from edge.config import EdgeConfig
from edge.hw.relay import GpioRelay
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory
from firmware_sim.scenes import render_empty, render_phone_qr
from firmware_sim.union import SimUnion


def feed(stats: CameraStats, start: float, seconds: float, fps: float) -> float:
    """Frames at `fps` from `start` for `seconds`; returns the time after the last one."""
    n = round(seconds * fps)
    for i in range(n):
        stats.frame(start + i / fps)
    return start + n / fps


def test_nothing_seen_is_none() -> None:
    summary = CameraStats().summary(100.0)
    assert summary.fps is None
    assert summary.decode_ms_p50 is None
    assert summary.decode_ms_p95 is None
    assert summary.decoded == 0


def test_fps_is_the_rate_over_the_window() -> None:
    stats = CameraStats(window_s=60)
    end = feed(stats, 1000.0, 90.0, 15.0)
    assert stats.fps(end) == pytest.approx(15.0, abs=0.1)
    # the camera slows to 5 fps: within one window the figure is all new frames
    end = feed(stats, end, 61.0, 5.0)
    assert stats.fps(end) == pytest.approx(5.0, abs=0.1)


def test_fps_right_after_start_and_after_the_camera_stops() -> None:
    stats = CameraStats(window_s=60)
    end = feed(stats, 50.2, 0.6, 10.0)
    assert stats.fps(end) is None  # no whole second seen yet: nothing to say
    assert stats.fps(51.9) is None
    assert stats.fps(52.0) == 0.0  # second 51 had no frame
    end = feed(stats, end, 5.0, 10.0)
    assert stats.fps(end) == pytest.approx(10.0, abs=0.3)
    # 30 s later: the 5 full seconds of frames spread over the 34 whole seconds since
    assert stats.fps(end + 30) == pytest.approx(48 / 34, abs=0.01)
    assert stats.fps(end + 200) == 0.0  # camera gone for more than a window: 0, not stale


def test_decode_percentiles_cover_the_window_only() -> None:
    stats = CameraStats(window_s=60)
    for i in range(100):  # 1..100 ms, nearest rank: p50 = 50, p95 = 95
        stats.decoded(float(i + 1), 10.0 + i * 0.1)
    summary = stats.summary(30.0)
    assert summary.decode_ms_p50 == 50.0
    assert summary.decode_ms_p95 == 95.0
    assert summary.decoded == 100
    stats.decoded(7.0, 80.0)  # the old ones leave the window, the new one stays
    summary = stats.summary(80.5)
    assert summary.decoded == 1
    assert summary.decode_ms_p50 == summary.decode_ms_p95 == 7.0


def test_ring_keeps_the_newest_decodes() -> None:
    stats = CameraStats(ring=8)
    for i in range(20):
        stats.decoded(float(i), 1.0 + i * 0.01)
    assert stats.decode_ms(2.0) == [float(i) for i in range(12, 20)]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="window_s"):
        CameraStats(window_s=1)


def test_readers_on_another_thread_never_break_the_writer() -> None:
    """A scrape (HTTP thread) reads while the door loop writes: no exception either side."""
    stats = CameraStats(window_s=5, ring=64)
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                stats.summary(float(len(errors)) + 100.0)
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    t = 100.0
    for _ in range(50_000):
        t += 0.001
        stats.frame(t)
        stats.decoded(1.5, t)
    stop.set()
    reader.join()
    assert errors == []
    assert stats.fps(t) == pytest.approx(1000.0, rel=0.01)


def test_the_agent_counts_frames_read_and_times_decodes(
    config: EdgeConfig, clock: SimClock, union: SimUnion
) -> None:
    factory = mock_factory()
    agent = Agent(config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock))
    agent.start()
    try:
        empty = render_empty(rng=np.random.default_rng(1))
        phone = render_phone_qr(union.enroll("m1").present(clock.timestamp()))
        for i in range(40):  # 4 s at 10 fps, a phone in every fourth frame
            agent.on_frame(phone if i % 4 == 0 else empty)
            agent.on_frame(None)  # no new frame yet: not a frame read
            clock.advance(0.1)
        summary = agent.camera_stats.summary(clock.monotonic())
        assert summary.fps == pytest.approx(10.0, abs=0.5)
        assert 0 < summary.decoded <= 40  # the motion gate skips some
        assert summary.decoded == agent.motion.decoded
        assert summary.decode_ms_p50 is not None
        assert summary.decode_ms_p95 is not None
        assert 0 < summary.decode_ms_p50 <= summary.decode_ms_p95 < 5000
        assert agent.stats["granted"] == 1
    finally:
        agent.stop()
        factory.close()
