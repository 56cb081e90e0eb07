"""Hostile input at the door: random QR contents and random frames never escape the loop."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
import segno
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edge.agent import Agent, Ports
from edge.camera.cascade import CascadeDecoder
from edge.config import EdgeConfig
from edge.hw.relay import GpioRelay
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory, relay_pin
from protocol.credential import Reason

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def agent(config: EdgeConfig, clock: SimClock) -> Iterator[Agent]:
    factory = mock_factory()
    agent = Agent(config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock))
    agent.start()
    agent.pin = relay_pin(factory, config.door.relay_pin)  # type: ignore[attr-defined]
    yield agent
    agent.stop()
    factory.close()


def qr_frame(payload: bytes) -> np.ndarray:
    """`payload` as a byte-mode QR at 4 px a module on a grey 640×480 frame."""
    qr = segno.make_qr(payload, error="l", boost_error=False)
    modules = np.array([list(r) for r in qr.matrix_iter(scale=4, border=4)], dtype=bool)
    frame = np.full((480, 640), 90, np.uint8)
    img = np.where(modules, 20, 235).astype(np.uint8)
    h, w = min(img.shape[0], 480), min(img.shape[1], 640)
    frame[:h, :w] = img[:h, :w]
    return frame


@FUZZ
@given(payload=st.binary(min_size=1, max_size=300))
def test_random_bytes_in_a_qr_are_denied_with_a_reason(agent: Agent, payload: bytes) -> None:
    frame = qr_frame(payload)
    suppressed = agent.stats["suppressed"]
    decisions = agent.process_frame(frame)  # must not raise
    assert decisions or agent.stats["suppressed"] > suppressed  # it was read (or a repeat)
    for decision in decisions:
        assert not decision.granted
        assert decision.reason in set(Reason) - {Reason.GRANTED}
    assert not agent.pin.state  # type: ignore[attr-defined]  # never unlocked
    assert agent.stats["decode_errors"] == 0
    assert agent.stats["loop_errors"] == 0


@FUZZ
@given(
    prefix=st.sampled_from(["WS1:", "WS2:", "", "ws1:", "WS1:WS1:"]),
    body=st.text(min_size=0, max_size=5000),
)
def test_random_text_after_a_credential_prefix_is_a_denial(
    agent: Agent, prefix: str, body: str
) -> None:
    decision = agent.scan_text(prefix + body)
    assert not decision.granted
    assert decision.reason in {Reason.MALFORMED, Reason.UNKNOWN_ISSUER, Reason.BAD_SIGNATURE}


@FUZZ
@given(frame=arrays(np.uint8, st.sampled_from([(480, 640), (64, 64, 3), (30, 900, 4)])))
def test_random_frames_decode_to_nothing_or_denials(agent: Agent, frame: np.ndarray) -> None:
    assert isinstance(CascadeDecoder().decode(frame), list)
    for decision in agent.process_frame(frame):
        assert not decision.granted


def test_denials_are_journaled_as_events(agent: Agent) -> None:
    agent.process_frame(qr_frame(b"\xff\xfe WS1:\x00\x01 not a credential"))
    [row] = agent.journal.pending(limit=10)
    event = json.loads(row.payload)
    assert event["granted"] is False
    assert event["reason"] == "malformed"
