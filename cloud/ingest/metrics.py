"""Prometheus metrics of one ingest worker, served on `--metrics-port` (`cloud.ingest.health`).

A registry per worker (not the global one), so tests and the demo can run several workers
in one process. Counts are taken after each commit: they only ever count what is stored.
"""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter

# Batch commit latency buckets, seconds: a 200-message batch commits in ~5–30 ms; the tail
# buckets catch a database that is slowing down before it is away.
BATCH_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = PromCounter(
            "waystation_ingest_messages",
            "Messages committed, by topic kind and result (stored, duplicate, ignored or a "
            "dead-letter reason)",
            ["kind", "result"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "waystation_ingest_batch_seconds",
            "Time to write and commit one batch, seconds",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "waystation_ingest_batch_messages",
            "Messages per committed batch",
            buckets=(1, 10, 50, 100, 200, 500, 1000, 2000, 5000),
            registry=self.registry,
        )
        self.lag = Gauge(
            "waystation_ingest_lag_seconds",
            "Age of the oldest message of the last committed batch at its commit, seconds "
            "(time from the broker's delivery to the database)",
            registry=self.registry,
        )
        self.queue = Gauge(
            "waystation_ingest_queue_messages",
            "Messages received and not yet handed to a batch",
            registry=self.registry,
        )
        self.dropped = PromCounter(
            "waystation_ingest_dropped",
            "Messages dropped because the queue was full (edges re-send unacked items)",
            registry=self.registry,
        )
        self.connected = Gauge(
            "waystation_ingest_connected",
            "1 while connected and subscribed to the broker",
            registry=self.registry,
        )
        self._seen: Counter[tuple[str, str]] = Counter()

    def sync_counts(self, stats: Counter[tuple[str, str]]) -> None:
        """Add what `Ingestor.stats` gained since the last call."""
        for key, total in stats.items():
            delta = total - self._seen[key]
            if delta:
                self.messages.labels(*key).inc(delta)
                self._seen[key] = total
