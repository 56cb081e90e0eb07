"""The example configs in config/ stay valid as the config models evolve."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.settings import Settings
from edge.config import load_config
from waystation.mosquitto import (
    ACL_PATH,
    BrokerConf,
    MosquittoProcess,
    TlsFiles,
    cloud_role,
    default_cloud_logins,
    render_acl,
)

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_station_example_loads() -> None:
    cfg = load_config(CONFIG / "station.example.toml")
    assert cfg.station_id == "sz-0001"
    assert cfg.mqtt.url().tls
    assert cfg.feedback.active  # LEDs and buzzer wired, clear of the door's and beams' pins


def test_cloud_example_env_is_a_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for line in (CONFIG / "cloud.example.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            monkeypatch.setenv(key, value)
    settings = Settings()  # type: ignore[call-arg]
    assert settings.db.startswith("postgresql+psycopg://")
    assert settings.shared_subscriptions


def test_acl_covers_every_station_topic_of_the_contract() -> None:
    """The ACL the runner uses is the one in config/, and names each edge→cloud kind."""
    assert ACL_PATH == CONFIG / "mosquitto" / "acl"
    rules = {line.strip() for line in ACL_PATH.read_text().splitlines()}
    writes = {r.removeprefix("pattern write ") for r in rules if r.startswith("pattern write ")}
    kinds = ("state", "meta", "telemetry", "events", "footfall", "cmd_result")
    assert writes == {f"ws/v1/%u/{kind}" for kind in kinds}  # never cmd/, config or ack


def _active(conf: str) -> list[str]:
    return [line.strip() for line in conf.splitlines() if line.strip() and line[0] != "#"]


def _check_login_is_client_id(conf: str) -> None:
    """`use_username_as_clientid true` right after the one `listener` line: it is a listener
    setting in Mosquitto 2.0 (also with per_listener_settings false), and above any listener
    line it silently opens a second, default listener on 1883."""
    lines = _active(conf)
    listeners = [i for i, line in enumerate(lines) if line.startswith("listener ")]
    assert len(listeners) == 1, lines
    assert lines[listeners[0] + 1] == "use_username_as_clientid true", lines
    assert lines.count("use_username_as_clientid true") == 1


@pytest.mark.parametrize("path", [CONFIG / "mosquitto" / "mosquitto.conf"])
def test_shipped_broker_configs_make_the_login_the_client_id(path: Path) -> None:
    """Without it a station logged in with its own password and another station's client id
    pushed that station off the broker and fired its `lost` will. (The compose stack ships
    no config of its own: `provision stack` generates it, tests/docker/test_compose_broker.py.)"""
    _check_login_is_client_id(path.read_text())


def test_generated_broker_configs_make_the_login_the_client_id(
    tmp_path: Path, need_mosquitto: None
) -> None:
    tls = TlsFiles(tmp_path / "ca.crt", tmp_path / "server.crt", tmp_path / "server.key")
    for conf in (BrokerConf(port=1884), BrokerConf(port=8883, tls=tls, run_as="mosquitto")):
        _check_login_is_client_id(conf.render())
    test_broker = MosquittoProcess(tmp_path / "b", users={"cloud-ingest-1": "pw", "sz-1": "pw"})
    _check_login_is_client_id(test_broker.write_config().read_text())


def test_the_repository_acl_is_the_generated_one_for_a_standard_install() -> None:
    """config/mosquitto/acl is what `provision broker` writes for the default logins, and
    gives each cloud login exactly its role's block."""
    logins = default_cloud_logins()
    assert logins == ["cloud-api", "cloud-trust", "cloud-ingest-1", "cloud-ingest-2"]
    assert ACL_PATH.read_text() == render_acl(logins)
    blocks = ACL_PATH.read_text().split("\nuser ")[1:]
    assert {b.split("\n", 1)[0]: cloud_role(b.split("\n", 1)[0]) for b in blocks} == {
        "cloud-api": "api", "cloud-trust": "trust",
        "cloud-ingest-1": "ingest", "cloud-ingest-2": "ingest",
    }  # fmt: skip
    assert cloud_role("sz-0001") is None
    assert cloud_role("cloud") == "admin"  # the one login of earlier releases
