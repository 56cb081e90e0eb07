"""Issue 17.5–17.7 over HTTP (SQLite and PostgreSQL): the GeoJSON map with open_now/basis,
place search from the registry's own addresses, cities with outlines, the public status
numbers, and feedback tickets a worker can follow."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.api.ratelimit import TokenBuckets
from cloud.auth import Role
from cloud.models import Station, StationState
from cloud.stations.gcj02 import wgs84_to_gcj02

SZ = (22.5431, 114.0579)
MAP = "/api/v1/stations.geojson"


@pytest.fixture
def city(
    add_station: Callable[..., Station], set_state: Callable[..., StationState], clock: Any
) -> None:
    """Five Shenzhen stations and one in Beijing, at T0 = Monday 10:00 in Shanghai."""

    def live(sid: str, **fields: Any) -> None:
        values = {
            "status": "online", "sess": 1, "status_at": clock.now - timedelta(hours=1),
            "last_heartbeat": clock.now - timedelta(seconds=10), "heartbeat_interval_s": 30.0,
            "door": "closed", "lock": "locked",
        } | fields  # fmt: skip
        set_state(sid, **values)

    add_station("sz-live", name="南山区工会驿站 #1", lat=SZ[0], lon=SZ[1], city="深圳市",
                address="深圳市南山区深南大道100号")  # fmt: skip
    live("sz-live")
    add_station("sz-down", name="南山区劳动者港湾", lat=SZ[0] + 0.01, lon=SZ[1], city="深圳",
                address="深圳市南山区科技园南路8号")  # fmt: skip
    live("sz-down", status="lost")
    add_station("sz-evening", name="福田爱心驿站", lat=SZ[0], lon=SZ[1] + 0.02, city="深圳",
                address="深圳市福田区福华路1号", opening_hours="Mo-Su 20:00-23:00")  # fmt: skip
    add_station("sz-day", name="福田户外劳动者服务站", lat=SZ[0] + 0.02, lon=SZ[1] + 0.02,
                city="深圳", address="深圳市福田区福华路9号",
                opening_hours="Mo-Su 08:00-20:00")  # fmt: skip
    add_station("sz-maint", name="宝安驿站", lat=SZ[0] - 0.05, lon=SZ[1] - 0.1, city="深圳",
                address="深圳市宝安区西乡街道宝源路8号", maintenance=True)  # fmt: skip
    add_station("bj-1", name="朝阳区工会驿站", lat=39.9, lon=116.45, city="北京市",
                address="北京市朝阳区建国路88号")  # fmt: skip


@pytest.mark.usefixtures("city")
def test_geojson_carries_open_now_and_basis_cached_with_an_etag(
    client: TestClient, clock: Any, set_state: Callable[..., StationState]
) -> None:
    first = client.get(MAP)
    assert first.status_code == 200
    props = {f["id"]: f["properties"] for f in first.json()["features"]}
    live = props["sz-live"]
    assert (live["open_now"], live["basis"], live["reason"]) == (True, "live", None)
    assert props["sz-down"]["open_now"] is False
    assert (props["sz-down"]["basis"], props["sz-down"]["reason"]) == ("live", "station_down")
    evening = props["sz-evening"]
    assert (evening["open_now"], evening["basis"], evening["reason"]) == (
        False, "schedule", "closed_by_hours",
    )  # fmt: skip
    assert evening["opens_at"] == "2025-06-02T12:00:00Z"  # 20:00 in Shanghai
    day = props["sz-day"]
    assert (day["open_now"], day["basis"], day["closes_at"]) == (
        True, "schedule", "2025-06-02T12:00:00Z",
    )  # fmt: skip
    assert props["sz-maint"]["reason"] == "maintenance"
    assert props["sz-live"]["amenities"] == ["water"]  # the registry fields are still there

    # Within the reuse window: same judgement, same ETag, 304.
    etag = first.headers["etag"]
    set_state("sz-live", status="lost")
    clock.advance(5)
    cached = client.get(MAP, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    # Past it (30 s by default): judged again, new ETag, the dead station is closed.
    clock.advance(30)
    fresh = client.get(MAP, headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != etag
    props = {f["id"]: f["properties"] for f in fresh.json()["features"]}
    assert (props["sz-live"]["open_now"], props["sz-live"]["reason"]) == (False, "station_down")


@pytest.mark.usefixtures("city")
def test_status_counts_per_city_and_says_whether_the_cloud_sees(client: TestClient) -> None:
    body = client.get("/api/v1/status").json()
    assert body["cloud_blind"] is False
    assert body["blindness"] is None
    total = body["total"]
    assert (total["stations"], total["open_now"], total["open_live"]) == (6, 3, 1)
    assert (total["open_schedule"], total["closed_by_hours"], total["station_down"]) == (2, 1, 1)
    assert total["maintenance"] == 1
    sz, bj = body["cities"]
    assert sz["city"] in ("深圳", "深圳市")
    assert sz["stations"] == 5
    assert (sz["open_now"], sz["with_agent"]) == (2, 2)
    assert (bj["city"], bj["stations"], bj["open_now"]) == ("北京市", 1, 1)


@pytest.mark.usefixtures("city")
def test_place_search_from_registry_addresses(client: TestClient) -> None:
    def search(q: str, **params: Any) -> list[dict[str, Any]]:
        r = client.get("/api/v1/places", params={"q": q} | params)
        assert r.status_code == 200, r.text
        return r.json()["places"]

    nanshan = search("南山")[0]
    assert (nanshan["kind"], nanshan["name"], nanshan["stations"]) == ("district", "南山区", 2)
    assert nanshan["lat"] == pytest.approx(SZ[0] + 0.005)
    # A full address typed: the most specific place it contains.
    typed = search("深圳市福田区福华路5号")[0]
    assert (typed["kind"], typed["name"], typed["stations"]) == ("road", "福华路", 2)
    assert search("西乡")[0]["name"] == "西乡街道"
    assert search("深圳")[0]["kind"] == "city"
    assert search("深圳")[0]["stations"] == 5
    # A station by its name.
    [station] = [p for p in search("爱心驿站") if p["kind"] == "station"]
    assert station["station_id"] == "sz-evening"
    assert search("纽约") == []
    gcj = search("朝阳区", coord="gcj02")[0]
    assert (gcj["lat"], gcj["lon"]) == pytest.approx(wgs84_to_gcj02(39.9, 116.45))
    assert client.get("/api/v1/places", params={"q": ""}).status_code == 422

    cities = client.get("/api/v1/places/cities").json()["cities"]
    assert [(c["name"], c["stations"]) for c in cities][1] == ("北京市", 1)
    sz = cities[0]
    assert sz["stations"] == 5
    assert len(sz["hull"]) >= 3
    lats = [p[0] for p in sz["hull"]]
    assert min(lats) == pytest.approx(SZ[0] - 0.05)
    assert max(lats) == pytest.approx(SZ[0] + 0.02)


@pytest.fixture
def unlimited(client: TestClient) -> TestClient:
    client.app.state.feedback_buckets = TokenBuckets(1_000, 1_000)  # type: ignore[attr-defined]
    return client


@pytest.mark.usefixtures("city")
def test_tickets_for_reports_and_suggestions(
    unlimited: TestClient, as_role: Callable[[Role], dict[str, str]]
) -> None:
    client = unlimited
    r = client.post("/api/v1/reports", json={"station_id": "sz-day", "kind": "locked"})
    assert r.status_code == 201
    ticket = r.json()["ticket"]
    assert ticket.startswith("R-")
    assert len(ticket) == 10
    assert r.json()["url"] == f"/#/ticket/{ticket}"
    seen = client.get(f"/api/v1/tickets/{ticket.lower().replace('-', ' ')}").json()
    assert (seen["ticket"], seen["kind"], seen["state"]) == (ticket, "report", "received")
    assert (seen["subject"], seen["station_id"], seen["reply"]) == ("locked", "sz-day", "")
    assert client.get("/api/v1/stations/sz-day").json()["reason"] == "reported_locked"

    op = as_role(Role.OPERATOR)
    url = f"/api/v1/ops/tickets/{ticket}/state"
    assert client.post(url, json={"state": "under_review"}).status_code == 401
    viewer = as_role(Role.VIEWER)
    assert client.post(url, json={"state": "under_review"}, headers=viewer).status_code == 403
    moved = client.post(url, json={"state": "under_review", "note": "已联系站长"}, headers=op)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["state"], moved.json()["reply"]) == ("under_review", "已联系站长")
    assert client.post(url, json={"state": "built"}, headers=op).status_code == 422
    done = client.post(url, json={"state": "resolved", "note": "门已修好"}, headers=op)
    assert done.json()["state"] == "resolved"
    assert client.get(f"/api/v1/tickets/{ticket}").json()["reply"] == "门已修好"
    # Resolving the locked report clears the flag, as the ops resolve endpoint does.
    assert client.get("/api/v1/stations/sz-day").json()["open_now"] is True
    assert client.post(url, json={"state": "resolved"}, headers=op).status_code == 409
    # The ops list shows the ticket too.
    items = client.get("/api/v1/ops/reports?status=all", headers=op).json()["items"]
    assert [(i["ticket"], i["state"]) for i in items] == [(ticket, "resolved")]

    s = client.post("/api/v1/suggestions", json={"lat": SZ[0], "lon": SZ[1], "name": "科技园北门"})
    sticket = s.json()["ticket"]
    assert sticket.startswith("S-")
    surl = f"/api/v1/ops/tickets/{sticket}/state"
    no_station = client.post(surl, json={"state": "built"}, headers=op)
    assert no_station.status_code == 422
    assert "station_id" in no_station.json()["detail"]
    unknown = client.post(surl, json={"state": "built", "station_id": "nope"}, headers=op)
    assert unknown.status_code == 422
    built = client.post(surl, json={"state": "built", "station_id": "sz-live"}, headers=op)
    assert built.status_code == 200
    view = client.get(f"/api/v1/tickets/{sticket}").json()
    assert (view["state"], view["subject"]) == ("built", "科技园北门")
    assert (view["station_id"], view["station_name"]) == ("sz-live", "南山区工会驿站 #1")
    assert client.get("/api/v1/ops/suggestions", headers=op).json()["items"] == []  # resolved

    assert client.get("/api/v1/tickets/R-22222222").status_code == 404
    assert client.get("/api/v1/tickets/not-a-ticket").status_code == 404


@pytest.mark.usefixtures("city")
def test_station_detail_says_when_it_was_last_confirmed(
    client: TestClient, engine: Any, clock: Any
) -> None:
    from uuid import uuid4

    from cloud.db import session
    from cloud.models import Event

    with session(engine) as s:
        for n, (granted, minutes) in enumerate([(True, 30), (True, 12), (False, 2)]):
            at = clock.now - timedelta(minutes=minutes)
            s.add(Event(station_id="sz-live", event_id=uuid4(), seq=n + 1, type="access",
                        ts=at, received_at=at, granted=granted))  # fmt: skip
    live = client.get("/api/v1/stations/sz-live").json()
    assert live["last_seen_at"] == "2025-06-02T01:59:50Z"  # the heartbeat 10 s before T0
    assert live["last_entry_at"] == "2025-06-02T01:48:00Z"  # the newest granted, not refused
    assert (live["open_now"], live["basis"]) == (True, "live")
    never = client.get("/api/v1/stations/sz-evening").json()
    assert (never["last_seen_at"], never["last_entry_at"]) == (None, None)
    assert never["opens_at"] == "2025-06-02T12:00:00Z"
