"""Host metrics for the heartbeat, read from /proc and /sys (Linux) without psutil.

Every reader returns None where the platform does not have the file, so telemetry works on a
developer laptop too.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from edge.sensors import WIRELESS, WifiSignal

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")  # the SoC sensor on a Pi
MEMINFO = Path("/proc/meminfo")


def load1() -> float | None:
    """1-minute load average."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def mem_used_pct(meminfo: Path = MEMINFO) -> float | None:
    """Memory in use (MemTotal − MemAvailable) as a percentage."""
    try:
        fields = {}
        for line in meminfo.read_text().splitlines():
            name, _, rest = line.partition(":")
            fields[name] = int(rest.split()[0])
        total, available = fields["MemTotal"], fields["MemAvailable"]
    except (OSError, KeyError, ValueError, IndexError):
        return None
    return round(100.0 * (total - available) / total, 1) if total > 0 else None


def disk_used_pct(path: Path) -> float | None:
    """Use of the filesystem holding `path` (the journal's), as a percentage."""
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    return round(100.0 * usage.used / usage.total, 1) if usage.total > 0 else None


def cpu_temp_c(zone: Path = THERMAL_ZONE) -> float | None:
    """SoC temperature in °C (the file holds millidegrees)."""
    try:
        return round(int(zone.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def wifi_dbm(path: Path = WIRELESS) -> float | None:
    """Signal level of the station's Wi-Fi (the first interface in /proc/net/wireless), dBm."""
    return WifiSignal(interface=None, path=path).read()
