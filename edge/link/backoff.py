"""The reconnect backoff: paho's doubling step, plus a random share of it (jitter).

paho's own backoff (`reconnect_delay_set`) doubles from `reconnect_min_s` up to
`reconnect_max_s` and has no jitter, so a fleet dropped by one broker restart would come back
in lockstep. Each failed attempt therefore also waits a random 0..`reconnect_jitter` share
of the current step. The step is counted here too, because the shared loop has no paho
backoff and schedules the whole wait itself (`edge.link.runner`).
"""

from __future__ import annotations

import random
from collections import Counter

from edge.config import MqttConfig

# The failure count stops growing here: the step reached reconnect_max_s long before.
MAX_FAILURES = 32


class Backoff:
    """Failed attempts since the last good CONNACK, and the waits they call for."""

    def __init__(self, config: MqttConfig, stats: Counter[str]) -> None:
        self.config = config
        self.stats = stats
        self.rng = random.Random()  # jitter, not cryptography; tests put their own here
        self.failures = 0

    def next(self) -> tuple[float, float]:
        """(paho's step, the extra jitter), seconds, for the attempt that just failed."""
        cfg = self.config
        step = min(cfg.reconnect_min_s * 2**self.failures, cfg.reconnect_max_s)
        self.failures = min(self.failures + 1, MAX_FAILURES)
        self.stats["reconnect_waits"] += 1
        return step, self.rng.uniform(0.0, cfg.reconnect_jitter * step)

    def reset(self) -> None:
        """A connection was accepted: the next failure starts from the smallest step."""
        self.failures = 0
