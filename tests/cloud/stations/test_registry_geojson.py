"""Registry import/export as GeoJSON: round trip, line-numbered errors, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from cloud.db import session
from cloud.models import Station
from cloud.stations.registry import RegistryError, export_file, import_file

CSV = (
    "id,name,lat,lon,amenities,opening_hours,operator,address,city\n"
    "st-001,人民广场驿站,31.2304,121.4737,water;microwave,24/7,上海市总工会,人民大道1号,上海\n"
    'st-002,"Bund, south",31.24,121.49,toilet,"Mo-Su 08:00-20:00",,,上海\n'
)


def _feature(sid: str, lon: float, lat: float, **props: object) -> str:
    return json.dumps(
        {
            "type": "Feature",
            "id": sid,
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"name": f"Station {sid}"} | props,
        },
        ensure_ascii=False,
    )


def _all(engine: Engine) -> dict[str, Station]:
    with session(engine) as s:
        return {st.id: st for st in s.exec(select(Station))}


def test_csv_to_geojson_and_back_round_trips(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(CSV, encoding="utf-8")
    import_file(engine, tmp_path / "in.csv")
    assert export_file(engine, tmp_path / "out.geojson") == 2
    doc = json.loads((tmp_path / "out.geojson").read_text(encoding="utf-8"))
    assert doc["features"][0]["geometry"]["coordinates"] == [121.4737, 31.2304]
    assert doc["features"][0]["properties"]["amenities"] == ["water", "microwave"]
    before = _all(engine)
    with session(engine) as s:  # wipe and re-import from the GeoJSON
        for st in s.exec(select(Station)):
            s.delete(st)
    report = import_file(engine, tmp_path / "out.geojson")
    assert report.created == 2
    after = _all(engine)
    fields = ("name", "lat", "lon", "amenities", "opening_hours", "operator", "address", "city")
    for sid, st in before.items():
        assert {f: getattr(after[sid], f) for f in fields} == {f: getattr(st, f) for f in fields}
    export_file(engine, tmp_path / "again.csv")
    # csv quotes only where needed: the hours lose their (optional) quotes; the export is
    # Excel's CSV (BOM, CRLF) with the optional columns (capacity, entrance_hint,
    # contact_phone), blank here
    expected = CSV.replace('"Mo', "Mo").replace('00",', "00,").replace("\n", ",,,\r\n")
    optional = "city,capacity,entrance_hint,contact_phone"
    assert (tmp_path / "again.csv").read_bytes() == (
        "\ufeff" + expected.replace("city,,,", optional, 1)
    ).encode()


def test_every_bad_feature_is_named_by_line_and_nothing_is_written(
    engine: Engine, tmp_path: Path
) -> None:
    lines = [
        '{"type": "FeatureCollection", "features": [',
        _feature("st-ok", 121.47, 31.23) + ",",
        _feature("st-lat", 121.47, 95.0) + ",",  # line 3: latitude out of range
        _feature("st-am", 121.47, 31.23, amenities=["jacuzzi"]) + ",",  # line 4
        '{"type": "Feature", "id": "st-geo", "geometry": {"type": "LineString", '
        '"coordinates": [[1, 2], [3, 4]]}, "properties": {"name": "x"}},',  # line 5
        _feature("st-oh", 121.47, 31.23, opening_hours="Mo-Xx 08:00") + ",",  # line 6
        _feature("st-ok", 121.48, 31.23),  # line 7: duplicate of line 2
        "]}",
    ]
    path = tmp_path / "bad.geojson"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(RegistryError) as err:
        import_file(engine, path)
    got = err.value.errors
    assert [e.split(":")[0] for e in got] == [f"line {n}" for n in (3, 4, 5, 6, 7)]
    assert "lat" in got[0]
    assert "jacuzzi" in got[1]
    assert "Point" in got[2]
    assert "opening_hours" in got[3]
    assert "duplicate id 'st-ok' (first on line 2)" in got[4]
    assert _all(engine) == {}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{"type": "FeatureCollection",\n "features": [\n {"type": ', 3),
        ('{"type": "Feature"}', 1),
        ('{"type": "FeatureCollection", "features": {}}', 1),
    ],
)
def test_broken_documents_are_refused_with_a_line(
    engine: Engine, tmp_path: Path, text: str, line: int
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as err:
        import_file(engine, path)
    assert err.value.errors[0].startswith(f"line {line}:")
