"""Local Prometheus `/metrics` of one station agent (`metrics_port` in the station TOML).

A collector reads the running agent at scrape time — its `stats` counters, door and lock,
journal backlog, link, camera window, clock, list ages — so nothing is counted twice and the
door loop does no extra work. Sensor and host readings come from the last heartbeat: reading
a 1-Wire probe per scrape would cost a conversion each time. No login, so it listens on
loopback only (the config refuses anything else): a node exporter or an SSH tunnel takes it
from there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from edge.agent import Agent

log = logging.getLogger(__name__)

PREFIX = "waystation_edge"
DOOR_STATES = ("open", "closed", "unknown")
LOCK_STATES = ("locked", "unlocked", "fault")


def _gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=float(value))


def _one_hot(name: str, doc: str, label: str, states: tuple[str, ...], current: str) -> Metric:
    family = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=[label])
    for state in states:
        family.add_metric([state], 1.0 if state == current else 0.0)
    return family


def _stats(agent: Agent) -> dict[str, int]:
    """A copy of the agent's counters (a plain dict copy is atomic under the GIL)."""
    return dict(agent.stats)


class AgentCollector(Collector):
    """Everything is read when Prometheus scrapes; a part that fails is left out, not fatal."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        agent = self.agent
        for part in (self._counters, self._door, self._link, self._camera, self._trust,
                     self._heartbeat):  # fmt: skip
            try:
                yield from part(agent)
            except Exception:  # a scrape must never take the agent's parts down with it
                log.exception("metrics: %s failed", part.__name__)

    @staticmethod
    def _counters(agent: Agent) -> Iterator[Metric]:
        stats = _stats(agent)
        events = CounterMetricFamily(
            f"{PREFIX}_agent",
            "Agent counters by name: frames, gated, granted, denied, suppressed, *_errors, …",
            labels=["counter"],
        )
        decisions = CounterMetricFamily(
            f"{PREFIX}_decisions", "Access decisions by reason code", labels=["reason"]
        )
        for key, value in sorted(stats.items()):
            if key.startswith("reason."):
                decisions.add_metric([key.removeprefix("reason.")], value)
            else:
                events.add_metric([key], value)
        yield events
        yield decisions

    @staticmethod
    def _door(agent: Agent) -> Iterator[Metric]:
        from edge.heartbeat import door_state, lock_state

        yield _one_hot("door", "Door contact (one-hot)", "state", DOOR_STATES,
                       door_state(agent.door.is_open))  # fmt: skip
        yield _one_hot("lock", "Lock relay (one-hot)", "state", LOCK_STATES,
                       lock_state(agent.door.relay))  # fmt: skip
        mode = agent.door.mode
        if mode is not None:
            yield _one_hot("door_mode", "Door mode by schedule (one-hot)", "mode",
                           tuple(m.value for m in type(mode)), mode.value)  # fmt: skip
        yield from _gauge("journal_backlog", "Journal rows not yet acked by the cloud",
                          agent.journal.backlog())  # fmt: skip
        yield from _gauge("journal_refused",
                          "Journal rows the cloud refused, kept for inspection (newest 1,000)",
                          agent.journal.refused_count())  # fmt: skip

    @staticmethod
    def _link(agent: Agent) -> Iterator[Metric]:
        link = agent.link
        yield from _gauge("link_connected", "1 while the MQTT link is connected",
                          0.0 if link is None else float(link.connected))  # fmt: skip
        if link is not None:
            counters = CounterMetricFamily(
                f"{PREFIX}_link",
                "Link counters by name: published, acks, refused (seqs the cloud's acks said "
                "it could not store), ack_timeouts, connects, …",
                labels=["counter"],
            )
            for key, value in sorted(dict(link.stats).items()):
                counters.add_metric([key], value)
            yield counters

    @staticmethod
    def _camera(agent: Agent) -> Iterator[Metric]:
        summary = agent.camera_stats.summary(agent.clock.monotonic())
        window = agent.camera_stats.window_s
        yield from _gauge("camera_fps", f"Camera frames read per second, last {window} s",
                          summary.fps)  # fmt: skip
        if summary.decode_ms_p50 is not None and summary.decode_ms_p95 is not None:
            family = GaugeMetricFamily(
                f"{PREFIX}_decode_seconds",
                f"QR decoder time per decoded frame, last {window} s, by quantile",
                labels=["quantile"],
            )
            family.add_metric(["0.5"], summary.decode_ms_p50 / 1000.0)
            family.add_metric(["0.95"], summary.decode_ms_p95 / 1000.0)
            yield family

    @staticmethod
    def _trust(agent: Agent) -> Iterator[Metric]:
        view = agent.time_guard.view()
        yield from _gauge("clock_synced", "1 while the station trusts its clock", view.synced)
        now = agent.time_guard.best_now()
        verifier = agent.verifier
        yield from _gauge("trust_version", "Trust list version held", verifier.trust_version)
        yield from _gauge("trust_age_seconds", "Seconds since the held trust list was issued",
                          verifier.trust_age_s(now))  # fmt: skip
        yield from _gauge("revocation_version", "Revocation list version held",
                          verifier.revocation_version)  # fmt: skip
        yield from _gauge("revocation_age_seconds",
                          "Seconds since the held revocation list was issued",
                          verifier.revocation_age_s(now))  # fmt: skip

    @staticmethod
    def _heartbeat(agent: Agent) -> Iterator[Metric]:
        beat = agent.reports.last
        if beat is None:
            return
        yield from _gauge("uptime_seconds", "Agent uptime at the last heartbeat", beat.uptime_s)
        yield from _gauge("cpu_temp_celsius", "SoC temperature at the last heartbeat",
                          beat.cpu_temp_c)  # fmt: skip
        yield from _gauge("disk_used_percent", "Journal filesystem use at the last heartbeat",
                          beat.disk_used_pct)  # fmt: skip
        yield from _gauge("mem_used_percent", "Memory in use at the last heartbeat",
                          beat.mem_used_pct)  # fmt: skip
        yield from _gauge("wifi_dbm", "Wi-Fi signal level at the last heartbeat", beat.wifi_dbm)
        if beat.sensors:
            family = GaugeMetricFamily(
                f"{PREFIX}_sensor",
                "Station sensor readings at the last heartbeat, in the unit the name ends with",
                labels=["sensor"],
            )
            for name, value in sorted(beat.sensors.items()):
                family.add_metric([name], value)
            yield family


class MetricsServer:
    """The HTTP endpoint; `port=0` picks a free port (tests), see `.port`."""

    def __init__(self, agent: Agent, port: int, host: str = "127.0.0.1") -> None:
        self.registry = CollectorRegistry()
        self.registry.register(AgentCollector(agent))
        self.host = host
        self._requested = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("metrics server not started")
        return int(self._server.server_port)

    def start(self) -> None:
        self._server, self._thread = start_http_server(
            self._requested, addr=self.host, registry=self.registry
        )
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
