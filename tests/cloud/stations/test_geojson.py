"""`cloud.stations.geojson`: stations as RFC 7946 Point features, one per line, read back with each
element's line number; errors name the line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloud.stations.geojson import PROPERTIES, GeoJSONError, dumps, feature, features_with_lines


def record(sid: str, lat: float = 31.23, lon: float = 121.47) -> dict[str, Any]:
    return {
        "id": sid,
        "name": f"驿站 {sid}",
        "lat": lat,
        "lon": lon,
        "amenities": ["water"],
        "opening_hours": "24/7",
        "operator": "工会",
        "address": "人民路 1 号",
        "city": "上海",
    }


def test_a_feature_puts_lon_before_lat_and_the_rest_in_properties() -> None:
    f = feature(record("st-1"))
    assert f["type"] == "Feature"
    assert f["id"] == "st-1"
    assert f["geometry"] == {"type": "Point", "coordinates": [121.47, 31.23]}
    assert set(f["properties"]) == set(PROPERTIES)
    assert not {"id", "lat", "lon"} & set(f["properties"])


def test_coords_maps_lat_lon_for_another_datum() -> None:
    f = feature(record("st-1"), coords=lambda lat, lon: (lat * 2, lon * 10))
    assert f["geometry"]["coordinates"] == [1214.7, 62.46]


def test_dumps_writes_one_feature_per_line_as_utf8() -> None:
    raw = dumps(iter([feature(record("st-1")), feature(record("st-2"))]))
    lines = raw.decode().splitlines()
    assert lines[0] == '{"type": "FeatureCollection", "features": ['
    assert json.loads(lines[1].rstrip(","))["id"] == "st-1"
    assert json.loads(lines[2])["id"] == "st-2"
    assert "驿站" in raw.decode()  # not \u escapes
    doc = json.loads(raw)
    assert [f["id"] for f in doc["features"]] == ["st-1", "st-2"]


def test_an_empty_collection_is_valid_json() -> None:
    assert json.loads(dumps(iter([]))) == {"type": "FeatureCollection", "features": []}
    assert list(features_with_lines(dumps(iter([])).decode())) == []


def test_what_dumps_writes_reads_back_with_line_numbers() -> None:
    features = [feature(record(f"st-{i}")) for i in range(3)]
    read = list(features_with_lines(dumps(iter(features)).decode()))
    assert [line for line, _ in read] == [2, 3, 4]
    assert [f for _, f in read] == features


def test_line_numbers_follow_any_layout() -> None:
    text = json.dumps(
        {"type": "FeatureCollection", "features": [{"id": "a"}, {"id": "b"}]}, indent=2
    )
    read = list(features_with_lines(text))
    assert [f["id"] for _, f in read] == ["a", "b"]
    for line, f in read:
        assert f'"{f["id"]}"' in text.splitlines()[line]  # the element starts a line above its id


def test_a_features_key_inside_a_property_does_not_confuse_the_reader() -> None:
    text = (
        '{"type": "FeatureCollection", "name": {"features": [1]},\n"features": [\n{"id": "a"}\n]}'
    )
    assert list(features_with_lines(text)) == [(3, {"id": "a"})]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type": "FeatureCollection",\n"features": [\n{"id": 1},,\n]}', "line 3: not JSON"),
        ("[]", "line 1: expected"),
        ('{"type": "Feature"}', "line 1: expected"),
        ('{"type": "FeatureCollection", "features": {}}', "`features` must be a list"),
        ("", "line 1: not JSON"),
    ],
)
def test_bad_documents_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(GeoJSONError, match=message) as exc:
        list(features_with_lines(text))
    assert len(exc.value.errors) == 1
    assert isinstance(exc.value, ValueError)
