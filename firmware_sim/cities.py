"""Simulated station records around real cities (WGS-84), in the style of real
户外劳动者服务站 listings: Chinese names, operators and addresses, opening hours, amenities.

`make_records` scatters stations around district centres; the same seed gives the same list.
`write_registry_csv` / `read_registry_csv` are the registry CSV that `stations import` reads.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from protocol.registry import CSV_COLUMNS, StationRecord


@dataclass(frozen=True)
class City:
    name: str  # Chinese, as in addresses: 深圳市
    prefix: str  # station id prefix
    centre: tuple[float, float]  # WGS-84 lat, lon of the city centre
    districts: tuple[tuple[str, float, float], ...]  # name, lat, lon of its centre
    roads: tuple[str, ...]
    subdistricts: tuple[str, ...]  # 街道, for operator names


CITIES: dict[str, City] = {
    "shenzhen": City(
        "深圳市",
        "sz",
        (22.5431, 114.0579),
        (
            ("福田区", 22.5431, 114.0579),
            ("罗湖区", 22.5484, 114.1316),
            ("南山区", 22.5333, 113.9305),
            ("宝安区", 22.5553, 113.8836),
            ("龙华区", 22.6967, 114.0447),
            ("龙岗区", 22.7205, 114.2466),
        ),
        ("深南大道", "福华路", "红荔路", "滨河大道", "北环大道", "彩田路", "新洲路", "益田路"),
        ("莲花街道", "华富街道", "沙头街道", "南园街道", "粤海街道", "新安街道"),
    ),
    "beijing": City(
        "北京市",
        "bj",
        (39.9042, 116.4074),
        (
            ("东城区", 39.9288, 116.4160),
            ("西城区", 39.9123, 116.3660),
            ("朝阳区", 39.9215, 116.4436),
            ("海淀区", 39.9593, 116.2981),
            ("丰台区", 39.8585, 116.2871),
        ),
        ("长安街", "建国路", "朝阳北路", "中关村大街", "西直门外大街", "东三环中路"),
        ("建国门街道", "金融街街道", "三里屯街道", "中关村街道", "望京街道"),
    ),
    "shanghai": City(
        "上海市",
        "sh",
        (31.2304, 121.4737),
        (
            ("黄浦区", 31.2317, 121.4846),
            ("静安区", 31.2291, 121.4482),
            ("徐汇区", 31.1885, 121.4365),
            ("长宁区", 31.2204, 121.4243),
            ("浦东新区", 31.2215, 121.5447),
            ("杨浦区", 31.2595, 121.5260),
        ),
        ("南京东路", "淮海中路", "世纪大道", "延安西路", "四川北路", "肇嘉浜路"),
        ("外滩街道", "南京西路街道", "徐家汇街道", "陆家嘴街道", "五角场街道"),
    ),
    "hangzhou": City(
        "杭州市",
        "hz",
        (30.2741, 120.1551),
        (
            ("上城区", 30.2426, 120.1691),
            ("拱墅区", 30.3197, 120.1420),
            ("西湖区", 30.2592, 120.1300),
            ("滨江区", 30.2084, 120.2120),
            ("余杭区", 30.4190, 120.3000),
        ),
        ("延安路", "文三路", "天目山路", "江南大道", "莫干山路", "解放路"),
        ("湖滨街道", "米市巷街道", "西溪街道", "西兴街道", "五常街道"),
    ),
}

KINDS = ("户外劳动者服务站", "工会驿站", "劳动者港湾", "爱心驿站")
COMPANIES = ("顺丰速运", "美团", "饿了么", "中国石化", "中国邮政", "京东物流", "招商银行")
# Share of stations offering each amenity; water and seats are what makes it a station.
AMENITY_P = {
    "water": 1.0,
    "microwave": 0.7,
    "fridge": 0.35,
    "charging": 0.9,
    "toilet": 0.6,
    "mother_baby": 0.15,
    "first_aid": 0.55,
    "rest_seats": 1.0,
    "air_conditioning": 0.8,
}
DISTRICT_SPREAD_M = 1800.0  # standard deviation of a station's distance from its district
_M_PER_DEG_LAT = 111_320.0


def _operator(city: City, district: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice((f"{city.name}总工会", f"{district}总工会"))
    if roll < 0.8:
        return f"{district}{rng.choice(city.subdistricts)}办事处"
    return f"{rng.choice(COMPANIES)}{city.name[:-1]}分公司"


def _hours(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.75:
        return "24/7"
    return "Mo-Su 07:00-22:00" if roll < 0.92 else "Mo-Su 08:00-20:00"


def make_records(n: int, *, seed: int = 0, city: str = "shenzhen") -> list[StationRecord]:
    """`n` stations around `city` (shenzhen, beijing, shanghai, hangzhou); same seed, same list."""
    try:
        c = CITIES[city]
    except KeyError:
        raise ValueError(f"unknown city {city!r}; known: {', '.join(CITIES)}") from None
    rng = random.Random(f"waystation-fleet-{city}-{seed}")
    counters: dict[tuple[str, str], int] = {}
    records = []
    for i in range(1, n + 1):
        district, dlat, dlon = rng.choice(c.districts)
        north = rng.gauss(0.0, DISTRICT_SPREAD_M)
        east = rng.gauss(0.0, DISTRICT_SPREAD_M)
        lat = dlat + north / _M_PER_DEG_LAT
        lon = dlon + east / (_M_PER_DEG_LAT * math.cos(math.radians(dlat)))
        kind = rng.choice(KINDS)
        number = counters[(district, kind)] = counters.get((district, kind), 0) + 1
        amenities = [a for a, p in AMENITY_P.items() if rng.random() < p]
        records.append(
            StationRecord(
                id=f"{c.prefix}-{i:04d}",
                name=f"{district}{kind} #{number}",
                lat=round(lat, 6),
                lon=round(lon, 6),
                amenities=amenities,
                opening_hours=_hours(rng),
                operator=_operator(c, district, rng),
                address=f"{c.name}{district}{rng.choice(c.roads)}{rng.randint(1, 3999)}号",
                city=c.name,
            )
        )
    return records


def write_registry_csv(records: Iterable[StationRecord], path: Path | str) -> Path:
    """Write the registry CSV (`CSV_COLUMNS`, UTF-8) that `stations import` reads."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow(record.csv_row())
    return path


def read_registry_csv(path: Path | str) -> list[StationRecord]:
    with Path(path).open(encoding="utf-8", newline="") as fh:
        return [StationRecord.model_validate(row) for row in csv.DictReader(fh)]
