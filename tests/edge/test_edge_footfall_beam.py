"""Two-beam direction counter: order of breaks, turn-backs, people in a row, bounce, timeout."""

from __future__ import annotations

import pytest

from edge.footfall.beam import BeamCounter, BeamLogic
from edge.footfall.config import BeamConfig
from edge.footfall.crossing import Direction
from firmware_sim.clock import SimClock

CONFIG = BeamConfig(bounce_s=0.03, timeout_s=5.0, blocked_after_s=60.0)


def run(edges: str, config: BeamConfig = CONFIG, step: float = 0.1) -> list[Direction]:
    """`edges` like "A+ B+ A- B-": + broken, - clear, one every `step` seconds."""
    logic = BeamLogic(config)
    t = 0.0
    out = []
    for token in edges.split():
        t += step
        logic.edge(token[0].lower(), token[1] == "+", t)  # type: ignore[arg-type]
        out += logic.poll(t)
    out += logic.poll(t + 1.0)
    assert all(c.source == "beam" and c.count == 1 for c in out)
    return [c.direction for c in out]


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ("A+ B+ A- B-", [Direction.IN]),
        ("B+ A+ B- A-", [Direction.OUT]),
        ("A+ A-", []),  # broke the street beam and backed out
        ("B+ B-", []),
        ("A+ B+ B- A-", []),  # reached both beams, turned back
        ("B+ A+ A- B-", []),
        ("A+ B+ A- A+ B- A-", []),  # went as far as the inner beam alone, then all the way back
        # two people in a row: the second steps on A before the first has left B
        ("A+ B+ A- A+ B- B+ A- B-", [Direction.IN, Direction.IN]),
        ("B+ A+ B- B+ A- A+ B- A-", [Direction.OUT, Direction.OUT]),
        # three in a row
        ("A+ B+ A- A+ B- B+ A- A+ B- B+ A- B-", [Direction.IN] * 3),
        # one in, then one out with a gap
        ("A+ B+ A- B- B+ A+ B- A-", [Direction.IN, Direction.OUT]),
        # someone shuffles in the beams but ends up inside: one entry
        ("A+ B+ B- B+ A- B-", [Direction.IN]),
    ],
)
def test_direction_from_the_order_of_breaks(edges: str, expected: list[Direction]) -> None:
    assert run(edges) == expected


def test_bounces_are_filtered() -> None:
    logic = BeamLogic(CONFIG)
    # A breaks with ringing, B breaks, A clears with ringing, B clears
    for beam, broken, t in [
        ("a", True, 1.000),
        ("a", False, 1.002),
        ("a", True, 1.004),
        ("b", True, 1.100),
        ("a", False, 1.200),
        ("a", True, 1.201),
        ("a", False, 1.203),
        ("b", False, 1.300),
    ]:
        logic.edge(beam, broken, t)  # type: ignore[arg-type]
    crossings = logic.poll(2.0)
    assert [c.direction for c in crossings] == [Direction.IN]
    assert logic.bounces == 4


def test_an_edge_is_held_until_it_has_settled() -> None:
    logic = BeamLogic(CONFIG)
    for beam, broken, t in [("a", True, 1.0), ("b", True, 1.1), ("a", False, 1.2)]:
        logic.edge(beam, broken, t)  # type: ignore[arg-type]
    logic.edge("b", False, 1.3)
    assert logic.poll(1.31) == []  # B's clearing could still be a bounce
    assert [c.direction for c in logic.poll(1.34)] == [Direction.IN]


def test_standing_in_the_beams_past_the_timeout_counts_nothing() -> None:
    logic = BeamLogic(CONFIG)
    logic.edge("a", True, 1.0)
    logic.edge("b", True, 1.2)
    assert logic.poll(2.0) == []
    assert logic.busy
    assert logic.poll(7.0) == []  # 6 s in the doorway: forgotten
    logic.edge("a", False, 7.1)
    logic.edge("b", False, 7.2)
    assert logic.poll(8.0) == []
    assert logic.abandoned == 1
    assert not logic.busy


def test_pausing_in_the_beams_within_the_timeout_still_counts() -> None:
    assert run("A+ B+ A- B-", step=1.5) == [Direction.IN]


def test_counter_on_mock_pins_and_blocked_beam_degrades() -> None:
    from gpiozero.pins.mock import MockFactory

    clock = SimClock()
    factory = MockFactory()
    counter = BeamCounter(CONFIG, clock=clock.monotonic, pin_factory=factory)
    counter.open()
    try:
        a, b = factory.pin(CONFIG.pin_a), factory.pin(CONFIG.pin_b)
        assert counter.poll() == []  # pull-ups: both beams read clear
        for pin, level in [(a, False), (b, False), (a, True), (b, True)]:  # low = broken
            clock.advance(0.1)
            (pin.drive_high if level else pin.drive_low)()
        clock.advance(0.1)
        assert [c.direction for c in counter.poll()] == [Direction.IN]
        assert counter.degraded() is None
        b.drive_low()
        clock.advance(61)
        assert counter.poll() == []
        assert counter.degraded() == "beam b blocked for 61 s"
        b.drive_high()
        clock.advance(0.1)
        counter.poll()
        assert counter.degraded() is None
    finally:
        counter.close()


def test_beam_config_refuses_one_pin_for_both() -> None:
    with pytest.raises(ValueError, match="different pins"):
        BeamConfig(pin_a=5, pin_b=5)
