"""Station sensors behind one small interface: real Linux/Raspberry Pi drivers live here,
simulated ones in `firmware_sim.sensors`.

A reading is a float in the unit its name ends with (`_c` °C, `_pct` %, `_kwh` kWh, `_dbm`
dBm) or None when the sensor cannot be read right now; a driver never raises, because a
dead fridge probe must not cost the heartbeat that reports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

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
    """Signal level of a Wi-Fi interface in dBm, from /proc/net/wireless."""

    def __init__(self, name: str = "wifi_dbm", interface: str = "wlan0",
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
            if iface.strip() == self.interface:
                fields = rest.split()
                try:
                    return float(fields[2].rstrip("."))  # status, link, level, noise, …
                except (IndexError, ValueError):
                    return None
        return None


def read_all(sensors: Iterable[Sensor]) -> dict[str, float]:
    """Every reading that is available now, by sensor name (missing ones are left out)."""
    readings: dict[str, float] = {}
    for sensor in sensors:
        try:
            value = sensor.read()
        except Exception:  # a third-party driver broke its promise: skip it this time
            value = None
        if value is not None:
            readings[sensor.name] = value
    return readings
