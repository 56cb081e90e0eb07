"""Station agent configuration: a tree of small pydantic models loaded from one TOML file.

`extra="forbid"` everywhere so a typo in the TOML fails at start-up instead of silently
running with a default. Secrets (the MQTT password) may come from the environment or a file
so the TOML can be world-readable; they are resolved when the link starts, not at load time.
One module on purpose (~400 lines): it is the station TOML's whole schema in reading order.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from edge.access.schedule import check_hours
from edge.feedback.config import FeedbackConfig
from edge.footfall.config import FootfallConfig
from edge.sensors import SENSOR_NAME_RE, Ds18b20, Sensor, SysfsValue, ThermalZone
from protocol.broker import BrokerUrl
from protocol.holidays import NO_HOLIDAYS, HolidayCalendar
from protocol.topics import check_sid

PASSWORD_ENV = "WAYSTATION_MQTT_PASSWORD"  # noqa: S105 (a variable name, not a secret)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttConfig(_Model):
    """How the station reaches its broker; the login is per station (ACL `%u` = station id)."""

    broker: str = Field(
        default="mqtt://127.0.0.1:1883",
        min_length=1,
        max_length=500,
        description="broker URL, mqtt://host:port or mqtts://host:port (TLS)",
    )
    username: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="MQTT username; None means the station id (what the ACL expects)",
    )
    password: SecretStr | None = Field(
        default=None, description=f"MQTT password; else ${PASSWORD_ENV}, else password_file"
    )
    password_file: Path | None = Field(
        default=None, description="file whose first line is the MQTT password"
    )
    ca_file: Path | None = Field(
        default=None, description="CA bundle for mqtts://; None uses the system store"
    )
    protocol: Literal[5, 311] = Field(
        default=5, description="MQTT protocol: 5, or 311 (3.1.1) for brokers without v5"
    )
    keepalive_s: int = Field(
        default=20,
        ge=5,
        le=600,
        description="PINGREQ period; the broker declares the station lost after 1.5x this "
        "(keep it above the longest radio cut the map should ignore, 15 s)",
    )
    max_inflight: int = Field(
        # 1000 (was 20): acks come once per ingest batch (~0.2-0.3 s), so the window bounds
        # the drain rate at window / batch cycle: 20 drained a 24 h backlog at ~76 events/s,
        # 1000 at ~3,000/s (benchmarks/drain_backlog.py, issue 9).
        default=1000,
        ge=1,
        le=1000,
        description="journal items published but not yet acked by the cloud",
    )
    ack_timeout_s: float = Field(
        default=60.0,
        ge=1.0,
        le=3600.0,
        description="resend the unacked window if the cloud acks nothing for this long",
    )
    reconnect_min_s: float = Field(
        default=1.0, ge=0.1, le=60.0, description="first reconnect delay, doubled per failure"
    )
    reconnect_max_s: float = Field(
        default=60.0, ge=1.0, le=3600.0, description="reconnect delay ceiling"
    )
    reconnect_jitter: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="each reconnect wait grows by a random 0..this fraction of itself, so a "
        "fleet does not reconnect in lockstep after a broker restart",
    )
    will_delay_s: int = Field(
        default=0,
        ge=0,
        le=3600,
        description="MQTT 5 will delay; 0 sends the will at once and leaves flap tolerance "
        "to the cloud's hold of `lost` (Mosquitto's delayed-will queue lets a later will "
        "hold back earlier ones under churn; see docs/operations.md)",
    )

    @field_validator("broker")
    @classmethod
    def _parse_broker(cls, value: str) -> str:
        BrokerUrl.parse(value)  # ValueError → ValidationError naming the field
        return value

    @model_validator(mode="after")
    def _delays(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s is below reconnect_min_s")
        return self

    def url(self) -> BrokerUrl:
        return BrokerUrl.parse(self.broker)

    def resolve_password(self, env: Mapping[str, str] | None = None) -> str | None:
        """Password from, in order: this config, the environment, password_file, the URL.

        Reads the file, so call it when connecting, not when loading the config.
        """
        if self.password is not None:
            return self.password.get_secret_value()
        env = os.environ if env is None else env
        if env.get(PASSWORD_ENV):
            return env[PASSWORD_ENV]
        if self.password_file is not None:
            lines = self.password_file.read_text(encoding="utf-8").splitlines()
            return lines[0].strip() if lines else ""
        return self.url().password


class DoorConfig(_Model):
    """The lock relay. Fail-secure: the relay de-energised (off) means locked."""

    relay_pin: int = Field(default=17, ge=0, le=53, description="BCM GPIO number")
    active_high: bool = Field(
        default=True, description="False for relay boards that switch on a low input"
    )
    pulse_s: float = Field(
        default=1.5, gt=0.0, le=30.0, description="how long a grant keeps the lock released"
    )
    contact_pin: int | None = Field(
        default=None,
        ge=0,
        le=53,
        description="BCM GPIO of the door contact (reed switch to ground, closed door = low)",
    )
    exit_pin: int | None = Field(
        default=None, ge=0, le=53, description="BCM GPIO of the exit button (to ground)"
    )
    held_open_s: float = Field(
        default=30.0, gt=0.0, le=3600.0, description="door open this long raises held_open"
    )
    open_grace_s: float = Field(
        default=5.0,
        ge=0.0,
        le=60.0,
        description="after a pulse ends, opening still counts as authorised for this long",
    )

    @model_validator(mode="after")
    def _distinct_pins(self) -> DoorConfig:
        pins = [p for p in (self.relay_pin, self.contact_pin, self.exit_pin) if p is not None]
        if len(pins) != len(set(pins)):
            raise ValueError("relay_pin, contact_pin and exit_pin must be different pins")
        return self


class AccessConfig(_Model):
    """Credential checks at the door (DESIGN.md, member credential)."""

    window_s: int = Field(
        default=30, ge=1, le=600, description="how old a presentation may be, seconds"
    )
    skew_s: int = Field(
        default=5, ge=0, le=300, description="extra tolerance for the phone's clock, seconds"
    )
    debounce_s: float = Field(
        default=3.0,
        ge=0.0,
        le=60.0,
        description="the same code (or member and outcome) seen again within this is ignored",
    )
    replay_max_entries: int = Field(
        default=100_000, ge=100, le=10_000_000, description="replay cache cap (~100 B each)"
    )
    trust_dir: Path | None = Field(
        default=None,
        description="holds trust.json, revocations.json, anchor.pem; None: deny everyone",
    )
    clock_file: Path | None = Field(
        default=None,
        description="clock high-water mark file; None: clock.json beside the journal",
    )
    unsynced_max_ahead_s: int = Field(
        default=14 * 86400,
        ge=60,
        le=366 * 86400,
        description="with an unsynchronised clock, how far past the high-water mark a "
        "presentation's own time is believed, seconds (the longest outage to ride out)",
    )


class ScheduleConfig(_Model):
    """Door modes by time of day, OpenStreetMap `opening_hours` rules in the station's zone."""

    free: str | None = Field(
        default=None,
        max_length=500,
        description="when the lock stays released (staffed hours), e.g. 'Mo-Fr 08:00-20:00'",
    )
    members: str | None = Field(
        default="24/7",
        max_length=500,
        description="when a member code opens the door; outside free and members: closed",
    )
    timezone: str = Field(default="Asia/Shanghai", description="IANA zone the rules are in")
    lat: float | None = Field(
        default=None, ge=-90, le=90, description="station latitude, WGS-84 degrees (sun times)"
    )
    lon: float | None = Field(
        default=None, ge=-180, le=180, description="station longitude, WGS-84 degrees"
    )

    @field_validator("free", "members")
    @classmethod
    def _rule(cls, value: str | None) -> str | None:
        check_hours(value)  # ValueError → ValidationError naming the field
        return value

    @model_validator(mode="after")
    def _both_coords(self) -> ScheduleConfig:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together: give both or neither")
        return self

    @property
    def coords(self) -> tuple[float, float] | None:
        return (self.lat, self.lon) if self.lat is not None and self.lon is not None else None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class CameraConfig(_Model):
    """The door camera; `edge run` reads it, tests and the simulator inject their own source."""

    source: str = Field(
        default="0",
        min_length=1,
        max_length=500,
        description="device index (0 = /dev/video0), a video file, or an rtsp:// URL",
    )
    width: int = Field(default=640, ge=160, le=4096, description="requested frame width, px")
    height: int = Field(default=480, ge=120, le=4096, description="requested frame height, px")
    motion_hold_s: float = Field(
        default=3.0,
        ge=0.0,
        le=60.0,
        description="keep decoding this long after motion (a phone held still is still read)",
    )
    idle_decode_every_s: float = Field(
        default=1.0,
        gt=0.0,
        le=60.0,
        description="with no motion, still decode one frame this often (worst-case delay)",
    )
    down_after_s: float = Field(
        default=5.0, gt=0.0, le=600.0, description="no usable frame this long raises camera_down"
    )


def _sensor_name(value: str) -> str:
    if not re.fullmatch(SENSOR_NAME_RE, value) or len(value) > 40:
        raise ValueError(
            f"sensor name {value!r}: lower-case, at most 40 characters, ending in its unit "
            "(_c, _pct, _kwh, _w or _dbm), e.g. fridge_c"
        )
    return value


SensorName = Annotated[str, AfterValidator(_sensor_name)]


class Ds18b20Sensor(_Model):
    """A 1-Wire DS18B20 probe, e.g. in the fridge (`ls /sys/bus/w1/devices/` lists ids)."""

    driver: Literal["ds18b20"]
    name: SensorName = Field(description="e.g. fridge_c")
    device: str = Field(pattern=r"^28-[0-9a-f]{12}$", description="1-Wire id, 28-xxxxxxxxxxxx")

    def build(self) -> Sensor:
        return Ds18b20(self.name, self.device)


class ThermalZoneSensor(_Model):
    """A kernel thermal zone (/sys/class/thermal/thermal_zoneN/temp)."""

    driver: Literal["thermal_zone"]
    name: SensorName = Field(description="e.g. soc_c")
    zone: int = Field(default=0, ge=0, le=255, description="N of thermal_zoneN")

    def build(self) -> Sensor:
        return ThermalZone(self.name, self.zone)


class SysfsSensor(_Model):
    """Any number the kernel exposes in a file (IIO: a DHT22's humidity; hwmon: a power
    monitor), times `scale` (IIO and hwmon files hold milli-units: scale 0.001)."""

    driver: Literal["sysfs"]
    name: SensorName = Field(description="e.g. humidity_pct")
    path: Path = Field(description="file whose content is one number")
    scale: float = Field(default=1.0, description="reading = number in the file × scale")

    def build(self) -> Sensor:
        return SysfsValue(self.name, self.path, self.scale)


SensorConfig = Annotated[
    Ds18b20Sensor | ThermalZoneSensor | SysfsSensor, Field(discriminator="driver")
]


class EdgeConfig(_Model):
    """Everything one station agent needs; built once in main() and passed down."""

    station_id: str = Field(
        default="dev-station",
        min_length=3,
        max_length=40,
        description="[a-z0-9-]{3,40}; also the MQTT client id and username",
    )
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="uplink")
    journal_path: Path = Field(
        default=Path("/var/lib/waystation/journal.db"), description="SQLite outbox file"
    )
    door: DoorConfig = Field(default_factory=DoorConfig, description="lock relay")
    camera: CameraConfig = Field(default_factory=CameraConfig, description="door camera")
    access: AccessConfig = Field(default_factory=AccessConfig, description="credential checks")
    schedule: ScheduleConfig = Field(
        default_factory=ScheduleConfig, description="door modes by time of day"
    )
    holidays: HolidayCalendar = Field(
        default=NO_HOLIDAYS,
        description="public holidays (PH) and make-up working days; the cloud sends them",
    )
    footfall: FootfallConfig = Field(
        default_factory=FootfallConfig, description="people counting (edge/footfall)"
    )
    feedback: FeedbackConfig = Field(
        default_factory=FeedbackConfig, description="LEDs, buzzer, voice at the door"
    )
    telemetry_interval_s: float = Field(
        default=30.0,
        ge=0.1,  # sub-second only makes sense for simulations and tests
        le=3600.0,
        description="heartbeat period, seconds",
    )
    sensors: list[SensorConfig] = Field(
        default_factory=list,
        max_length=32,
        description="station sensors in telemetry, by name; the name ends in its unit "
        "(_c, _pct, _kwh, _w, _dbm)",
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="local Prometheus /metrics port; None: off"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="/metrics bind address: loopback only (no auth)"
    )

    @field_validator("station_id")
    @classmethod
    def _sid(cls, value: str) -> str:
        return check_sid(value)

    @field_validator("sensors")
    @classmethod
    def _unique_sensors(cls, value: list[SensorConfig]) -> list[SensorConfig]:
        names = [s.name for s in value]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"sensor names must be unique: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _pins_once(self) -> EdgeConfig:
        door = self.door
        pins = [p for p in (door.relay_pin, door.contact_pin, door.exit_pin) if p is not None]
        beam = self.footfall.beam
        if beam is not None:
            pins += [beam.pin_a, beam.pin_b]
        if clash := sorted(set(pins) & set(self.feedback.pins)):
            raise ValueError(f"feedback pins {clash} are already used by the door or the beams")
        return self

    @field_validator("metrics_host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        try:
            loopback = value == "localhost" or ipaddress.ip_address(value).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"{value!r} is not a loopback address: /metrics has no login")
        return value

    @property
    def mqtt_username(self) -> str:
        return self.mqtt.username or self.station_id


def load_config(path: Path | str) -> EdgeConfig:
    """Read a station TOML file; raises ValidationError naming the offending key."""
    with Path(path).open("rb") as fh:
        data = tomllib.load(fh)
    return EdgeConfig.model_validate(data)
