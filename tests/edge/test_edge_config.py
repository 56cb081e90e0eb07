from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.config import PASSWORD_ENV, EdgeConfig, MqttConfig, load_config


def test_defaults_are_valid() -> None:
    config = EdgeConfig()
    assert config.mqtt.protocol == 5
    assert config.mqtt.max_inflight == 1000
    assert config.door.relay_pin == 17
    assert config.access.window_s == 30
    assert config.telemetry_interval_s == 30


@pytest.mark.parametrize("sid", ["AB", "trust", "has space", "x" * 41])
def test_bad_station_id_is_refused(sid: str) -> None:
    with pytest.raises(ValidationError):
        EdgeConfig(station_id=sid)


def test_typo_fails_loudly() -> None:
    with pytest.raises(ValidationError, match="relay_pn"):
        EdgeConfig.model_validate({"door": {"relay_pn": 4}})


def test_bad_broker_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="broker"):
        MqttConfig(broker="http://example.org")


def test_load_config_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(
        'station_id = "sz-0042"\n'
        f'journal_path = "{tmp_path / "j.db"}"\n'
        "[mqtt]\n"
        'broker = "mqtts://broker.example:8883"\n'
        "protocol = 311\n"
        "[door]\n"
        "pulse_s = 2.5\n"
        "active_high = false\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.station_id == "sz-0042"
    assert config.mqtt.url().tls
    assert config.mqtt.protocol == 311
    assert config.door.pulse_s == 2.5
    assert not config.door.active_high
    assert config.mqtt_username == "sz-0042"


def test_password_sources_in_order(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    url_only = MqttConfig(broker="mqtt://u:from-url@h:1883")
    assert url_only.resolve_password(env={}) == "from-url"
    with_file = MqttConfig(broker="mqtt://h", password_file=secret)
    assert with_file.resolve_password(env={}) == "from-file"
    assert with_file.resolve_password(env={PASSWORD_ENV: "from-env"}) == "from-env"
    explicit = MqttConfig(password="inline", password_file=secret)
    assert explicit.resolve_password(env={PASSWORD_ENV: "from-env"}) == "inline"
    assert "inline" not in repr(explicit)


def test_door_scanner_keys_load_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(
        """
station_id = "sz-0002"
[door]
contact_pin = 27
exit_pin = 22
held_open_s = 45
[camera]
source = "rtsp://cam/stream"
motion_hold_s = 2
idle_decode_every_s = 0.5
down_after_s = 10
[access]
unsynced_max_ahead_s = 86400
[schedule]
free = "Mo-Fr 08:00-20:00"
members = "Mo-Fr 20:00-24:00; Sa,Su 00:00-24:00"
timezone = "Asia/Urumqi"
""",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert (cfg.door.contact_pin, cfg.door.exit_pin, cfg.door.held_open_s) == (27, 22, 45.0)
    assert cfg.camera.down_after_s == 10.0
    assert cfg.schedule.timezone == "Asia/Urumqi"
    assert cfg.access.unsynced_max_ahead_s == 86400


def test_schedule_typo_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text('[schedule]\nfree = "Mo-Fr 8-20"\n', encoding="utf-8")
    with pytest.raises(ValidationError, match="free"):
        load_config(path)


def test_feedback_section_loads_and_builds_the_player_command(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(
        'station_id = "sz-0042"\n'
        "[feedback]\ngreen_pin = 23\nred_pin = 24\nbuzzer_pin = 25\nvoice = true\n"
        f'audio_dir = "{tmp_path / "my voice"}"\n'
        'player = "pw-play --volume {volume} {file}"\nvolume = 0.5\n',
        encoding="utf-8",
    )
    cues = load_config(path).feedback
    assert cues.active
    wav = tmp_path / "my voice" / "welcome.wav"
    assert cues.player_command(wav) == ["pw-play", "--volume", "0.5", str(wav)]  # one word
    assert EdgeConfig().feedback.player_command(wav) == ["aplay", "-q", str(wav)]
    no_field = EdgeConfig.model_validate({"feedback": {"player": "paplay"}}).feedback
    assert no_field.player_command(wav) == ["paplay", str(wav)]  # the file goes last


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"green_pin": 17}, "already used by the door"),  # the relay's default pin
        ({"red_pin": 27}, "already used by the door"),
        ({"green_pin": 23, "buzzer_pin": 23}, "different pins"),
        ({"player": "aplay {path}"}, "player"),
        ({"player": "aplay '{file}"}, "player"),
        ({"volume": 2}, "volume"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_feedback_section_names_the_problem(section: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        EdgeConfig.model_validate({"door": {"contact_pin": 27}, "feedback": section})
