"""Cross-origin access for a union app page embedding the wallet (`cloud.api.walletcors`):
only listed origins, only the module and the wallet's three routes, never credentials."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.api.walletcors import ROUTES
from cloud.main import create_app
from cloud.settings import Settings

UNION = "https://h5.union.example"


@pytest.fixture
def wallet_client(db_url: str, engine: Any, clock: Any) -> Iterator[TestClient]:
    app = create_app(Settings(db=db_url, wallet_origins=UNION), clock=clock)
    with TestClient(app) as c:
        yield c


def _preflight(client: TestClient, path: str, origin: str, method: str, headers: str) -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_a_listed_union_page_may_load_the_module_and_call_the_wallet_routes(
    wallet_client: TestClient,
) -> None:
    res = wallet_client.get("/static/wallet/v1/wallet.js", headers={"Origin": UNION})
    assert res.headers["access-control-allow-origin"] == UNION
    assert "access-control-allow-credentials" not in res.headers
    ok = _preflight(wallet_client, "/api/v1/members/enroll", UNION, "POST", "content-type")
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == UNION
    assert ok.headers["access-control-allow-headers"] == "content-type"
    clock = wallet_client.get("/api/v1/members/clock", headers={"Origin": UNION})
    assert clock.headers["access-control-allow-origin"] == UNION
    assert set(ROUTES) == {
        "/api/v1/members/enroll", "/api/v1/members/renew", "/api/v1/members/clock",
    }  # fmt: skip


def test_other_origins_routes_methods_and_headers_are_refused(wallet_client: TestClient) -> None:
    other = "https://evil.example"
    res = wallet_client.get("/static/wallet/v1/wallet.js", headers={"Origin": other})
    assert "access-control-allow-origin" not in res.headers
    assert _preflight(wallet_client, "/api/v1/members/renew", other, "POST", "").status_code == 403
    # a listed page still gets nothing else: the admin and the app backend API stay closed
    for path, method in (
        ("/api/v1/members/m-1/enrol-code", "POST"),
        ("/api/v1/app/members/m-1", "PUT"),
        ("/api/v1/members/enroll", "PUT"),
    ):
        res = _preflight(wallet_client, path, UNION, method, "content-type")
        assert "access-control-allow-origin" not in res.headers, path
    res = _preflight(wallet_client, "/api/v1/members/enroll", UNION, "POST", "authorization")
    assert res.status_code == 403
    res = wallet_client.get("/api/v1/ops/stations", headers={"Origin": UNION})
    assert "access-control-allow-origin" not in res.headers


def test_no_origins_listed_means_no_cross_origin_wallet(client: TestClient) -> None:
    res = client.get("/static/wallet/v1/wallet.js", headers={"Origin": UNION})
    assert res.status_code == 200
    assert "access-control-allow-origin" not in res.headers
    with pytest.raises(ValueError, match="no path"):
        Settings(wallet_origins="https://h5.union.example/app")
