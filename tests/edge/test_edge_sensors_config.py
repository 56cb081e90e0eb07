"""`[[sensors]]` in the station TOML: validated at load, built into drivers, read off-loop."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.config import EdgeConfig, load_config
from edge.sensors import Cached, Ds18b20, SensorPoller, SysfsValue, ThermalZone, read_all
from firmware_sim.station import SimStation
from firmware_sim.union import SimUnion
from protocol.registry import StationRecord
from tests.support.wait import wait_for

CONFIG = Path(__file__).resolve().parents[2] / "config"


def load(tmp_path: Path, toml: str) -> EdgeConfig:
    path = tmp_path / "station.toml"
    path.write_text('station_id = "sz-0001"\n' + toml, encoding="utf-8")
    return load_config(path)


def test_array_of_tables_and_inline_lists_both_load(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
[[sensors]]
name = "fridge_c"
driver = "ds18b20"
device = "28-0316a2791aff"

[[sensors]]
name = "board_c"
driver = "thermal_zone"
zone = 1
""")  # fmt: skip
    assert [(s.name, s.driver) for s in cfg.sensors] == [
        ("fridge_c", "ds18b20"),
        ("board_c", "thermal_zone"),
    ]
    inline = load(tmp_path, """sensors = [
  {name = "fridge_c", driver = "ds18b20", device = "28-0316a2791aff"},
  {name = "humidity_pct", driver = "sysfs", path = "/tmp/h", scale = 0.001},
]""")  # fmt: skip
    assert [s.name for s in inline.sensors] == ["fridge_c", "humidity_pct"]
    assert load(tmp_path, "").sensors == []


@pytest.mark.parametrize(
    ("sensors", "says"),
    [
        ('[{name = "fridge", driver = "ds18b20", device = "28-0316a2791aff"}]', "unit"),
        ('[{name = "Fridge_C", driver = "ds18b20", device = "28-0316a2791aff"}]', "unit"),
        ('[{name = "fridge_c", driver = "dht22"}]', "does not match any of the expected tags"),
        ('[{name = "fridge_c", driver = "ds18b20", device = "10-0316a2791aff"}]', "28-"),
        ('[{name = "fridge_c", driver = "ds18b20"}]', "device"),
        ('[{name = "soc_c", driver = "thermal_zone", device = "28-0316a2791aff"}]', "Extra"),
        ('[{name = "soc_c", driver = "thermal_zone", zone = -1}]', "zone"),
        ('[{name = "a_c", driver = "thermal_zone"}, {name = "a_c", driver = "thermal_zone", '
         "zone = 1}]", "unique: a_c"),
    ],
)  # fmt: skip
def test_bad_sensor_config_is_refused_naming_the_problem(
    tmp_path: Path, sensors: str, says: str
) -> None:
    with pytest.raises(ValidationError, match=says) as info:
        load(tmp_path, f"sensors = {sensors}\n")
    assert "sensors" in str(info.value)


def test_drivers_are_built_from_config(tmp_path: Path) -> None:
    w1 = tmp_path / "28-0316a2791aff"
    w1.mkdir()
    (w1 / "w1_slave").write_text(
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=4125\n"
    )
    humidity = tmp_path / "in_humidityrelative_input"
    humidity.write_text("61300\n")
    cfg = load(tmp_path, f"""sensors = [
  {{name = "fridge_c", driver = "ds18b20", device = "28-0316a2791aff"}},
  {{name = "board_c", driver = "thermal_zone", zone = 2}},
  {{name = "humidity_pct", driver = "sysfs", path = "{humidity}", scale = 0.001}},
]""")  # fmt: skip
    built = [s.build() for s in cfg.sensors]
    assert [type(s) for s in built] == [Ds18b20, ThermalZone, SysfsValue]
    assert [s.name for s in built] == ["fridge_c", "board_c", "humidity_pct"]
    probe = built[0]
    assert isinstance(probe, Ds18b20)
    probe.path = w1 / "w1_slave"  # the bus lives under tmp_path in this test
    zone = built[1]
    assert isinstance(zone, ThermalZone)
    assert zone.path == Path("/sys/class/thermal/thermal_zone2/temp")
    zone.path = tmp_path / "temp"
    zone.path.write_text("39500\n")
    assert read_all(built) == {"fridge_c": 4.125, "board_c": 39.5, "humidity_pct": 61.3}


def test_sysfs_value_misreads_are_none(tmp_path: Path) -> None:
    path = tmp_path / "value"
    assert SysfsValue("x_c", path).read() is None  # no file
    path.write_text("not a number\n")
    assert SysfsValue("x_c", path).read() is None
    path.write_text("nan\n")
    assert SysfsValue("x_c", path).read() is None
    path.write_text("-1062\n")
    assert SysfsValue("x_c", path, 0.001).read() == -1.062


def test_the_example_config_documents_every_driver() -> None:
    cfg = load_config(CONFIG / "station.example.toml")
    assert {s.driver for s in cfg.sensors} >= {"ds18b20", "sysfs"}
    assert cfg.metrics_port is not None
    assert cfg.metrics_host == "127.0.0.1"
    for sensor in cfg.sensors:
        assert sensor.build().name == sensor.name


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_metrics_bind_on_loopback(host: str) -> None:
    assert EdgeConfig(metrics_port=9101, metrics_host=host).metrics_host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org", ""])  # noqa: S104
def test_metrics_bind_elsewhere_is_refused(host: str) -> None:
    with pytest.raises(ValidationError, match="loopback"):
        EdgeConfig(metrics_port=9101, metrics_host=host)


def test_metrics_port_range() -> None:
    assert EdgeConfig().metrics_port is None  # off unless asked for
    with pytest.raises(ValidationError, match="metrics_port"):
        EdgeConfig(metrics_port=70000)


class SlowProbe:
    """A DS18B20 as the kernel serves it: every read waits for a conversion."""

    name = "fridge_c"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.reads = 0
        self.value: float | None = 4.0

    def read(self) -> float | None:
        time.sleep(self.seconds)
        self.reads += 1
        return self.value


def test_poller_keeps_slow_probes_off_the_caller() -> None:
    probe = SlowProbe(0.2)
    poller = SensorPoller([probe], every_s=0.05)
    poller.start()  # one round now, so the first heartbeat has a reading
    try:
        assert probe.reads == 1
        start = time.perf_counter()
        assert read_all(poller.sensors) == {"fridge_c": 4.0}
        assert time.perf_counter() - start < 0.05  # the cache, not the probe
        probe.value = None  # the probe died: that shows on the next round
        wait_for(lambda: not read_all(poller.sensors), 5, "the dead probe to show")
        assert read_all(poller.sensors) == {}
    finally:
        poller.stop()
    assert probe.reads >= 2


def test_a_hung_probe_reads_as_missing_not_as_its_last_value() -> None:
    release = threading.Event()

    class Hung:
        name = "fridge_c"

        def read(self) -> float | None:
            release.wait(5)
            return 5.0

    cached = Cached(Hung(), max_age_s=0.1)
    cached._last = (4.0, time.monotonic())  # the last good round
    assert cached.read() == 4.0
    time.sleep(0.15)  # past max_age_s: the last good round is too old now
    assert cached.read() is None
    release.set()
    cached.refresh()
    assert cached.read() == 5.0


def test_poller_without_sensors_starts_no_thread() -> None:
    poller = SensorPoller([])
    poller.start()
    assert poller._thread is None
    poller.stop()


def test_sim_station_still_reports_its_simulated_sensors(tmp_path: Path) -> None:
    record = StationRecord(id="sz-0042", name="Test", lat=22.5, lon=114.0)
    station = SimStation(record, SimUnion.create(3), broker_url=None, workdir=tmp_path)
    assert station.config.sensors == []  # no [[sensors]]: the simulator brings its own
    station.start()
    try:
        beat = station.agent.reports.telemetry()
        assert set(beat.sensors) == {"ambient_c", "humidity_pct", "fridge_c", "energy_kwh"}
    finally:
        station.stop()
