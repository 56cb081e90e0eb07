"""Place search without an external geocoder: cities, districts and roads read out of the
registry's own addresses, and the stations' names and addresses themselves.

A worker who will not share a location types `南山区`, `深南大道`, `深圳市南山区科技园` or a
station's name; the answer is a point to search from. Every place is the centre (mean point,
WGS-84) of the registered stations that name it, with how many there are, so it exists only
where stations are. Addresses are read as Chinese addresses are written, largest unit first:
optional province (`…省`/`…自治区`), city (`…市`), district (`…区`/`…县`/`…旗`/county-level
`…市`), subdistrict or town (`…街道`/`…镇`, listed as districts), then a road
(`…大道`/`…路`/`…街`/`…巷`). A city's outline for the map is the convex hull of its stations
(`City.hull`).

Built once per registry snapshot (1.6 s at 200,000 stations, on the first search after a
change) and kept with it; a search scans the places (hundreds to thousands) and, for text of
two or more characters, station names and addresses (p50 3 ms, p99 12 ms at 200,000:
benchmarks/fleet_view.py).
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from cloud.stations.index import RegistryRow, Snapshot

PlaceKind = Literal["city", "district", "road", "station"]
ADDRESS = re.compile(
    r"^(?:[^省]{2,7}省|[^区]{2,10}自治区)?"
    r"(?P<city>[^市区县省]{2,7}市)?"
    r"(?P<district>[^市区县旗路街道\d]{1,8}?(?:区|县|旗|市))?"
    r"(?P<town>[^路街巷号\d]{1,8}?(?:街道|镇))?"
    r"(?P<road>[^路街巷号\d]{1,12}?(?:大道|路|街|巷))?"
)
KIND_ORDER = {"district": 0, "city": 1, "road": 2, "station": 3}
SPECIFIC = {"road": 0, "district": 1, "city": 2}  # for a typed address: the smallest unit first
MAX_STATION_SCAN = 200  # station matches collected before ranking stops looking


class Place(BaseModel):
    """A search answer: a point to search from, WGS-84 degrees."""

    kind: PlaceKind
    name: str = Field(description="the place as written (`南山区`, `深南大道`, a station's name)")
    city: str = Field(description="its city, for telling same-named places apart")
    lat: float
    lon: float
    stations: int = Field(description="registered stations the place stands for (1: a station)")
    station_id: str | None = Field(default=None, description="kind station: its id")


class City(BaseModel):
    """A city on the map from the start: its stations' centre, count and convex hull."""

    name: str
    lat: float
    lon: float
    stations: int
    hull: list[tuple[float, float]] = Field(description="[lat, lon] corners, counter-clockwise")


def city_key(name: str) -> str:
    """`深圳市` and `深圳` are one city."""
    name = name.strip()
    return name[:-1] if len(name) > 2 and name.endswith("市") else name


def parse_address(address: str) -> tuple[str, str, str, str]:
    """(city, district, subdistrict or town, road) as written in the address; empty strings
    where absent."""
    m = ADDRESS.match(re.sub(r"\s+", "", address))
    if m is None:  # pragma: no cover - every part is optional, so it always matches
        return "", "", "", ""
    return m["city"] or "", m["district"] or "", m["town"] or "", m["road"] or ""


def hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull (Andrew's monotone chain) of (lat, lon) points, counter-clockwise."""
    pts = sorted(set(points), key=lambda p: (p[1], p[0]))
    if len(pts) <= 2:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[1] - o[1]) * (b[0] - o[0]) - (a[0] - o[0]) * (b[1] - o[1])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


class _Sum:
    __slots__ = ("label", "lat", "lon", "n")

    def __init__(self, label: str) -> None:
        self.lat = self.lon = 0.0
        self.n = 0
        self.label = label

    def add(self, lat: float, lon: float) -> None:
        self.lat += lat
        self.lon += lon
        self.n += 1


@dataclass(frozen=True, slots=True)
class PlaceIndex:
    snapshot: Snapshot
    places: list[Place]  # cities, districts and roads
    cities: list[City]
    # Every station's "name<TAB>address", case-folded, joined by newlines; and where each
    # station's line starts (by snapshot position).
    station_text: tuple[str, list[int]]

    def search(self, text: str, limit: int = 8) -> list[Place]:
        """Places and stations matching `text`, best first: a place whose name starts with
        the text, then one containing it, then (a full address typed) the most specific
        place the text contains; stations by name or address after places."""
        q = re.sub(r"\s+", "", text).casefold()
        if not q:
            return []
        scored: list[tuple[tuple[int, int, int, int], Place]] = []
        for p in self.places:
            name = p.name.casefold()
            if name.startswith(q) or city_key(name) == q:
                rank = 0
            elif q in name:
                rank = 1
            elif len(name) >= 2 and name in q:
                rank = 2
            else:
                continue
            # A typed address contains its city and district too: the smallest unit it
            # names first (road, then district or town, then city), longer names first.
            if rank == 2:
                scored.append(((rank, SPECIFIC[p.kind], -len(name), -p.stations), p))
            else:
                scored.append(((rank, KIND_ORDER[p.kind], 0, -p.stations), p))
        if len(q) >= 2:
            # Stations by name or address: one C-level scan of the joined text per match
            # (a Python loop over 200,000 rows cost ~60 ms a search).
            text, starts = self.station_text
            rows = self.snapshot.rows
            pos = text.find(q)
            n = 0
            while pos >= 0 and n < MAX_STATION_SCAN:
                i = bisect_right(starts, pos) - 1
                reg = RegistryRow(*rows[i])
                rank = 0 if text.startswith(q, starts[i]) else 1
                station = Place(
                    kind="station", name=reg.name, city=reg.city, lat=reg.lat,
                    lon=reg.lon, stations=1, station_id=reg.id,
                )  # fmt: skip
                scored.append(((3, rank, 0, 0), station))
                n += 1
                nxt = starts[i + 1] if i + 1 < len(starts) else len(text)
                pos = text.find(q, nxt)
        scored.sort(key=lambda sp: sp[0])
        return [p for _, p in scored[:limit]]


def build(snapshot: Snapshot) -> PlaceIndex:
    sums: dict[tuple[str, str, str], _Sum] = {}
    city_points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    city_label: dict[str, str] = {}
    for raw in snapshot.rows:
        reg = RegistryRow(*raw)
        a_city, district, town, road = parse_address(reg.address)
        ck = city_key(reg.city or a_city)
        if not ck:
            continue
        city_label.setdefault(ck, reg.city or a_city)
        city_points[ck].append((reg.lat, reg.lon))
        areas = (("city", ck), ("district", district), ("district", town), ("road", road))
        for kind, name in areas:
            if not name:
                continue
            key = (kind, ck, name)
            s = sums.get(key)
            if s is None:
                s = sums[key] = _Sum(city_label[ck] if kind == "city" else name)
            s.add(reg.lat, reg.lon)
    places = [
        Place(
            kind=kind,  # type: ignore[arg-type]
            name=s.label,
            city=city_label[ck],
            lat=round(s.lat / s.n, 6),
            lon=round(s.lon / s.n, 6),
            stations=s.n,
        )
        for (kind, ck, _), s in sums.items()
    ]
    cities = []
    for ck, pts in city_points.items():
        s = sums[("city", ck, ck)]
        cities.append(
            City(
                name=city_label[ck],
                lat=round(s.lat / s.n, 6),
                lon=round(s.lon / s.n, 6),
                stations=s.n,
                hull=[(round(a, 5), round(b, 5)) for a, b in hull(pts)],
            )
        )
    cities.sort(key=lambda c: -c.stations)
    lines = [f"{row[1]}\t{row[7]}".replace("\n", " ").casefold() for row in snapshot.rows]
    starts: list[int] = []
    at = 0
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    return PlaceIndex(snapshot, places, cities, ("\n".join(lines), starts))


class PlaceIndexes:
    """The place index of the current registry snapshot, built on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: PlaceIndex | None = None

    def get(self, snapshot: Snapshot) -> PlaceIndex:
        with self._lock:
            if self._index is None or self._index.snapshot is not snapshot:
                self._index = build(snapshot)
            return self._index
