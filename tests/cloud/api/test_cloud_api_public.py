from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.models import Station, StationState

# Stations on a line east of the query point (People's Square, Shanghai), ~95 m per 0.001°.
LAT, LON = 31.2304, 121.4737
NEARBY = "/api/v1/stations/nearby"


@pytest.fixture
def fleet(
    add_station: Callable[..., Station], set_state: Callable[..., StationState], clock: Any
) -> Callable[..., None]:
    """Add a station `dx` thousandths of a degree east, online and healthy unless told."""

    def add(sid: str, dx: float, *, state: dict[str, Any] | None = None, **fields: Any) -> None:
        add_station(sid, lat=LAT, lon=LON + dx / 1000, **fields)
        values = {
            "status": "online",
            "sess": 1,
            "status_at": clock.now - timedelta(hours=1),
            "last_heartbeat": clock.now - timedelta(seconds=10),
            "heartbeat_interval_s": 30.0,
            "door": "closed",
            "lock": "locked",
            "occupancy": 2,
        } | (state or {})
        set_state(sid, **values)

    return add


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["stations"])
    return [s["id"] for s in body["stations"]]


@pytest.mark.usefixtures("library_classes")
def test_nearby_sorted_by_distance_with_the_documented_fields(
    client: TestClient, fleet: Callable[..., None]
) -> None:
    fleet("st-far", 30, amenities=["water", "toilet"], opening_hours="Mo-Su 08:00-20:00")
    fleet("st-near", 5)
    fleet("st-mid", 10)
    fleet("st-outside", 100)  # ~9.5 km: outside the default 5 km
    response = client.get(NEARBY, params={"lat": LAT, "lon": LON})
    assert ids(response) == ["st-near", "st-mid", "st-far"]
    far = response.json()["stations"][2]
    assert far["distance_m"] == pytest.approx(2_856, rel=0.01)
    assert far["open_now"] is True
    assert far["status"] == "online"
    assert far["closes_at"] == "2025-06-02T12:00:00Z"  # 20:00 Shanghai
    assert far["opens_at"] is None
    assert far["occupancy"] == 2
    assert far["amenities"] == ["water", "toilet"]
    for key in ("id", "name", "lat", "lon", "opening_hours", "address", "city", "operator"):
        assert key in far


@pytest.mark.usefixtures("library_classes")
def test_radius_and_limit(client: TestClient, fleet: Callable[..., None]) -> None:
    for i in range(1, 6):
        fleet(f"st-{i:03d}", i)
    assert ids(client.get(NEARBY, params={"lat": LAT, "lon": LON, "limit": 2})) == [
        "st-001",
        "st-002",
    ]
    # 0.001° of longitude is ~95 m here: 250 m keeps two
    assert len(ids(client.get(NEARBY, params={"lat": LAT, "lon": LON, "radius_m": 250}))) == 2


@pytest.mark.usefixtures("library_classes")
def test_amenity_filter_needs_all_listed(client: TestClient, fleet: Callable[..., None]) -> None:
    fleet("st-water", 1, amenities=["water"])
    fleet("st-both", 2, amenities=["water", "microwave"])
    params = {"lat": LAT, "lon": LON, "amenity": ["water", "microwave"]}
    assert ids(client.get(NEARBY, params=params)) == ["st-both"]


@pytest.mark.usefixtures("library_classes")
def test_status_open_keeps_only_stations_open_now(
    client: TestClient, fleet: Callable[..., None], clock: Any
) -> None:
    fleet("st-open", 1)
    fleet("st-stale-ok", 2, state={"last_heartbeat": clock.now - timedelta(seconds=200)})
    fleet("st-stale-gone", 3, state={"last_heartbeat": clock.now - timedelta(hours=1)})
    fleet("st-lost", 4, state={"status": "lost"})
    fleet("st-closed", 5, opening_hours="Mo-Su 20:00-23:00")
    fleet("st-maint", 6, maintenance=True)
    fleet("st-fault", 7, state={"lock": "fault"})
    fleet("st-degraded", 8, state={"status": "degraded"})
    base = {"lat": LAT, "lon": LON}
    assert len(ids(client.get(NEARBY, params=base))) == 8
    assert ids(client.get(NEARBY, params=base | {"status": "open"})) == [
        "st-open",
        "st-stale-ok",
    ]
    statuses = {s["id"]: s["status"] for s in client.get(NEARBY, params=base).json()["stations"]}
    assert statuses["st-stale-ok"] == statuses["st-stale-gone"] == "stale"
    assert statuses["st-lost"] == "lost"


def test_closed_station_says_when_it_opens(client: TestClient, fleet: Callable[..., None]) -> None:
    fleet("st-evening", 1, opening_hours="Mo-Su 20:00-23:00")
    (station,) = client.get(NEARBY, params={"lat": LAT, "lon": LON}).json()["stations"]
    assert station["open_now"] is False
    assert station["opens_at"] == "2025-06-02T12:00:00Z"


def test_a_station_without_an_agent_is_listed_open_by_its_hours(
    client: TestClient, add_station: Callable[..., Station]
) -> None:
    # Story: a station nobody ever heard from (no agent: most stations) was never open_now,
    # so the finder hid almost every real station.
    add_station("st-new", lat=LAT, lon=LON)
    (station,) = client.get(NEARBY, params={"lat": LAT, "lon": LON}).json()["stations"]
    assert (station["status"], station["open_now"], station["occupancy"]) == (
        "unknown",
        True,
        None,
    )
    assert (station["basis"], station["reason"]) == ("schedule", None)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"lon": LON}, id="missing-lat"),
        pytest.param({"lat": 91, "lon": LON}, id="lat-range"),
        pytest.param({"lat": LAT, "lon": -181}, id="lon-range"),
        pytest.param({"lat": "nan", "lon": LON}, id="lat-nan"),
        pytest.param({"lat": LAT, "lon": LON, "radius_m": 0}, id="radius-zero"),
        pytest.param({"lat": LAT, "lon": LON, "radius_m": 50_001}, id="radius-big"),
        pytest.param({"lat": LAT, "lon": LON, "limit": 0}, id="limit-zero"),
        pytest.param({"lat": LAT, "lon": LON, "limit": 101}, id="limit-big"),
        pytest.param({"lat": LAT, "lon": LON, "status": "closed"}, id="status"),
        pytest.param({"lat": LAT, "lon": LON, "amenity": "jacuzzi"}, id="amenity"),
        pytest.param({"lat": LAT, "lon": LON, "radius_m": 10**9}, id="radius-1e9"),
        pytest.param({"lat": LAT, "lon": LON, "limit": 10**6}, id="limit-1e6"),
        pytest.param({"lat": LAT, "lon": "inf"}, id="lon-inf"),
        pytest.param({"lat": LAT, "lon": LON, "coord": "bd09"}, id="coord"),
    ],
)
def test_bad_parameters_are_422_with_a_message(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get(NEARBY, params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"]


BAD_OR_ODD_QUERIES: list[dict[str, Any]] = [
    {},
    {"lat": LAT},
    {"lat": "x", "lon": "nan"},
    {"lat": [LAT, 95], "lon": LON},  # repeated: the last value counts
    {"lat": LAT, "lon": LON, "limit": "1.5", "radius_m": -1, "status": "closed"},
    {"lat": LAT, "lon": LON, "amenity": ["water", "spa", "toilet"], "coord": "bd09"},
    {"lat": LAT, "lon": LON, "amenity": "", "limit": ""},
    {"lat": LAT, "lon": LON, "unknown": "ignored", "amenity": ["water", "water"]},
    {"lat": LAT, "lon": LON, "coord": "gcj02", "status": "open", "limit": 2},
]


@pytest.mark.usefixtures("library_classes")
def test_nearby_route_reads_and_documents_parameters_as_fastapi_would(
    client: TestClient, fleet: Callable[..., None]
) -> None:
    # Story: the nearby route skips FastAPI's per-request parameter machinery for speed; its
    # answers (422 bodies included) and its OpenAPI entry must stay exactly FastAPI's.
    from fastapi import FastAPI

    from cloud.api.public import nearby_stations
    from cloud.stations.finder import NearbyResponse

    fleet("st-1", 1, amenities=["water", "toilet"])
    fleet("st-2", 2)
    reference = FastAPI()
    reference.add_api_route(
        NEARBY, nearby_stations, methods=["GET"], response_model=NearbyResponse, tags=["public"]
    )
    reference.state.ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with TestClient(reference) as plain:
        for params in BAD_OR_ODD_QUERIES:
            ours, theirs = client.get(NEARBY, params=params), plain.get(NEARBY, params=params)
            assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json()), params
        ours_spec = client.get("/openapi.json").json()
        theirs_spec = plain.get("/openapi.json").json()
    assert ours_spec["paths"][NEARBY] == theirs_spec["paths"][NEARBY]
    names = [p["name"] for p in ours_spec["paths"][NEARBY]["get"]["parameters"]]
    assert names == ["lat", "lon", "radius_m", "limit", "status", "amenity", "coord"]


def test_nearby_is_rate_limited(db_url: str, engine: Any, fleet: Callable[..., None]) -> None:
    from cloud.main import create_app
    from cloud.settings import Settings

    fleet("st-1", 1)
    app = create_app(Settings(db=db_url, rate_limit_per_s=0.001, rate_limit_burst=2))
    with TestClient(app) as c:
        codes = [c.get(NEARBY, params={"lat": LAT, "lon": LON}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_station_detail_and_404(client: TestClient, fleet: Callable[..., None]) -> None:
    fleet("st-001", 0, address="人民大道1号", capacity=12)
    body = client.get("/api/v1/stations/st-001").json()
    assert body["id"] == "st-001"
    assert body["address"] == "人民大道1号"
    assert body["open_now"] is True
    assert body["capacity"] == 12
    missing = client.get("/api/v1/stations/st-404")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "station 'st-404' not found"}


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
