"""Station sensors behind one small interface: real Linux/Raspberry Pi drivers live here,
simulated ones in `firmware_sim.sensors`.

A reading is a float in the unit its name ends with (`_c` °C, `_pct` %, `_kwh` kWh, `_w` W,
`_dbm` dBm) or None when the sensor cannot be read right now; a driver never raises, because a
dead fridge probe must not cost the heartbeat that reports it.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

# A sensor's name ends in its unit: °C, %, kWh, W, dBm.
SENSOR_NAME_RE = r"^[a-z][a-z0-9_]*_(c|pct|kwh|w|dbm)$"
W1_DEVICES = Path("/sys/bus/w1/devices")
WIRELESS = Path("/proc/net/wireless")
# DS18B20 answers 85.000 °C when it was read before a conversion finished (power-on value):
# a known bogus reading, treated as no reading.
DS18B20_POWER_ON_MILLI_C = 85000
# -127 °C / 0x800 is what a disconnected 1-Wire bus reads as.
DS18B20_DISCONNECTED_MILLI_C = -127000


@runtime_checkable
class Sensor(Protocol):
    name: str

    def read(self) -> float | None: ...


class Ds18b20:
    """A 1-Wire DS18B20 probe (e.g. in the 冷鲜柜 fridge) through the w1-gpio kernel driver.

    Reads `w1_slave`: line 1 ends in YES when the CRC matched, line 2 holds `t=<milli °C>`.
    """

    def __init__(self, name: str, device_id: str, *, devices: Path = W1_DEVICES) -> None:
        if not re.fullmatch(r"28-[0-9a-f]{12}", device_id):
            raise ValueError(f"not a DS18B20 1-Wire id: {device_id!r} (expected 28-xxxxxxxxxxxx)")
        self.name = name
        self.path = devices / device_id / "w1_slave"

    def read(self) -> float | None:
        try:
            crc_line, data_line = self.path.read_text().splitlines()[:2]
        except (OSError, ValueError):
            return None
        if not crc_line.strip().endswith("YES"):
            return None  # CRC failure: noise on the bus, try again next heartbeat
        match = re.search(r"t=(-?\d+)", data_line)
        if match is None:
            return None
        milli = int(match.group(1))
        if milli in (DS18B20_POWER_ON_MILLI_C, DS18B20_DISCONNECTED_MILLI_C):
            return None
        return milli / 1000.0  # the driver already reports the 1/16 °C steps exactly

    @staticmethod
    def discover(devices: Path = W1_DEVICES) -> list[str]:
        """Ids of the DS18B20 probes on the bus (family code 28)."""
        try:
            return sorted(p.name for p in devices.iterdir() if p.name.startswith("28-"))
        except OSError:
            return []


class ThermalZone:
    """A kernel thermal zone (the Pi's SoC sensor is thermal_zone0), millidegrees in the file."""

    def __init__(self, name: str = "cpu_c", zone: int = 0,
                 *, root: Path = Path("/sys/class/thermal")) -> None:  # fmt: skip
        self.name = name
        self.path = root / f"thermal_zone{zone}" / "temp"

    def read(self) -> float | None:
        try:
            return round(int(self.path.read_text().strip()) / 1000.0, 1)
        except (OSError, ValueError):
            return None


class WifiSignal:
    """Signal level of a Wi-Fi interface in dBm, from /proc/net/wireless (interface None: the
    first one listed)."""

    def __init__(self, name: str = "wifi_dbm", interface: str | None = "wlan0",
                 *, path: Path = WIRELESS) -> None:  # fmt: skip
        self.name = name
        self.interface = interface
        self.path = path

    def read(self) -> float | None:
        try:
            lines = self.path.read_text().splitlines()[2:]  # two header lines
        except OSError:
            return None
        for line in lines:
            iface, _, rest = line.partition(":")
            if self.interface is None or iface.strip() == self.interface:
                fields = rest.split()
                try:
                    return float(fields[2].rstrip("."))  # status, link, level, noise, …
                except (IndexError, ValueError):
                    return None
        return None


class SysfsValue:
    """One number from a kernel file times `scale`: IIO (a DHT22 on the dht11 overlay:
    in_temp_input, in_humidityrelative_input, milli-units) or hwmon (power1_input, µW)."""

    def __init__(self, name: str, path: Path, scale: float = 1.0) -> None:
        self.name = name
        self.path = path
        self.scale = scale

    def read(self) -> float | None:
        try:
            value = float(self.path.read_text().strip()) * self.scale
        except (OSError, ValueError):  # the DHT driver answers EIO when a read times out
            return None
        return round(value, 3) if math.isfinite(value) else None


class Cached:
    """The latest reading `SensorPoller` took of `sensor`; None once older than `max_age_s`
    (a probe hung in the kernel must show as missing, not as its last good value)."""

    def __init__(self, sensor: Sensor, max_age_s: float) -> None:
        self.name = sensor.name
        self.sensor = sensor
        self.max_age_s = max_age_s
        self._last: tuple[float | None, float] = (None, -math.inf)  # value, monotonic time

    def refresh(self) -> None:
        try:
            value = self.sensor.read()
        except Exception:  # a driver that broke its promise
            value = None
        self._last = (value, time.monotonic())

    def read(self) -> float | None:
        value, at = self._last
        return value if time.monotonic() - at <= self.max_age_s else None


class SensorPoller:
    """Reads the sensors on its own thread every `every_s`, so the heartbeat (built in the
    door loop) never waits: the w1 kernel driver runs a DS18B20 conversion on every read of
    `w1_slave`, ~750 ms per probe. Hand `.sensors` to the agent in place of the real ones."""

    def __init__(self, sensors: Iterable[Sensor], every_s: float = 10.0) -> None:
        self.every_s = every_s
        self.sensors: list[Cached] = [Cached(s, max_age_s=3 * every_s + 5) for s in sensors]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        for sensor in self.sensors:
            sensor.refresh()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.poll_once()

    def start(self) -> None:
        """One round now (so the first heartbeat has readings), then every `every_s`."""
        if self.sensors and self._thread is None:
            self.poll_once()
            self._thread = threading.Thread(target=self._run, name="sensors", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def read_all(sensors: Iterable[Sensor]) -> dict[str, float]:
    """Every reading that is available now, by sensor name (missing or non-finite ones are
    left out)."""
    readings: dict[str, float] = {}
    for sensor in sensors:
        try:
            value = sensor.read()
        except Exception:  # a third-party driver broke its promise: skip it this time
            value = None
        if value is not None and math.isfinite(value):  # NaN would not survive JSON
            readings[sensor.name] = value
    return readings
