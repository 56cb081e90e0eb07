"""`cloud.stations.places`: addresses read into places, outlines, ranking of a search."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from cloud.models import Station
from cloud.stations.index import load_snapshot
from cloud.stations.places import PlaceIndexes, build, city_key, hull, parse_address


@pytest.mark.parametrize(
    ("address", "parts"),
    [
        ("深圳市南山区深南大道123号", ("深圳市", "南山区", "", "深南大道")),
        ("广东省深圳市福田区福华路1号", ("深圳市", "福田区", "", "福华路")),
        ("上海市浦东新区世纪大道100号", ("上海市", "浦东新区", "", "世纪大道")),
        ("宝安区西乡街道宝源路8号", ("", "宝安区", "西乡街道", "宝源路")),
        ("江苏省昆山市玉山镇人民路1号", ("昆山市", "", "玉山镇", "人民路")),
        ("北京市 海淀区 中关村大街1号", ("北京市", "海淀区", "", "中关村大街")),
        ("", ("", "", "", "")),
    ],
)
def test_addresses_are_read_largest_unit_first(
    address: str, parts: tuple[str, str, str, str]
) -> None:
    assert parse_address(address) == parts


def test_city_key_and_hull() -> None:
    assert city_key("深圳市") == city_key("深圳") == "深圳"
    square = [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.5, 0.5), (0.2, 0.7)]
    assert sorted(hull(square)) == [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]
    assert hull([(1.0, 2.0)]) == [(1.0, 2.0)]


def test_index_is_built_per_snapshot_and_ranks_prefix_then_contained(
    engine: Engine, add_station: Callable[..., Station]
) -> None:
    add_station("a", name="南山站", city="深圳", lat=22.5, lon=113.9,
                address="深圳市南山区深南大道1号")  # fmt: skip
    add_station("b", name="山南驿站", city="深圳市", lat=22.6, lon=114.0,
                address="深圳市福田区深南大道9号")  # fmt: skip
    snap = load_snapshot(engine)
    index = build(snap)
    kinds = {(p.kind, p.name): p.stations for p in index.places}
    # 深南大道 runs through two districts: one road place of the city with both stations.
    assert kinds == {
        ("city", "深圳"): 2, ("district", "南山区"): 1, ("district", "福田区"): 1,
        ("road", "深南大道"): 2,
    }  # fmt: skip
    assert [p.name for p in index.search("南山")] == ["南山区", "南山站"]
    assert index.search("深南")[0].kind == "road"
    assert index.search("  ") == []
    cache = PlaceIndexes()
    assert cache.get(snap) is cache.get(snap)
