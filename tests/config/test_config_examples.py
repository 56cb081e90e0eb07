"""The example configs in config/ stay valid as the config models evolve."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.settings import Settings
from edge.config import load_config
from waystation.mosquitto import ACL_PATH

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_station_example_loads() -> None:
    cfg = load_config(CONFIG / "station.example.toml")
    assert cfg.station_id == "sz-0001"
    assert cfg.mqtt.url().tls


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
