"""`edge.link.backoff`: paho's doubling step, capped, plus a random jitter share of it."""

from __future__ import annotations

import random
from collections import Counter

from edge.config import MqttConfig
from edge.link.backoff import MAX_FAILURES, Backoff


class _Top(random.Random):
    """The largest jitter the range allows (`uniform(a, b)` → b)."""

    def uniform(self, a: float, b: float) -> float:
        return b


def _backoff(**fields: float) -> tuple[Backoff, Counter[str]]:
    stats: Counter[str] = Counter()
    config = MqttConfig(reconnect_min_s=1.0, reconnect_max_s=10.0, **fields)  # type: ignore[arg-type]
    return Backoff(config, stats), stats


def test_the_step_doubles_from_the_minimum_up_to_the_maximum() -> None:
    backoff, stats = _backoff(reconnect_jitter=0.0)
    steps = [backoff.next() for _ in range(7)]
    assert [s for s, _ in steps] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert all(extra == 0.0 for _, extra in steps)  # no jitter configured
    assert stats["reconnect_waits"] == 7


def test_the_jitter_is_a_random_share_of_the_step_up_to_the_configured_fraction() -> None:
    backoff, _ = _backoff(reconnect_jitter=0.5)
    backoff.rng = random.Random(7)
    for _ in range(200):
        step, extra = backoff.next()
        assert 0.0 <= extra <= 0.5 * step
    backoff.rng = _Top()
    backoff.reset()
    assert backoff.next() == (1.0, 0.5)
    assert backoff.next() == (2.0, 1.0)


def test_two_stations_do_not_wait_in_lockstep() -> None:
    a, _ = _backoff(reconnect_jitter=0.5)
    b, _ = _backoff(reconnect_jitter=0.5)
    a.rng, b.rng = random.Random(1), random.Random(2)
    assert [a.next()[1] for _ in range(5)] != [b.next()[1] for _ in range(5)]


def test_a_good_connack_starts_again_from_the_smallest_step() -> None:
    backoff, _ = _backoff(reconnect_jitter=0.0)
    for _ in range(4):
        backoff.next()
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.next()[0] == 1.0


def test_the_failure_count_stops_growing_so_the_step_never_overflows() -> None:
    backoff, _ = _backoff(reconnect_jitter=0.0)
    for _ in range(5000):  # days of a dead broker: 2**5000 would overflow a float
        step, _ = backoff.next()
    assert backoff.failures == MAX_FAILURES
    assert step == 10.0
