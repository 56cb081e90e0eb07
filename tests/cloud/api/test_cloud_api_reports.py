"""Workers' feedback over HTTP (SQLite and PostgreSQL): public problem reports and station
suggestions with their limits, the ops lists, resolving (operator, audited), and the finder
page's serving (language, security headers, files)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from cloud.api.ratelimit import TokenBuckets
from cloud.api.reports import FEEDBACK_BURST, MAX_BODY_BYTES
from cloud.auth import Role
from cloud.auth.models import AuditEntry
from cloud.db import session
from cloud.models import Station
from cloud.stations import gcj02
from cloud.web.finder.page import WEB_DIR, FinderSettings, csp, pick_lang, render
from protocol.amenities import GROUPS
from protocol.registry import AMENITY_LABELS

OPS = "/api/v1/ops"


@pytest.fixture
def unlimited(client: TestClient) -> TestClient:
    """The client with a feedback budget that never runs out (for tests of validation)."""
    client.app.state.feedback_buckets = TokenBuckets(1_000, 1_000)  # type: ignore[attr-defined]
    return client


@pytest.fixture(autouse=True)
def _stations(add_station: Callable[..., Station]) -> None:
    add_station("sz-0001", name="科技园驿站", city="深圳")
    add_station("sz-0002", name="Station Two", city="深圳")


def _report(client: TestClient, **body: Any) -> Any:
    return client.post("/api/v1/reports", json={"station_id": "sz-0001", "kind": "locked"} | body)


def test_a_report_is_stored_as_plain_text_and_listed_for_ops(
    unlimited: TestClient, as_role: Callable[[Role], dict[str, str]], clock: Any
) -> None:
    r = _report(unlimited, kind="dirty", text="  <b>地上</b>有水\r\n\r\n\r\n\r\nCafe\u0301  ")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "received"
    first = r.json()["id"]
    second = _report(unlimited, station_id="sz-0002").json()["id"]
    assert second > first

    viewer = as_role(Role.VIEWER)
    page = unlimited.get(f"{OPS}/reports", headers=viewer).json()
    assert [i["id"] for i in page["items"]] == [second, first]  # newest first
    item = page["items"][1]
    # Markup kept verbatim as text; CRLF → LF, blank runs capped, trimmed, NFC.
    assert item["text"] == "<b>地上</b>有水\n\nCafé"
    assert (item["station_name"], item["city"], item["kind"]) == ("科技园驿站", "深圳", "dirty")
    assert item["created_at"].startswith(clock.now.strftime("%Y-%m-%dT%H:%M"))
    assert item["resolved_at"] is None
    only = unlimited.get(f"{OPS}/reports", params={"station": "sz-0002"}, headers=viewer)
    assert [i["id"] for i in only.json()["items"]] == [second]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"kind": "flooded"}, 422, "kind"),
        ({"station_id": "nope-404"}, 404, "nope-404"),
        ({"text": "长" * 501}, 422, "at most 500"),
        ({"text": "ok\x07"}, 422, "U+0007"),
        ({"text": "abc\u202edef"}, 422, "U+202E"),
        ({"station_id": ""}, 422, "station_id"),
        ({"who": "me"}, 422, "who"),
    ],
)
def test_bad_reports_are_refused_with_a_reason(
    unlimited: TestClient, body: dict[str, Any], status: int, says: str
) -> None:
    r = _report(unlimited, **body)
    assert r.status_code == status, r.text
    assert says in r.json()["detail"]


def test_reports_are_bounded_in_size_and_type_before_parsing(unlimited: TestClient) -> None:
    assert _report(unlimited, text="长" * 500).status_code == 201  # the longest allowed
    big = b'{"station_id": "sz-0001", "kind": "other", "text": "' + b"x" * MAX_BODY_BYTES + b'"}'
    r = unlimited.post("/api/v1/reports", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = unlimited.post(
        "/api/v1/reports",
        content=b'{"station_id": "sz-0001", "kind": "other"}',
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 415
    r = unlimited.post(
        "/api/v1/reports", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert "json" in r.json()["detail"].lower()


def test_feedback_is_rate_limited_per_client(client: TestClient, engine: Engine) -> None:
    codes = [_report(client).status_code for _ in range(FEEDBACK_BURST)]
    assert codes == [201] * FEEDBACK_BURST
    r = client.post("/api/v1/suggestions", json={"lat": 22.5, "lon": 114.0, "name": "x"})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    # The read API has its own budget and is untouched.
    assert client.get("/api/v1/stations/sz-0001").status_code == 200


def test_a_suggestion_is_stored_in_wgs84(
    unlimited: TestClient, as_role: Callable[[Role], dict[str, str]]
) -> None:
    wgs = (22.54310, 114.05790)
    glat, glon = gcj02.wgs84_to_gcj02(*wgs)
    body = {"lat": glat, "lon": glon, "name": " 科技园北门 ", "note": "骑手多", "coord": "gcj02"}
    assert unlimited.post("/api/v1/suggestions", json=body).status_code == 201
    plain = {"lat": 31.23, "lon": 121.47, "name": "People's Square"}
    assert unlimited.post("/api/v1/suggestions", json=plain).status_code == 201
    items = unlimited.get(f"{OPS}/suggestions", headers=as_role(Role.VIEWER)).json()["items"]
    assert [i["name"] for i in items] == ["People's Square", "科技园北门"]
    assert (items[1]["lat"], items[1]["lon"]) == pytest.approx(wgs, abs=1e-6)
    assert (items[0]["lat"], items[0]["lon"]) == (31.23, 121.47)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": ""}, "one line"),
        ({"name": "two\nlines"}, "one line"),
        ({"name": "n" * 121}, "at most 120"),
        ({"lat": 91}, "lat"),
        ({"lon": float("nan")}, "lon"),
        ({"coord": "bd09"}, "coord"),
        ({"note": "n" * 501}, "at most 500"),
    ],
)
def test_bad_suggestions_are_refused_with_a_reason(
    unlimited: TestClient, body: dict[str, Any], says: str
) -> None:
    base = {"lat": 22.5, "lon": 114.0, "name": "here"}
    content = json.dumps(base | body).encode()  # NaN goes out as the bare token NaN
    r = unlimited.post(
        "/api/v1/suggestions", content=content, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert says in r.json()["detail"]


def test_ops_lists_need_a_viewer_and_resolving_an_operator(
    unlimited: TestClient, as_role: Callable[[Role], dict[str, str]], engine: Engine
) -> None:
    rid = _report(unlimited).json()["id"]
    sid = unlimited.post(
        "/api/v1/suggestions", json={"lat": 22.5, "lon": 114.0, "name": "here"}
    ).json()["id"]
    assert unlimited.get(f"{OPS}/reports").status_code == 401
    assert unlimited.get(f"{OPS}/suggestions").status_code == 401
    viewer, operator = as_role(Role.VIEWER), as_role(Role.OPERATOR)
    assert unlimited.post(f"{OPS}/reports/{rid}/resolve", headers=viewer).status_code == 403

    r = unlimited.post(f"{OPS}/reports/{rid}/resolve", json={"note": "cleaned"}, headers=operator)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["resolution"] == "cleaned"
    assert done["resolved_by"].startswith("operator-")
    # The first resolution stands; repeating it is not audited again.
    again = unlimited.post(
        f"{OPS}/reports/{rid}/resolve", json={"note": "later"}, headers=as_role(Role.ADMIN)
    ).json()
    assert (again["resolution"], again["resolved_by"]) == ("cleaned", done["resolved_by"])
    r = unlimited.post(f"{OPS}/suggestions/{sid}/resolve", headers=operator)
    assert r.status_code == 200
    assert r.json()["resolved_at"] is not None
    assert unlimited.post(f"{OPS}/reports/999999/resolve", headers=operator).status_code == 404

    assert unlimited.get(f"{OPS}/reports", headers=viewer).json()["items"] == []
    resolved = unlimited.get(f"{OPS}/reports", params={"status": "resolved"}, headers=viewer)
    assert [i["id"] for i in resolved.json()["items"]] == [rid]
    with session(engine) as s:
        entries = s.exec(select(AuditEntry).order_by(AuditEntry.id)).all()  # type: ignore[arg-type]
    assert [(e.action, e.target) for e in entries] == [
        ("report.resolve", f"report:{rid}"),
        ("suggestion.resolve", f"suggestion:{sid}"),
    ]
    assert entries[0].detail == {"station": "sz-0001", "kind": "locked"}


def test_ops_lists_page_newest_first(
    unlimited: TestClient, as_role: Callable[[Role], dict[str, str]]
) -> None:
    ids = [_report(unlimited).json()["id"] for _ in range(5)]
    viewer = as_role(Role.VIEWER)
    seen: list[int] = []
    before = None
    while True:
        params = {"limit": 2} | ({"before": before} if before else {})
        page = unlimited.get(f"{OPS}/reports", params=params, headers=viewer).json()
        seen += [i["id"] for i in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == sorted(ids, reverse=True)


# --- the page ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "accept", "lang"),
    [
        (None, None, "zh-CN"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, "fr-FR, en;q=0.5, zh;q=0.7", "zh-CN"),
        (None, "zh;q=0.2, en-GB;q=0.8", "en"),
        (None, "en;q=0, de", "zh-CN"),
        ("en", "zh-CN", "en"),
        ("zh", "en", "zh-CN"),
        ("xx", "en", "en"),
    ],
)
def test_page_language(query: str | None, accept: str | None, lang: str) -> None:
    assert pick_lang(query, accept) == lang


def test_page_is_public_with_strict_headers(client: TestClient) -> None:
    r = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert r.status_code == 200
    assert '<html lang="en">' in r.text
    assert r.headers["content-language"] == "en"
    policy = r.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert r.headers["x-frame-options"] == "DENY"
    assert "/api/v1/ops" not in r.text
    assert "/ops" not in r.text
    assert '<html lang="zh-CN">' in client.get("/").text
    for name in ("app.js", "style.css", "vendor/leaflet.js", "vendor/leaflet.css"):
        f = client.get(f"/finder/{name}")
        assert f.status_code == 200
        assert f.headers["x-content-type-options"] == "nosniff"
    for name in ("page.py", "index.html", "../page.py", "vendor/__init__.py", "nope.js", "sw.js"):
        assert client.get(f"/finder/{name}").status_code == 404
    # The offline service worker from the root (its scope is the page), and the status page.
    sw = client.get("/sw.js")
    assert sw.status_code == 200
    assert sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["cache-control"] == "no-cache"
    status = client.get("/status")
    assert '<html lang="zh-CN">' in status.text
    assert "script-src 'self'" in status.headers["content-security-policy"]
    assert '<html lang="en">' in client.get("/status?lang=en").text


def test_page_takes_its_amenity_labels_from_the_registry() -> None:
    # Story: the finder's labels and the ones `stations import` accepts are one list.
    page = render("zh-CN", FinderSettings())  # what `/` serves (tested above)
    meta = re.search(r'<meta name="ws-amenities" content="([^"]*)">', page)
    assert meta is not None
    rows = json.loads(html.unescape(meta.group(1)))
    assert [r[:3] for r in rows] == [[name, zh, en] for name, (zh, en) in AMENITY_LABELS.items()]
    assert {r[3] for r in rows} == set(GROUPS)  # each with its filter group
    groups = re.search(r'<meta name="ws-amenity-groups" content="([^"]*)">', page)
    assert groups is not None
    assert json.loads(html.unescape(groups.group(1))) == [[k, *v] for k, v in GROUPS.items()]
    script = (WEB_DIR / "app.js").read_text(encoding="utf-8")
    assert not [zh for zh, _ in AMENITY_LABELS.values() if f'"{zh}"' in script]


def test_page_tile_settings_are_escaped_and_allowed_by_the_policy(client: TestClient) -> None:
    settings = FinderSettings(
        tile_url="https://{s}.tile.example.org/{z}/{x}/{y}.png",
        tile_attribution='© "Example" <maps>',
        tile_datum="gcj02",
    )
    client.app.state.finder_settings = settings  # type: ignore[attr-defined]
    r = client.get("/")
    assert 'content="https://{s}.tile.example.org/{z}/{x}/{y}.png"' in r.text
    assert 'data-attribution="© &quot;Example&quot; &lt;maps&gt;"' in r.text
    assert 'data-datum="gcj02"' in r.text
    assert (
        "img-src 'self' data: https://*.tile.example.org;" in r.headers["content-security-policy"]
    )
    odd = FinderSettings(tile_url="https://t{s}.example.org/{z}/{x}/{y}.png")
    assert "img-src 'self' data: https:;" in csp(odd)
    assert "img-src 'self' data:;" in csp(FinderSettings())
