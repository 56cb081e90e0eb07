"""The agent's local /metrics, scraped over real HTTP."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.agent import Agent, Ports
from edge.config import EdgeConfig, MqttConfig
from edge.hw.relay import GpioRelay
from edge.link.mqtt import Link
from edge.metrics import MetricsServer
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory, set_door
from firmware_sim.scenes import render_empty, render_phone_qr
from firmware_sim.union import SimUnion
from protocol import topics
from tests.support.wait import wait_for
from waystation.mosquitto import MosquittoProcess as Mosquitto

if TYPE_CHECKING:
    from tests.edge.conftest import Watcher

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def served(config: EdgeConfig, clock: SimClock) -> Iterator[tuple[Agent, MetricsServer]]:
    factory = mock_factory()
    agent = Agent(config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock))
    agent.start()
    server = MetricsServer(agent, 0)  # a free port
    server.start()
    yield agent, server
    server.stop()
    agent.stop()
    factory.close()


def test_a_scan_moves_the_counters(
    served: tuple[Agent, MetricsServer], union: SimUnion, clock: SimClock
) -> None:
    agent, server = served
    before = scrape(server.port)
    assert value(before, "waystation_edge_agent_total", counter="granted") is None
    agent.scan_text(union.enroll("m1").present(clock.timestamp()))
    agent.scan_text("https://qr.alipay.com/fkx00001")
    after = scrape(server.port)
    assert value(after, "waystation_edge_agent_total", counter="granted") == 1
    assert value(after, "waystation_edge_agent_total", counter="denied") == 1
    assert value(after, "waystation_edge_decisions_total", reason="granted") == 1
    assert value(after, "waystation_edge_decisions_total", reason="malformed") == 1
    assert value(after, "waystation_edge_journal_backlog") == 3  # two accesses, one unlock
    assert value(after, "waystation_edge_lock", state="unlocked") == 1  # the pulse is running
    assert value(after, "waystation_edge_lock", state="locked") == 0
    assert value(after, "waystation_edge_link_connected") == 0  # offline agent
    assert value(after, "waystation_edge_door_mode", mode="members") == 1
    assert value(after, "waystation_edge_clock_synced") == 1
    assert value(after, "waystation_edge_trust_version") == 1
    assert value(after, "waystation_edge_trust_age_seconds") == 0


def test_camera_sensors_and_host_from_the_agent(
    served: tuple[Agent, MetricsServer], clock: SimClock
) -> None:
    agent, server = served
    samples = scrape(server.port)
    assert value(samples, "waystation_edge_camera_fps") is None  # nothing seen: absent
    assert value(samples, "waystation_edge_sensor", sensor="fridge_c") is None

    class Fridge:
        name = "fridge_c"

        def read(self) -> float | None:
            return 4.5

    agent.reports.parts.sensors = [Fridge()]
    for _ in range(20):
        agent.on_frame(render_empty(rng=np.random.default_rng(5)))
        clock.advance(0.25)
    agent.publish_telemetry()  # sensor and host readings come from the last heartbeat
    samples = scrape(server.port)
    assert value(samples, "waystation_edge_camera_fps") == pytest.approx(4.0, abs=0.3)
    p50 = value(samples, "waystation_edge_decode_seconds", quantile="0.5")
    p95 = value(samples, "waystation_edge_decode_seconds", quantile="0.95")
    assert p50 is not None
    assert p95 is not None
    assert 0 < p50 <= p95 < 5
    assert value(samples, "waystation_edge_sensor", sensor="fridge_c") == 4.5
    assert value(samples, "waystation_edge_uptime_seconds") == pytest.approx(5.0, abs=0.1)
    assert value(samples, "waystation_edge_door", state="unknown") == 1


def test_a_failing_part_leaves_the_rest_of_the_scrape(
    served: tuple[Agent, MetricsServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    agent, server = served

    def closed() -> int:
        raise RuntimeError("journal closed")

    monkeypatch.setattr(agent.journal, "backlog", closed)
    samples = scrape(server.port)
    assert value(samples, "waystation_edge_journal_backlog") is None
    assert value(samples, "waystation_edge_lock", state="locked") == 1
    assert value(samples, "waystation_edge_camera_fps") is None
    assert value(samples, "waystation_edge_trust_version") == 1


def test_listens_on_loopback_only(served: tuple[Agent, MetricsServer]) -> None:
    _, server = served
    assert server.host == "127.0.0.1"
    assert server._server is not None
    assert server._server.server_address[0] == "127.0.0.1"


def test_stop_frees_the_port(config: EdgeConfig, clock: SimClock) -> None:
    factory = mock_factory()
    agent = Agent(config, Ports(relay=GpioRelay(config.door, pin_factory=factory), clock=clock))
    first = MetricsServer(agent, 0)
    first.start()
    port = first.port
    first.stop()
    again = MetricsServer(agent, port)  # the same port is free again
    again.start()
    try:
        assert again.port == port
    finally:
        again.stop()
        factory.close()


def test_link_and_door_state_of_an_online_agent(
    mosquitto: Mosquitto, trust_dir: Path, tmp_path: Path
) -> None:
    config = EdgeConfig(
        station_id="sz-0002",
        journal_path=tmp_path / "online" / "journal.db",
        mqtt=MqttConfig(broker=mosquitto.url, reconnect_min_s=0.2),
        door={"contact_pin": 27},  # type: ignore[arg-type]
        access={"trust_dir": trust_dir},  # type: ignore[arg-type]
    )
    from edge.hw.door_inputs import GpioDoorInputs

    factory = mock_factory()
    ports = Ports(relay=GpioRelay(config.door, pin_factory=factory),
                  door_inputs=GpioDoorInputs(config.door, pin_factory=factory))  # fmt: skip
    agent = Agent(config, ports, uplink=Link)
    agent.start()
    server = MetricsServer(agent, 0)
    server.start()
    try:
        wait_for(lambda: value(scrape(server.port), "waystation_edge_link_connected") == 1)
        set_door(factory, 27, is_open=True)
        agent.poll_door()
        assert value(scrape(server.port), "waystation_edge_door", state="open") == 1
    finally:
        server.stop()
        agent.stop()
        factory.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_edge_run_serves_metrics_and_reports_configured_sensors(
    mosquitto: Mosquitto, tmp_path: Path, watch: Callable[..., Watcher]
) -> None:
    """The real command: `[[sensors]]` built and read off-loop, /metrics on loopback."""
    sid = "sz-metrics"
    union = SimUnion.create(9)  # today's lists: the agent runs on the real clock
    frames = tmp_path / "frames"
    frames.mkdir()
    wallet = union.enroll("m1")
    cv2.imwrite(str(frames / "0.png"), render_phone_qr(wallet.present(int(time.time()))))
    humidity = tmp_path / "in_humidityrelative_input"
    humidity.write_text("61300\n")
    port = free_port()
    config = tmp_path / "station.toml"
    config.write_text(
        f'station_id = "{sid}"\n'
        f'journal_path = "{tmp_path / "journal" / "journal.db"}"\n'
        "telemetry_interval_s = 0.5\n"
        f"metrics_port = {port}\n"
        f'[mqtt]\nbroker = "{mosquitto.url}"\n'
        f'[camera]\nsource = "{frames}"\n'
        f'[access]\ntrust_dir = "{union.write_trust_dir(tmp_path / "trust")}"\n'
        f'[[sensors]]\nname = "humidity_pct"\ndriver = "sysfs"\npath = "{humidity}"\n'
        "scale = 0.001\n",
        encoding="utf-8",
    )
    telemetry = watch(topics.telemetry(sid))
    log_path = tmp_path / "agent.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("waystation")), "edge", "run", "--config",
             str(config), "--simulate-hardware"],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
        try:
            beat = telemetry.wait_for(lambda _t, data, _r: "humidity_pct" in data["sensors"], 30)
            assert beat["sensors"]["humidity_pct"] == 61.3
            assert beat["clock_synced"] in (True, False)
            assert beat["trust_age_s"] >= 0

            def granted() -> bool:
                try:
                    samples = scrape(port)
                except OSError:
                    return False
                return value(samples, "waystation_edge_agent_total", counter="granted") == 1

            wait_for(granted, 30, "a grant on /metrics", interval_s=0.05)
            samples = scrape(port)
            assert value(samples, "waystation_edge_sensor", sensor="humidity_pct") == 61.3
            assert value(samples, "waystation_edge_link_connected") == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert code == 0, log_path.read_text(errors="replace")
    with pytest.raises(urllib.error.URLError):  # the port is closed with the agent
        scrape(port)
