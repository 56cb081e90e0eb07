"""Stations managed over the ops API (`cloud.api.ops_stations`), on SQLite and PostgreSQL:
create, edit (GCJ-02 accepted), retire and reinstate, import a registry file with a preview;
every change audited with before/after; scoped operators only inside their scope; what the
workers see (nearby, the station page, the map) follows within the index refresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.auth import Role, issue_token
from cloud.auth.models import AuditEntry
from cloud.auth.scope import make_scope
from cloud.auth.users import add_user
from cloud.clock import utcnow
from cloud.main import create_app
from cloud.models import Station
from cloud.settings import Settings
from cloud.stations import gcj02

OPS = "/api/v1/ops"
A, B = "甲银行", "乙邮政"
NEAR = "/api/v1/stations/nearby?lat=37.38&lon=117.97&radius_m=20000&status=any"


@pytest.fixture
def account(engine: Engine) -> Callable[..., dict[str, str]]:
    """An account with a role and a scope; its bearer-token headers."""

    def make(role: Role, operators: tuple[str, ...] = (), cities: tuple[str, ...] = ()) -> Any:
        name = f"{role.value}-{uuid4().hex[:6]}"
        with Session(engine) as s:
            add_user(s, name, role, "correct horse battery", now=utcnow(),
                     scope=make_scope(operators, cities))  # fmt: skip
            s.commit()
        return {"Authorization": f"Bearer {issue_token(engine, name)}"}

    return make


@pytest.fixture
def world(add_station: Callable[..., Station]) -> None:
    add_station("a-1", operator=A, city="滨州", lat=37.38, lon=117.97)
    add_station("b-1", operator=B, city="滨州", lat=37.39, lon=117.98)


def audits(engine: Engine, action: str) -> list[AuditEntry]:
    with Session(engine) as s:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
        return list(s.exec(query))


def nearby_ids(client: TestClient) -> set[str]:
    return {s["id"] for s in client.get(NEAR).json()["stations"]}


def test_an_admin_creates_a_station_and_workers_see_it_with_its_entrance_and_phone(
    client: TestClient, engine: Engine, world: None, account: Callable[..., Any]
) -> None:
    admin = account(Role.ADMIN)
    body = {
        "id": "new-1", "name": "新驿站", "lat": 37.381, "lon": 117.971, "city": "滨州",
        "operator": A, "opening_hours": "Mo-Su 08:00-20:00", "amenities": "饮水;微波炉",
        "entrance_hint": "东门进，按门铃", "contact_phone": "0543-3211234", "capacity": 8,
    }  # fmt: skip
    r = client.post(f"{OPS}/stations", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["after"]["amenities"] == ["water", "microwave"]
    detail = client.get("/api/v1/stations/new-1").json()
    assert detail["entrance_hint"] == "东门进，按门铃"
    assert detail["contact_phone"] == "0543-3211234"
    assert "new-1" in nearby_ids(client)
    (entry,) = audits(engine, "station.create")
    assert entry.target == "station:new-1"
    assert entry.detail["before"] == {}
    assert entry.detail["after"]["contact_phone"] == "0543-3211234"
    again = client.post(f"{OPS}/stations", json=body, headers=admin)
    assert again.status_code == 409
    assert again.json()["detail"].startswith("id:")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("contact_phone", "call 110"),
        ("contact_phone", "1" * 33),
        ("entrance_hint", "门" * 201),
        ("lat", 91),
        ("opening_hours", "Mo-Xx 08:00-20:00"),
        ("amenities", ["jacuzzi"]),
        ("name", ""),
    ],
)
def test_a_bad_field_is_a_422_naming_it_and_changes_nothing(
    client: TestClient,
    engine: Engine,
    world: None,
    account: Callable[..., Any],
    field: str,
    value: Any,
) -> None:
    admin = account(Role.ADMIN)
    r = client.patch(f"{OPS}/stations/a-1", json={field: value}, headers=admin)
    assert r.status_code == 422, r.text
    assert field in str(r.json()["detail"])
    with Session(engine) as s:
        station = s.get(Station, "a-1")
        assert station is not None
        assert station.contact_phone == ""
        assert station.name == "Station a-1"
    assert audits(engine, "station.edit") == []


def test_an_unknown_field_is_refused_by_name(
    client: TestClient, world: None, account: Callable[..., Any]
) -> None:
    r = client.patch(f"{OPS}/stations/a-1", json={"colour": "red"}, headers=account(Role.ADMIN))
    assert r.status_code == 422
    assert "colour" in str(r.json()["detail"])


def test_editing_hours_shows_on_the_station_page_and_is_audited_with_before_and_after(
    client: TestClient, engine: Engine, world: None, account: Callable[..., Any]
) -> None:
    operator = account(Role.OPERATOR)
    r = client.patch(
        f"{OPS}/stations/a-1", json={"opening_hours": "Mo-Fr 09:00-17:00"}, headers=operator
    )
    assert r.status_code == 200, r.text
    assert r.json()["before"] == {"opening_hours": "24/7"}
    assert r.json()["config"] == "none"  # no agent there: nothing to publish
    assert client.get("/api/v1/stations/a-1").json()["opening_hours"] == "Mo-Fr 09:00-17:00"
    (entry,) = audits(engine, "station.edit")
    assert entry.detail == {
        "before": {"opening_hours": "24/7"},
        "after": {"opening_hours": "Mo-Fr 09:00-17:00"},
    }
    # the same value again changes nothing and writes no audit row
    same = client.patch(
        f"{OPS}/stations/a-1", json={"opening_hours": "Mo-Fr 09:00-17:00"}, headers=operator
    )
    assert same.json()["changed"] is False
    assert len(audits(engine, "station.edit")) == 1


def test_gcj02_coordinates_are_stored_as_wgs84(
    client: TestClient, engine: Engine, world: None, account: Callable[..., Any]
) -> None:
    shown = gcj02.wgs84_to_gcj02(37.4, 117.9)  # what an Amap pin of that spot reads
    body = {"lat": shown[0], "lon": shown[1], "coord_system": "gcj02"}
    r = client.patch(f"{OPS}/stations/a-1", json=body, headers=account(Role.ADMIN))
    assert r.status_code == 200, r.text
    with Session(engine) as s:
        station = s.get(Station, "a-1")
        assert station is not None
        assert abs(station.lat - 37.4) < 1e-5
        assert abs(station.lon - 117.9) < 1e-5
    one = client.patch(
        f"{OPS}/stations/a-1", json={"lat": 37.0, "coord_system": "gcj02"},
        headers=account(Role.ADMIN),
    )  # fmt: skip
    assert one.status_code == 422
    assert one.json()["detail"].startswith("lon:")


def test_an_hours_edit_publishes_the_config_of_a_station_with_an_agent(
    client: TestClient, world: None, account: Callable[..., Any], set_state: Callable[..., Any]
) -> None:
    set_state("a-1", status="online")
    sent: list[Any] = []
    client.app.state.publish = sent.extend  # type: ignore[attr-defined]
    r = client.patch(
        f"{OPS}/stations/a-1", json={"opening_hours": "Mo-Su 07:00-21:00"},
        headers=account(Role.ADMIN),
    )  # fmt: skip
    assert r.json()["config"] == "sent"
    (topic, payload, retain) = sent[0]
    assert topic == "ws/v1/a-1/config"
    assert retain
    assert b"Mo-Su 07:00-21:00" in payload


def test_a_scoped_operator_edits_only_inside_its_scope(
    client: TestClient, engine: Engine, world: None, account: Callable[..., Any]
) -> None:
    partner = account(Role.OPERATOR, operators=(A,))
    assert (
        client.patch(f"{OPS}/stations/b-1", json={"name": "x"}, headers=partner).status_code == 404
    )
    ok = client.patch(f"{OPS}/stations/a-1", json={"name": "甲的站"}, headers=partner)
    assert ok.status_code == 200
    away = client.patch(f"{OPS}/stations/a-1", json={"operator": B}, headers=partner)
    assert away.status_code == 403
    assert away.json()["detail"].startswith("operator:")
    with Session(engine) as s:
        station = s.get(Station, "a-1")
        assert station is not None
        assert station.operator == A
    new = {"id": "b-2", "name": "乙的站", "lat": 37.3, "lon": 117.9, "operator": B}
    assert client.post(f"{OPS}/stations", json=new, headers=partner).status_code == 403
    mine = new | {"id": "a-2", "operator": A}
    assert client.post(f"{OPS}/stations", json=mine, headers=partner).status_code == 201
    for verb in ("retire", "reinstate"):
        assert client.post(f"{OPS}/stations/b-1/{verb}", headers=partner).status_code == 404
    viewer = account(Role.VIEWER)
    assert (
        client.patch(f"{OPS}/stations/a-1", json={"name": "y"}, headers=viewer).status_code == 403
    )
    assert (
        client.post(f"{OPS}/stations", json=mine | {"id": "a-3"}, headers=viewer).status_code == 403
    )


def test_a_retired_station_leaves_the_map_and_lists_and_comes_back_when_reinstated(
    client: TestClient, engine: Engine, world: None, account: Callable[..., Any]
) -> None:
    admin = account(Role.ADMIN)
    assert nearby_ids(client) == {"a-1", "b-1"}
    r = client.post(f"{OPS}/stations/a-1/retire", headers=admin)
    assert r.status_code == 200
    assert r.json()["changed"]
    assert nearby_ids(client) == {"b-1"}
    assert client.get("/api/v1/stations/a-1").status_code == 404
    geo = client.get("/api/v1/stations.geojson").json()
    assert [f["id"] for f in geo["features"]] == ["b-1"]
    listed = client.get(f"{OPS}/stations", headers=admin).json()
    assert [s["id"] for s in listed["items"]] == ["b-1"]
    assert client.get(f"{OPS}/fleet", headers=admin).json()["stations"] == 1
    retired = client.get(f"{OPS}/stations?retired=true", headers=admin).json()
    assert [s["id"] for s in retired["items"]] == ["a-1"]
    page = client.get(f"{OPS}/stations/a-1", headers=admin).json()  # its history stays
    assert page["station"]["retired_at"] is not None
    map_rows = client.get(f"{OPS}/map/stations", headers=admin).json()["rows"]
    assert [row[0] for row in map_rows] == ["b-1"]
    twice = client.post(f"{OPS}/stations/a-1/retire", headers=admin)
    assert twice.json()["changed"] is False
    back = client.post(f"{OPS}/stations/a-1/reinstate", headers=admin)
    assert back.status_code == 200
    assert back.json()["changed"]
    assert nearby_ids(client) == {"a-1", "b-1"}
    assert [e.target for e in audits(engine, "station.retire")] == ["station:a-1"]
    assert [e.target for e in audits(engine, "station.reinstate")] == ["station:a-1"]


CSV = (
    "编号,名称,纬度,经度,设施,营业时间,运营方,地址,城市,入口提示,联系电话\n"
    "a-1,甲一站,37.38,117.97,饮水,24/7,甲银行,黄河五路,滨州,北门,0543-1234567\n"
    "a-9,甲九站,37.30,117.90,充电,Mo-Su 08:00-20:00,甲银行,渤海七路,滨州,,\n"
)


def test_import_previews_then_applies_all_or_nothing_with_audit_rows(
    client: TestClient, engine: Engine, world: None, account: Callable[..., Any]
) -> None:
    admin = account(Role.ADMIN)
    url = f"{OPS}/stations/import?format=csv"
    body = CSV.encode("gb18030")  # as Excel saves it on a Chinese Windows
    preview = client.post(url + "&dry_run=1", content=body, headers=admin)
    assert preview.status_code == 200, preview.text
    assert preview.json() | {"encoding": ""} == {
        "dry_run": True, "created": 1, "updated": 1, "unchanged": 0, "encoding": "",
    }  # fmt: skip
    with Session(engine) as s:
        assert s.get(Station, "a-9") is None
    assert audits(engine, "station.import") == []

    bad = CSV + "a-10,坏站,137.0,117.9,饮水,24/7,甲银行,,滨州,,电话\n"
    refused = client.post(url, content=bad.encode(), headers=admin)
    assert refused.status_code == 422
    errors = refused.json()["detail"]["errors"]
    assert any(e.startswith("line 4: lat (纬度)") for e in errors), errors
    assert any(e.startswith("line 4: contact_phone (联系电话)") for e in errors), errors
    with Session(engine) as s:
        assert s.get(Station, "a-9") is None

    applied = client.post(url, content=body, headers=admin)
    assert applied.json()["created"] == 1
    assert applied.json()["updated"] == 1
    assert client.get("/api/v1/stations/a-1").json()["contact_phone"] == "0543-1234567"
    entries = {e.target: e.detail for e in audits(engine, "station.import")}
    assert set(entries) == {"station:a-1", "station:a-9"}
    assert entries["station:a-1"]["before"]["name"] == "Station a-1"
    assert entries["station:a-1"]["after"]["entrance_hint"] == "北门"


def test_a_scoped_import_names_the_lines_outside_the_scope(
    client: TestClient, engine: Engine, world: None, account: Callable[..., Any]
) -> None:
    partner = account(Role.OPERATOR, operators=(A,))
    url = f"{OPS}/stations/import?format=csv"
    ok = client.post(url, content=CSV.encode(), headers=partner)
    assert ok.status_code == 200, ok.text
    theirs = CSV + "b-1,乙一站,37.39,117.98,饮水,24/7,甲银行,,滨州,,\n"
    r = client.post(url, content=theirs.encode(), headers=partner)
    assert r.status_code == 403
    assert r.json()["detail"]["errors"] == ["line 4: id: 'b-1' is not one of your stations"]
    with Session(engine) as s:
        station = s.get(Station, "b-1")
        assert station is not None
        assert station.operator == B


def test_geojson_import_reads_the_same_fields(
    client: TestClient, world: None, account: Callable[..., Any]
) -> None:
    text = (
        '{"type": "FeatureCollection", "features": [\n'
        '{"type": "Feature", "id": "g-1", "geometry": {"type": "Point", "coordinates": '
        '[117.95, 37.37]}, "properties": {"name": "G", "contact_phone": "+86 138 0000 0000"}}\n'
        "]}\n"
    )
    r = client.post(
        f"{OPS}/stations/import?format=geojson", content=text.encode(),
        headers=account(Role.ADMIN),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/stations/g-1").json()["contact_phone"] == "+86 138 0000 0000"


@pytest.fixture
def refreshing(db_url: str, engine: Engine, clock: Any) -> Iterator[TestClient]:
    """The app as it runs: the nearby index checks the registry version every 0.5 s."""
    app = create_app(Settings(db=db_url, index_refresh_s=0.5, rate_limit_burst=1_000), clock=clock)
    with TestClient(app) as c:
        yield c


def test_an_edit_reaches_the_nearby_search_within_the_refresh(
    refreshing: TestClient, world: None, account: Callable[..., Any]
) -> None:
    def names() -> set[str]:
        return {s["name"] for s in refreshing.get(NEAR).json()["stations"]}

    def within_5_s(name: str) -> None:
        deadline = time.monotonic() + 5.0
        while name not in names():
            assert time.monotonic() < deadline, f"{name!r} not in the nearby search after 5 s"
            time.sleep(0.05)

    within_5_s("Station a-1")  # the app loaded the registry before the stations were added
    admin = account(Role.ADMIN)
    r = refreshing.patch(f"{OPS}/stations/a-1", json={"name": "改名的站"}, headers=admin)
    assert r.status_code == 200
    within_5_s("改名的站")


def test_the_form_reads_the_amenity_vocabulary_with_its_labels(
    client: TestClient, account: Callable[..., Any]
) -> None:
    words = client.get(f"{OPS}/amenities", headers=account(Role.VIEWER)).json()
    assert {"name": "water", "zh": "饮用水", "en": "Drinking water"} in words
    assert client.get(f"{OPS}/amenities").status_code == 401


def test_a_file_larger_than_the_json_cap_is_taken_by_the_import_route(
    client: TestClient, account: Callable[..., Any]
) -> None:
    """Story: every body over 64 kB was a 413, which refused a registry of a few hundred
    stations before the import could read it; the import route has its own cap."""
    header = "id,name,lat,lon,amenities,opening_hours,operator,address,city\n"
    rows = "".join(
        f"bulk-{i:04d},批量导入的第 {i} 个驿站,37.{i:04d},117.9,饮水;微波炉;卫生间,"
        f"Mo-Su 08:00-20:00,滨州市总工会,滨州市滨城区黄河五路 {i} 号,滨州\n"
        for i in range(1200)
    )
    body = (header + rows).encode()
    assert len(body) > 65_536
    r = client.post(f"{OPS}/stations/import?dry_run=1", content=body, headers=account(Role.ADMIN))
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1200
    huge = client.post(
        f"{OPS}/stations/import", content=b"x" * (5 * 1024 * 1024), headers=account(Role.ADMIN)
    )
    assert huge.status_code == 413
