from __future__ import annotations

import pytest
from pydantic import ValidationError

from cloud.settings import Settings


def test_defaults_are_the_embedded_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DB", "BROKER", "MQTT_PROTOCOL", "SHARE_GROUP", "BATCH_MAX"):
        monkeypatch.delenv(f"WAYSTATION_{name}", raising=False)
    s = Settings()
    assert s.db == "sqlite:///waystation.db"
    assert s.broker_url.host == "127.0.0.1"
    assert s.broker_url.port == 1883
    assert s.mqtt_protocol == 5
    assert s.shared_subscriptions


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYSTATION_DB", "postgresql+psycopg://u:p@db/ws")
    monkeypatch.setenv("WAYSTATION_BROKER", "mqtts://cloud:s%40cret@broker.example:8883")
    monkeypatch.setenv("WAYSTATION_MQTT_PROTOCOL", "311")
    monkeypatch.setenv("WAYSTATION_BATCH_MAX", "50")
    monkeypatch.setenv("WAYSTATION_SOMETHING_FOR_THE_EDGE", "ignored")
    s = Settings()
    assert s.db == "postgresql+psycopg://u:p@db/ws"
    assert s.broker_url.tls
    assert s.broker_url.username == "cloud"
    assert s.broker_url.password == "s@cret"
    assert s.mqtt_protocol == 311
    assert s.batch_max == 50
    assert not s.shared_subscriptions  # MQTT 3.1.1 has no shared subscriptions


@pytest.mark.parametrize("blank", ["", "none", "None"])
def test_blank_share_group_means_plain_subscriptions(blank: str) -> None:
    s = Settings(share_group=blank)
    assert s.share_group is None
    assert not s.shared_subscriptions


@pytest.mark.parametrize(
    "field",
    [
        {"broker": "http://broker"},
        {"mqtt_protocol": 4},
        {"share_group": "has/slash"},
        {"heartbeat_grace_intervals": 0.5},
        {"batch_max": 0},
        {"batch_max_wait_s": 0},
        {"no_such_field": 1},
    ],
)
def test_bad_values_are_refused(field: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**field)  # type: ignore[arg-type]
