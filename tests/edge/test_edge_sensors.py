"""Sensor drivers on files laid out exactly as the Linux kernel presents them."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.sensors import Ds18b20, ThermalZone, WifiSignal, read_all


def probe(root: Path, device: str, text: str) -> Path:
    (root / device).mkdir(parents=True, exist_ok=True)
    (root / device / "w1_slave").write_text(text)
    return root


GOOD = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=4125\n"


def test_ds18b20_reads_a_good_conversion(tmp_path: Path) -> None:
    probe(tmp_path, "28-0316a2791aff", GOOD)
    probe(tmp_path, "00-400000000000", "not a thermometer")
    assert Ds18b20.discover(tmp_path) == ["28-0316a2791aff"]
    assert Ds18b20("fridge_c", "28-0316a2791aff", devices=tmp_path).read() == 4.125


@pytest.mark.parametrize(
    "text",
    [
        "72 01 4b 46 7f ff 0e 10 57 : crc=12 NO\n72 01 4b 46 7f ff 0e 10 57 t=4125\n",  # CRC
        "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n",  # power-on
        "ff ff ff ff ff ff ff ff ff : crc=c9 YES\nff ff ff ff ff ff ff ff ff t=-127000\n",  # bus
        "",
        "garbage\n",
    ],
)
def test_ds18b20_bogus_readings_are_none(tmp_path: Path, text: str) -> None:
    probe(tmp_path, "28-0316a2791aff", text)
    assert Ds18b20("fridge_c", "28-0316a2791aff", devices=tmp_path).read() is None


def test_ds18b20_negative_and_missing(tmp_path: Path) -> None:
    probe(tmp_path, "28-0316a2791aff", GOOD.replace("t=4125", "t=-1062"))
    assert Ds18b20("freezer_c", "28-0316a2791aff", devices=tmp_path).read() == -1.062
    assert Ds18b20("gone_c", "28-000000000000", devices=tmp_path).read() is None
    with pytest.raises(ValueError, match="1-Wire"):
        Ds18b20("x_c", "10-0316a2791aff", devices=tmp_path)


def test_thermal_zone_and_wifi(tmp_path: Path) -> None:
    (tmp_path / "thermal_zone0").mkdir()
    (tmp_path / "thermal_zone0" / "temp").write_text("48312\n")
    assert ThermalZone(root=tmp_path).read() == 48.3
    assert ThermalZone(zone=3, root=tmp_path).read() is None
    wireless = tmp_path / "wireless"
    wireless.write_text(
        "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n"
        " face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n"
        " wlan0: 0000   54.  -56.  -256        0      0      0      0      0        0\n"
    )
    assert WifiSignal(path=wireless).read() == -56.0
    assert WifiSignal(interface="wlan1", path=wireless).read() is None


def test_read_all_skips_missing_and_broken_sensors(tmp_path: Path) -> None:
    class Broken:
        name = "broken_c"

        def read(self) -> float | None:
            raise RuntimeError("driver bug")

    probe(tmp_path, "28-0316a2791aff", GOOD)
    sensors = [
        Ds18b20("fridge_c", "28-0316a2791aff", devices=tmp_path),
        ThermalZone(root=tmp_path),  # no such file here
        Broken(),
    ]
    assert read_all(sensors) == {"fridge_c": 4.125}
