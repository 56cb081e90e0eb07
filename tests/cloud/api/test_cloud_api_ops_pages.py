"""The ops dashboard's server side: `/ops` behind a login (else the login form), strict security
headers, only the dashboard's own files served, the map config and the compact map rows, and
a station's recent events without personal data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cloud.api.ops_pages import STATIC, WEB_DIR, OpsMapSettings
from cloud.auth import Role, create_user, issue_token, passwords
from cloud.ingest.ingestor import Ingestor
from cloud.main import create_app
from cloud.models import Station
from cloud.settings import Settings
from protocol import topics
from protocol.messages import AccessEvent, AlarmEvent, DoorEvent

PASSWORD = "correct horse battery"
SERIAL = "0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def client(db_url: str, engine: Engine, clock: Any) -> Iterator[TestClient]:
    """As the package's client, with the session cookie allowed over plain http."""
    app = create_app(Settings(db=db_url, cookie_secure=False), clock=clock)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def viewer(engine: Engine) -> dict[str, str]:
    create_user(engine, "eve", Role.VIEWER, PASSWORD)
    return {"Authorization": f"Bearer {issue_token(engine, 'eve')}"}


def _csp(response: Any) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {d.split()[0]: d.partition(" ")[2] for d in (p.strip() for p in policy.split(";"))}


def test_ops_redirects_to_the_login_form_until_logged_in(
    client: TestClient, engine: Engine
) -> None:
    for path in ("/ops", "/ops/"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/ops/login"
    client.cookies.set("ws_session", "forged-or-expired")
    assert client.get("/ops", follow_redirects=False).status_code == 303
    client.cookies.clear()

    login = client.get("/ops/login")
    assert login.status_code == 200
    assert 'id="login-form"' in login.text

    create_user(engine, "op", Role.OPERATOR, PASSWORD)
    r = client.post("/api/v1/ops/auth/login", json={"username": "op", "password": PASSWORD})
    assert r.status_code == 200
    page = client.get("/ops", follow_redirects=False)
    assert page.status_code == 200
    assert 'id="map-canvas"' in page.text
    assert page.headers["cache-control"] == "no-store"


def test_pages_carry_a_strict_content_security_policy(client: TestClient) -> None:
    for path in ("/ops/login", "/ops/static/app.js", "/ops/static/vendor/leaflet.js"):
        r = client.get(path)
        assert r.status_code == 200, path
        csp = _csp(r)
        assert csp["script-src"] == "'self'"  # no inline script, no eval
        assert csp["style-src"] == "'self'"
        assert csp["frame-ancestors"] == "'none'"
        assert csp["default-src"] == "'none'"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-content-type-options"] == "nosniff"
    # No inline script or style anywhere in the page shells.
    for name in ("index.html", "login.html"):
        html = (WEB_DIR / name).read_text()
        assert "<script>" not in html
        assert "<style" not in html
        assert " style=" not in html
        assert "onclick=" not in html


def test_only_the_dashboards_own_files_are_served(client: TestClient) -> None:
    for name, media in STATIC.items():
        r = client.get(f"/ops/static/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"] == media
    for name in (
        "vendor/__init__.py",
        "__init__.py",
        "../../api/ops_pages.py",
        "index.html",
        "x.js",
    ):
        assert client.get(f"/ops/static/{name}").status_code == 404, name
    # The vendored libraries ship with their licences.
    assert "BSD" in client.get("/ops/static/vendor/LICENSE.leaflet.txt").text
    assert "MIT" in client.get("/ops/static/vendor/LICENSE.markercluster.txt").text.upper()


def test_map_config_defaults_to_no_tiles_and_a_tile_url_opens_the_csp_for_it(
    client: TestClient, viewer: dict[str, str]
) -> None:
    assert client.get("/api/v1/ops/map-config").status_code == 401
    assert client.get("/api/v1/ops/map-config", headers=viewer).json() == {
        "tile_url": None,
        "attribution": "",
        "max_zoom": 18,
    }
    assert _csp(client.get("/ops/login"))["img-src"] == "'self' data:"
    client.app.state.ops_map = OpsMapSettings(  # type: ignore[attr-defined]
        tile_url="https://{s}.tiles.example.org/{z}/{x}/{y}.png", attribution="© tiles"
    )
    assert client.get("/api/v1/ops/map-config", headers=viewer).json()["tile_url"] == (
        "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    )
    csp = _csp(client.get("/ops/login"))
    assert csp["img-src"] == "'self' data: https://*.tiles.example.org"
    assert csp["connect-src"] == "'self'"


@pytest.mark.parametrize(
    "url", ["ftp://tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org/a.png", "x"]
)
def test_a_bad_tile_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="tile_url"):
        OpsMapSettings(tile_url=url)


def test_tile_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYSTATION_OPS_MAP_TILE_URL", "https://t.example.org/{z}/{x}/{y}.png")
    assert OpsMapSettings().tile_origin == "https://t.example.org"
    monkeypatch.setenv("WAYSTATION_OPS_MAP_TILE_URL", "")
    assert OpsMapSettings().tile_url is None


def test_map_rows_hold_every_station_compactly(
    client: TestClient,
    viewer: dict[str, str],
    add_station: Callable[..., Station],
    set_state: Callable[..., Any],
) -> None:
    add_station("st-b", city="深圳", operator="总工会", lat=22.5, lon=114.0)
    add_station("st-a", city="上海", maintenance=True)
    set_state("st-b", health="down", history_status="lost")
    assert client.get("/api/v1/ops/map/stations").status_code == 401
    body = client.get("/api/v1/ops/map/stations", headers=viewer).json()
    rows = [dict(zip(body["fields"], row, strict=True)) for row in body["rows"]]
    assert [(r["id"], r["health"], r["status"], r["maintenance"]) for r in rows] == [
        ("st-a", "unknown", "unknown", True),
        ("st-b", "down", "lost", False),
    ]
    assert (rows[1]["lat"], rows[1]["lon"], rows[1]["city"]) == (22.5, 114.0, "深圳")


def test_station_events_show_reason_codes_and_never_the_member_serial(
    client: TestClient, viewer: dict[str, str], engine: Engine, add_station: Callable[..., Station]
) -> None:
    add_station("st-a")
    ing = Ingestor(engine)
    from cloud.clock import utcnow

    now = utcnow()
    events = [
        AccessEvent(
            sid="st-a", event_id=uuid4(), seq=1, ts=now, granted=True, reason="granted",
            credential="ws1", kid="union-1", serial=SERIAL,
        ),
        AccessEvent(
            sid="st-a", event_id=uuid4(), seq=2, ts=now, granted=False, reason="revoked",
            credential="ws2", serial=SERIAL,
        ),
        DoorEvent(sid="st-a", event_id=uuid4(), seq=3, ts=now, action="unlocked", cause="remote"),
        AlarmEvent(
            sid="st-a", event_id=uuid4(), seq=4, ts=now, alarm="camera_down", state="raised",
            detail="no frames for 30 s",
        ),
    ]  # fmt: skip
    for e in events:
        ing.handle(topics.events("st-a"), e.to_bytes())
    ing.flush()
    url = "/api/v1/ops/stations/st-a/events"
    assert client.get(url).status_code == 401
    assert client.get("/api/v1/ops/stations/nope/events", headers=viewer).status_code == 404

    r = client.get(url, headers=viewer)
    assert r.status_code == 200
    assert SERIAL not in r.text
    assert "union-1" not in r.text
    items = r.json()["items"]
    assert [i["seq"] for i in items] == [4, 3, 2, 1]  # newest first
    assert (items[2]["granted"], items[2]["reason"], items[2]["credential"]) == (
        False, "revoked", "ws2",
    )  # fmt: skip
    assert items[0]["detail"] == "no frames for 30 s"

    access = client.get(url, params={"type": "access", "limit": 1}, headers=viewer).json()
    assert [i["seq"] for i in access["items"]] == [2]
    assert access["next_before"] == 2
    older = client.get(
        url, params={"type": "access", "limit": 1, "before": 2}, headers=viewer
    ).json()
    assert [i["seq"] for i in older["items"]] == [1]
    assert older["next_before"] is None
    both = client.get(url, params=[("type", "door"), ("type", "alarm")], headers=viewer).json()
    assert [i["type"] for i in both["items"]] == ["alarm", "door"]
    assert client.get(url, params={"type": "footfall"}, headers=viewer).status_code == 422
