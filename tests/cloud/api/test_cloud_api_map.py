"""The public API's edges: GCJ-02 both ways, the GeoJSON map with ETag, rate and size limits,
and the nearby index following registry changes without a restart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cloud.main import create_app
from cloud.models import Station
from cloud.settings import Settings
from cloud.stations.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02
from cloud.stations.geo import haversine_m
from cloud.stations.registry import import_file

LAT, LON = 31.2304, 121.4737
NEARBY = "/api/v1/stations/nearby"
MAP = "/api/v1/stations.geojson"


def test_gcj02_query_point_and_results_are_converted(
    client: TestClient, add_station: Callable[..., Station]
) -> None:
    add_station("st-a", lat=LAT, lon=LON)
    add_station("st-b", lat=LAT, lon=LON + 0.004)  # ~380 m east
    # A phone on Amap stands on st-a: its GCJ-02 position is ~500 m off the WGS-84 one.
    glat, glon = wgs84_to_gcj02(LAT, LON)
    assert haversine_m(glat, glon, LAT, LON) > 300
    body = client.get(
        NEARBY, params={"lat": glat, "lon": glon, "radius_m": 200, "coord": "gcj02"}
    ).json()
    assert [s["id"] for s in body["stations"]] == ["st-a"]
    st = body["stations"][0]
    assert st["distance_m"] < 0.5
    assert haversine_m(st["lat"], st["lon"], glat, glon) < 0.1
    # the same query read as WGS-84 finds nothing within 200 m
    plain = client.get(NEARBY, params={"lat": glat, "lon": glon, "radius_m": 200}).json()
    assert plain["count"] == 0
    detail = client.get("/api/v1/stations/st-b", params={"coord": "gcj02"}).json()
    assert haversine_m(*gcj02_to_wgs84(detail["lat"], detail["lon"]), LAT, LON + 0.004) < 0.1


def test_geojson_map_with_etag_and_304(
    client: TestClient, add_station: Callable[..., Station], engine: Engine, tmp_path: Path
) -> None:
    add_station("st-a", lat=LAT, lon=LON, amenities=["water", "toilet"])
    first = client.get(MAP)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/geo+json")
    doc = first.json()
    assert doc["type"] == "FeatureCollection"
    [f] = doc["features"]
    assert f["id"] == "st-a"
    assert f["geometry"] == {"type": "Point", "coordinates": [LON, LAT]}
    assert f["properties"]["amenities"] == ["water", "toilet"]
    etag = first.headers["etag"]
    again = client.get(MAP, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    gcj = client.get(MAP, params={"coord": "gcj02"})
    assert gcj.headers["etag"] != etag
    lon_g, lat_g = gcj.json()["features"][0]["geometry"]["coordinates"]
    assert (lat_g, lon_g) == pytest.approx(wgs84_to_gcj02(LAT, LON))
    # a registry change gives a new ETag and the new station
    (tmp_path / "more.geojson").write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","id":"st-b",'
        '"geometry":{"type":"Point","coordinates":[121.48,31.23]},'
        '"properties":{"name":"B"}}]}'
    )
    import_file(engine, tmp_path / "more.geojson")
    changed = client.get(MAP, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert [f["id"] for f in changed.json()["features"]] == ["st-a", "st-b"]


def test_index_follows_registry_changes_without_restart(
    client: TestClient, add_station: Callable[..., Station], engine: Engine, tmp_path: Path
) -> None:
    add_station("st-a", lat=LAT, lon=LON)
    assert client.get(NEARBY, params={"lat": LAT, "lon": LON}).json()["count"] == 1
    index = client.app.state.ctx.index  # type: ignore[attr-defined]
    rebuilds = index.rebuilds
    client.get(NEARBY, params={"lat": LAT, "lon": LON})
    assert index.rebuilds == rebuilds  # unchanged registry: no rebuild
    (tmp_path / "r.csv").write_text(
        "id,name,lat,lon,amenities,opening_hours,operator,address,city\n"
        f"st-b,B,{LAT},{LON + 0.001},water,24/7,,,\n"
        f"st-a,A moved,{LAT + 1},{LON},water,24/7,,,\n"
    )
    import_file(engine, tmp_path / "r.csv")
    body = client.get(NEARBY, params={"lat": LAT, "lon": LON}).json()
    assert [s["id"] for s in body["stations"]] == ["st-b"]
    assert index.rebuilds == rebuilds + 1


@pytest.fixture
def strict_client(db_url: str, engine: Engine, clock: Any) -> Iterator[TestClient]:
    settings = Settings(db=db_url, rate_limit_per_s=1, rate_limit_burst=3)
    with TestClient(create_app(settings, clock=clock)) as c:
        yield c


def test_rate_limit_answers_429_with_retry_after(strict_client: TestClient) -> None:
    params = {"lat": LAT, "lon": LON}
    codes = [strict_client.get(NEARBY, params=params).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = strict_client.get(NEARBY, params=params)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert strict_client.get("/healthz").status_code == 200  # ops probes are not limited


def test_oversized_query_and_body_are_refused(client: TestClient) -> None:
    long = client.get(NEARBY, params={"lat": LAT, "lon": LON, "amenity": ["water"] * 300})
    assert long.status_code == 414
    body = client.request("GET", NEARBY, params={"lat": LAT, "lon": LON}, content=b"x" * 5000)
    assert body.status_code == 413
