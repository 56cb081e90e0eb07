"""API hardening on the running app (`create_app`, SQLite): security headers, CORS, size limits.

Each refusal is checked next to the matching acceptance on the same app, so a test cannot
pass because everything is refused.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from pydantic import ValidationError

from cloud.api import security
from cloud.api.ratelimit import MAX_QUERY_BYTES as PUBLIC_MAX_QUERY
from cloud.auth import Role, create_user, issue_token, passwords
from cloud.db import init_db, make_engine
from cloud.main import create_app
from cloud.settings import Settings
from cloud.web.finder.page import FinderSettings, csp

ALLOWED = "https://app.example.org"
OTHER = "https://evil.example.net"
PUBLIC_GETS = (
    "/api/v1/stations/nearby?lat=31.23&lon=121.47",
    "/api/v1/stations.geojson",
    "/api/v1/trust/keys",  # 404 until a list is published: CORS applies all the same
)
OPS_GETS = ("/api/v1/ops/fleet", "/api/v1/ops/alarms", "/api/v1/ops/auth/me")

MakeClient = Callable[..., tuple[TestClient, dict[str, str]]]


@pytest.fixture
def make_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeClient]:
    """An app on a fresh SQLite file with these settings, and an admin's bearer header."""
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    opened: list[TestClient] = []

    def make(**settings: Any) -> tuple[TestClient, dict[str, str]]:
        url = f"sqlite:///{tmp_path / f'api-{len(opened)}.db'}"
        engine = make_engine(url)
        init_db(engine)
        create_user(engine, "root", Role.ADMIN, "correct horse battery")
        token = issue_token(engine, "root")
        engine.dispose()
        base = {"db": url, "index_refresh_s": 0, "rate_limit_burst": 1_000}
        client = TestClient(create_app(Settings(**(base | settings))))
        client.__enter__()
        opened.append(client)
        return client, {"Authorization": f"Bearer {token}"}

    yield make
    for client in opened:
        client.__exit__(None, None, None)


# --- security headers ---------------------------------------------------------------------


def test_json_answers_carry_the_security_headers(make_client: MakeClient) -> None:
    client, admin = make_client()
    answers = [
        client.get("/healthz"),
        client.get(PUBLIC_GETS[0]),
        client.get("/api/v1/stations/no-such-station"),  # 404 from a route
        client.get("/no/such/path"),  # 404 from the router
        client.get("/api/v1/ops/fleet"),  # 401
        client.get("/api/v1/ops/fleet", headers=admin),
        client.get("/api/v1/stations/nearby?" + "x" * (PUBLIC_MAX_QUERY + 1)),  # 414, middleware
    ]
    assert [r.status_code for r in answers] == [200, 200, 404, 404, 401, 200, 414]
    for r in answers:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["referrer-policy"] == "no-referrer", r.url
        assert r.headers["x-frame-options"] == "DENY", r.url
        assert r.headers["content-security-policy"] == "frame-ancestors 'none'", r.url
        assert "strict-transport-security" not in r.headers, r.url


def test_pages_keep_their_own_content_security_policy(make_client: MakeClient) -> None:
    client, _ = make_client()
    finder = client.get("/")
    assert finder.status_code == 200
    assert finder.headers["content-security-policy"] == csp(FinderSettings())
    ops = client.get("/ops/login")
    assert ops.status_code == 200
    ops_csp = ops.headers["content-security-policy"]
    assert ops_csp.startswith("default-src 'none'; script-src 'self'")
    assert "frame-ancestors 'none'" in ops_csp
    for r in (finder, ops):
        assert r.headers.get_list("content-security-policy") == [
            r.headers["content-security-policy"]
        ]  # not doubled by the middleware
        assert r.headers.get_list("x-frame-options") == ["DENY"]
        assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/docs").headers["content-security-policy"] == "frame-ancestors 'none'"


def test_member_page_gets_the_strict_csp_of_the_other_pages(make_client: MakeClient) -> None:
    """Story: the member page, which holds the phone's device key, was served with only
    `frame-ancestors 'none'`: any script or style from anywhere would have run on it.

    Every file of the page carries a policy as strict as the finder's: nothing from another
    origin, no inline script or style, no plugins, no framing; its service worker from here."""
    client, _ = make_client()
    strict = csp(FinderSettings()).split("; ")
    for path in (
        "/member/",
        "/member/index.html",
        "/member/app.js",
        "/member/i18n.js",
        "/member/sw.js",
        "/member/manifest.webmanifest",
    ):
        r = client.get(path)
        assert r.status_code == 200, path
        policy = r.headers["content-security-policy"]
        assert r.headers.get_list("content-security-policy") == [policy]
        directives = policy.split("; ")
        for rule in strict:  # the finder's rules, with its tile server (none) left out
            assert rule in directives, (path, rule)
        assert "worker-src 'self'" in directives
        assert "unsafe" not in policy
        assert r.headers["x-frame-options"] == "DENY"


def test_api_docs_are_off_and_the_schema_stays(make_client: MakeClient) -> None:
    """Story: `/docs` loaded Swagger UI from a public CDN (floating version, no integrity
    check) on the same origin as `/ops`: whoever controlled that file ran script next to the
    ops session. The pages are gone; the schema they drew stays at /openapi.json."""
    client, _ = make_client()
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    assert "/api/v1/stations/nearby" in schema.json()["paths"]


# Where a page could pull in code or styles: script and style sources, module imports.
_LOADS = re.compile(
    r"""(?:<script[^>]*\ssrc|<link[^>]*\shref|<img[^>]*\ssrc|<iframe[^>]*\ssrc)\s*=\s*["']?"""
    r"""(?:https?:)?//"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//"""
    r"""|\bimport\s*(?:[^"';]*\sfrom\s*)?\(?\s*["'](?:https?:)?//"""
    r"""|\.src\s*=\s*["'](?:https?:)?//""",
    re.IGNORECASE,
)


def test_no_page_loads_anything_from_another_site(make_client: MakeClient) -> None:
    """Story: the same as above, found by looking: no page the server sends, and no file of
    the pages, may load script, style or frames from another origin (CDNs included)."""
    client, admin = make_client()
    served = {}
    for path in ("/", "/ops/login", "/member/", "/docs", "/redoc"):
        r = client.get(path)
        if r.status_code == 200:
            served[path] = r.text
    dashboard = client.get("/ops", headers=admin)
    assert dashboard.status_code == 200
    served["/ops"] = dashboard.text
    assert {"/", "/ops/login", "/member/", "/ops"} <= served.keys()
    web = Path(security.__file__).resolve().parent.parent / "web"
    files = [p for p in web.rglob("*") if p.suffix in (".html", ".js", ".css")]
    assert len(files) > 10
    for p in files:
        served[str(p.relative_to(web))] = p.read_text(encoding="utf-8")
    offenders = {name: m.group(0) for name, text in served.items() if (m := _LOADS.search(text))}
    assert offenders == {}
    # the check itself finds what it is for
    assert _LOADS.search('<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/x.js">')
    assert _LOADS.search("<link rel='stylesheet' href=//unpkg.com/a.css>")
    assert _LOADS.search('import { x } from "https://esm.sh/y";')


def test_hsts_only_behind_https(make_client: MakeClient) -> None:
    plain, _ = make_client()
    https, _ = make_client(behind_https=True)
    assert "strict-transport-security" not in plain.get("/healthz").headers
    for path in ("/healthz", "/", "/ops/login", PUBLIC_GETS[0]):
        assert https.get(path).headers["strict-transport-security"] == security.HSTS


def test_ops_api_answers_are_never_cached(make_client: MakeClient) -> None:
    client, admin = make_client()
    for path in OPS_GETS:
        assert client.get(path, headers=admin).headers["cache-control"] == "no-store", path
        assert client.get(path).headers["cache-control"] == "no-store", path  # the 401 too
    geojson = client.get("/api/v1/stations.geojson")
    assert geojson.headers["cache-control"].startswith("public")  # public data stays cacheable


# --- CORS ---------------------------------------------------------------------------------


def test_cors_is_off_by_default(make_client: MakeClient) -> None:
    client, _ = make_client()
    for path in PUBLIC_GETS:
        r = client.get(path, headers={"Origin": ALLOWED})
        assert r.status_code in (200, 404)
        assert "access-control-allow-origin" not in r.headers
    pre = _preflight(client, "/api/v1/stations/nearby", ALLOWED)
    assert "access-control-allow-origin" not in pre.headers


def test_cors_allows_listed_origins_on_public_reads(make_client: MakeClient) -> None:
    client, _ = make_client(cors_origins=f"{ALLOWED}/, https://other-app.example.org")
    for path in PUBLIC_GETS:
        ok = client.get(path, headers={"Origin": ALLOWED})
        assert ok.status_code in (200, 404)
        assert ok.headers["access-control-allow-origin"] == ALLOWED
        assert "access-control-allow-credentials" not in ok.headers
        assert "Origin" in ok.headers["vary"]
        bad = client.get(path, headers={"Origin": OTHER})
        assert bad.status_code == ok.status_code
        assert "access-control-allow-origin" not in bad.headers
        assert "Origin" in bad.headers["vary"]


def test_cors_preflight(make_client: MakeClient) -> None:
    client, _ = make_client(cors_origins=ALLOWED)
    ok = _preflight(client, "/api/v1/stations/nearby", ALLOWED, headers="If-None-Match")
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    assert ok.headers["access-control-allow-methods"] == "GET, HEAD"
    assert ok.headers["access-control-allow-headers"] == "if-none-match"
    assert "access-control-allow-credentials" not in ok.headers
    refused = [
        _preflight(client, "/api/v1/stations/nearby", OTHER),
        _preflight(client, "/api/v1/stations/nearby", ALLOWED, method="POST"),
        _preflight(client, "/api/v1/stations/nearby", ALLOWED, headers="Authorization"),
    ]
    for r in refused:
        assert r.status_code == 403
        assert "access-control-allow-origin" not in r.headers


def test_cors_never_on_ops_or_member_routes(make_client: MakeClient) -> None:
    client, admin = make_client(cors_origins=ALLOWED)
    origin = {"Origin": ALLOWED}
    for path in (*OPS_GETS, "/api/v1/members/m-1/certificates", "/healthz", "/"):
        r = client.get(path, headers=admin | origin)
        assert "access-control-allow-origin" not in r.headers, path
        pre = _preflight(client, path, ALLOWED, headers="Authorization")
        assert "access-control-allow-origin" not in pre.headers, path
    unlock = client.post(
        "/api/v1/ops/stations/st-1/commands", json={"name": "unlock"}, headers=admin | origin
    )
    assert "access-control-allow-origin" not in unlock.headers


def test_cors_origins_setting_is_validated() -> None:
    assert Settings(cors_origins=" https://a.org/ ,http://b.org:8080,").cors_origin_list == (
        "https://a.org",
        "http://b.org:8080",
    )
    for bad in ("*", "a.org", "https://a.org/path", "ftp://a.org"):
        with pytest.raises(ValidationError, match="CORS origin"):
            Settings(cors_origins=bad)


def _preflight(
    client: TestClient, path: str, origin: str, *, method: str = "GET", headers: str = ""
) -> Any:
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        sent["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=sent)


# --- size limits --------------------------------------------------------------------------


def test_body_cap_on_every_route(make_client: MakeClient) -> None:
    client, admin = make_client()
    big = b'{"username": "root", "password": "' + b"x" * security.MAX_BODY_BYTES + b'"}'
    login = "/api/v1/ops/auth/login"
    small = client.post(login, json={"username": "root", "password": "wrong password 1"})
    assert small.status_code == 401  # parsed and judged
    r = client.post(login, content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert str(security.MAX_BODY_BYTES) in r.json()["detail"]
    cmd = "/api/v1/ops/stations/st-1/commands"
    r = client.post(cmd, content=big, headers=admin | {"Content-Type": "application/json"})
    assert r.status_code == 413
    r = client.post("/api/v1/reports", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_body_cap_without_content_length(make_client: MakeClient) -> None:
    """A chunked body has no length to judge up front: counted while read, refused past it."""
    client, _ = make_client()
    login = "/api/v1/ops/auth/login"

    def chunks(total: int) -> Iterator[bytes]:
        body = b'{"username": "root", "password": "' + b"x" * total + b'"}'
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    json_type = {"Content-Type": "application/json"}
    fits = client.post(login, content=chunks(100), headers=json_type)
    assert fits.status_code == 401  # the whole chunked body reached the route
    over = client.post(login, content=chunks(security.MAX_BODY_BYTES), headers=json_type)
    assert over.status_code == 413


def test_query_cap_on_every_route(make_client: MakeClient) -> None:
    client, admin = make_client()
    fits = "limit=5&" + "x" * (security.MAX_QUERY_BYTES - 100)
    over = "limit=5&" + "x" * security.MAX_QUERY_BYTES
    assert client.get(f"/api/v1/ops/alarms?{fits}", headers=admin).status_code == 200
    r = client.get(f"/api/v1/ops/alarms?{over}", headers=admin)
    assert r.status_code == 414
    assert str(security.MAX_QUERY_BYTES) in r.json()["detail"]
    assert client.get(f"/healthz?{over}").status_code == 414
    # the public station routes keep their stricter cap
    public = "/api/v1/stations/nearby?lat=31.23&lon=121.47&"
    assert client.get(public + "x" * (PUBLIC_MAX_QUERY + 1)).status_code == 414


def test_size_limits_asgi_edge_cases() -> None:
    """A malformed Content-Length is refused; a client that leaves mid-body reaches no route."""
    reached: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limits = security.SizeLimits(app, max_body=10)

    def run(headers: list[tuple[bytes, bytes]], messages: list[dict[str, Any]]) -> int:
        sent: list[dict[str, Any]] = []
        queue = list(messages)

        async def receive() -> dict[str, Any]:
            return queue.pop(0) if queue else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
        # On a thread of its own: Playwright's sync API (page tests earlier in the same
        # session) leaves an event loop running on the main thread.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, limits(scope, receive, send)).result()
        return int(sent[0]["status"])

    part = {"type": "http.request", "body": b"12345", "more_body": True}
    last = {"type": "http.request", "body": b"678", "more_body": False}
    assert run([(b"content-length", b"-1")], []) == 400
    assert run([(b"transfer-encoding", b"chunked")], [part, last]) == 200
    assert reached == [b"12345678"]
    assert run([(b"transfer-encoding", b"chunked")], [part, part, last]) == 413
    assert run([(b"transfer-encoding", b"chunked")], [part]) == 413  # client gone
    assert reached == [b"12345678"]


# --- values no route should see -----------------------------------------------------------


def test_nul_in_the_url_is_refused(make_client: MakeClient) -> None:
    client, admin = make_client()
    assert client.get("/api/v1/stations/st-001").status_code == 404  # a plain miss
    for path in (
        "/api/v1/stations/st%00001",
        "/api/v1/stations/nearby?lat=31.23&lon=121.47&amenity=wa%00ter",
        "/api/v1/ops/stations?q=a%00b",
        "/api/v1/ops/footfall/cities/sh%00",
    ):
        r = client.get(path, headers=admin)
        assert r.status_code == 400, path
        assert r.json()["detail"] == "NUL character in the URL"


def test_values_the_database_refuses_are_a_422(db_url: str) -> None:
    """PostgreSQL refuses NUL in text: without the handler these were 500s (fuzzing)."""
    engine = make_engine(db_url)
    init_db(engine)
    engine.dispose()
    with TestClient(create_app(Settings(db=db_url, rate_limit_burst=1_000))) as client:
        r = client.post("/api/v1/reports", json={"station_id": "st\x00001", "kind": "other"})
    if db_url.startswith("postgresql"):
        assert r.status_code == 422
        assert "NUL" in r.json()["detail"]
    else:
        assert r.status_code == 404  # SQLite stores NUL: the station simply does not exist
