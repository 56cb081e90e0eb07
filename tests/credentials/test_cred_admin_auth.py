"""Who may administer members, and what the audit log keeps of it.

Member administration belongs to ops accounts with the admin role (API token or browser
session with CSRF), every call leaves an `audit_log` row, and the retired shared
`WAYSTATION_ADMIN_TOKEN` neither opens anything nor lets the server start.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from cloud.auth import Role, create_user, issue_token, passwords
from cloud.auth.models import AuditEntry
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.credentials.models import MemberRow
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.settings import Settings
from firmware_sim.wallet import enrollment_request, new_device_key

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
PASSPHRASE = "admin auth test passphrase"
SERIAL = "ab" * 12
# Every member-admin route, as (method, path).
ADMIN_ROUTES = [
    ("PUT", "/api/v1/members/m-1"),
    ("POST", "/api/v1/members/m-1/enrol-code"),
    ("GET", "/api/v1/members/m-1/certificates"),
    ("GET", f"/api/v1/certificates/{SERIAL}"),
    ("POST", f"/api/v1/certificates/{SERIAL}/revoke"),
    ("POST", "/api/v1/members/m-1/revoke"),
    ("POST", "/api/v1/members/m-1/tokens?days=1"),
]
# Bearer values that Python's str.strip() turns into "": NBSP (0xA0) and NEL (0x85) are not
# HTTP whitespace, so uvicorn's parser passes them through (decoded as Latin-1).
BLANK_BEARERS = [b"Bearer \xa0", b"Bearer \x85", b"Bearer \xa0\xa0", b"Bearer \xa0\t\xa0"]


class _Clock:
    def __call__(self) -> datetime:
        return NOW


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    init_db(eng)
    with session(eng) as s:
        I.create_issuer(s, I.KeyVault(Passphrase(PASSPHRASE)), kid="adm-1", now=NOW)
    for role in Role:
        create_user(eng, role.value, role, PASSWORD)
    yield eng
    eng.dispose()


def _bearer(engine: Engine, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(engine, username)}"}


def _client(engine: Engine, db_url: str) -> TestClient:
    app = create_app(Settings(db=db_url, cookie_secure=False), engine=engine, clock=_Clock())
    vault = I.KeyVault(Passphrase(PASSPHRASE))
    app.state.credentials = CredentialContext(CredentialSettings(publish_lists=False), vault)
    return TestClient(app)


def _audit(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())  # type: ignore[arg-type]


def _raw_request(base: str, method: str, path: str, authorization: bytes) -> tuple[int, Any]:
    """One request over a real socket with this exact Authorization byte string."""
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=10)
    try:
        body = b"{}" if method == "PUT" else b""
        conn.putrequest(method, path)
        conn.putheader("Authorization", authorization)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        res = conn.getresponse()
        return res.status, res.getheader("WWW-Authenticate")
    finally:
        conn.close()


def test_an_empty_admin_token_line_with_a_blank_bearer_opens_nothing(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, live: Callable[..., str]
) -> None:
    """Story: with `WAYSTATION_ADMIN_TOKEN=` (empty) in the environment, `Authorization:
    Bearer <NBSP>` got through uvicorn's parser, was stripped to "" and matched the empty
    token: anyone could create members, mint enrolment codes and revoke certificates.

    The old configuration is in force (the variable is set, empty, and the members API reads
    its settings from the environment on first use) and the requests go over a real socket;
    every blank-looking bearer on every member-admin route must be 401, and nothing may
    change in the database."""
    monkeypatch.setenv("WAYSTATION_ISSUER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("WAYSTATION_PUBLISH_LISTS", "false")
    app = create_app(Settings(db=db_url), engine=engine, clock=_Clock())
    monkeypatch.setenv("WAYSTATION_ADMIN_TOKEN", "")  # as an `ADMIN_TOKEN=` line leaves it
    base = live(app)
    for method, path in ADMIN_ROUTES:
        for bearer in BLANK_BEARERS:
            status, challenge = _raw_request(base, method, path, bearer)
            assert status == 401, (method, path, bearer, status)
            assert "bearer" in (challenge or "").lower()
    with Session(engine) as s:
        assert s.get(MemberRow, "m-1") is None
    assert _audit(engine) == []


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_member_admin_is_refused_below_the_admin_role(
    engine: Engine, db_url: str, role: Role
) -> None:
    """Story: member administration was guarded by one shared token, not by ops roles; a
    viewer or operator account must now get 403 on every member-admin route."""
    headers = _bearer(engine, role.value)
    with _client(engine, db_url) as client:
        for method, path in ADMIN_ROUTES:
            body = {} if method == "PUT" else None
            res = client.request(method, path, json=body, headers=headers)
            assert res.status_code == 403, (method, path, res.text)
            assert "admin" in res.json()["detail"]
        assert client.get("/api/v1/ops/fleet", headers=headers).status_code == 200  # token works
    assert _audit(engine) == []


def test_an_admin_administers_members_and_every_call_is_audited(
    engine: Engine, db_url: str
) -> None:
    """Story: member administration left no trace (a shared token has no name); each call by
    an ops admin now writes an audit row naming the account, and never the enrolment code."""
    admin = _bearer(engine, "admin")
    with _client(engine, db_url) as client:
        assert client.put("/api/v1/members/m-1", json={"branch": "bj"}, headers=admin).is_success
        code = client.post("/api/v1/members/m-1/enrol-code", headers=admin).json()["code"]
        enrolled = client.post(
            "/api/v1/members/enroll", json=enrollment_request("m-1", code, new_device_key())
        )
        assert enrolled.status_code == 200, enrolled.text
        serial = enrolled.json()["serial"]
        calls = [
            ("GET", "/api/v1/members/m-1/certificates"),
            ("GET", f"/api/v1/certificates/{serial}"),
            ("POST", "/api/v1/members/m-1/tokens?days=1"),
            ("POST", f"/api/v1/certificates/{serial}/revoke"),
            ("POST", "/api/v1/members/m-1/revoke"),
        ]
        for method, path in calls:
            res = client.request(method, path, headers=admin)
            assert res.status_code == 200, (method, path, res.text)
    rows = _audit(engine)
    assert [(r.action, r.target) for r in rows] == [
        ("member.put", "member:m-1"),
        ("member.enrol_code", "member:m-1"),
        ("member.certificates", "member:m-1"),
        ("certificate.lookup", f"certificate:{serial}"),
        ("member.tokens", "member:m-1"),
        ("certificate.revoke", f"certificate:{serial}"),
        ("member.revoke", "member:m-1"),
    ]
    assert {(r.username, r.role, r.at) for r in rows} == {("admin", "admin", NOW)}
    assert rows[0].detail == {"branch": "bj", "created": True}  # the fields sent, no more
    assert rows[4].detail == {"serial": serial, "days": 1, "count": 288}
    assert rows[5].detail == {"revoked": [serial], "revocation_version": 2}
    assert rows[6].detail == {"revoked": [], "revocation_version": 3}
    assert code not in json.dumps([r.detail for r in rows])


def test_an_admin_browser_session_needs_its_csrf_token(engine: Engine, db_url: str) -> None:
    """Story: the shared token was the only way in; an admin's dashboard session now works
    too, with the same CSRF rule as every other ops change."""
    with _client(engine, db_url) as client:
        login = client.post(
            "/api/v1/ops/auth/login", json={"username": "admin", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        csrf: Any = login.json()["csrf_token"]
        assert client.put("/api/v1/members/m-2", json={}).status_code == 403
        res = client.put("/api/v1/members/m-2", json={}, headers={"X-CSRF-Token": csrf})
        assert res.status_code == 200, res.text
    assert [(r.action, r.username) for r in _audit(engine)][-1] == ("member.put", "admin")
    with Session(engine) as s:
        count = s.execute(select(func.count()).select_from(MemberRow)).scalar_one()
    assert count == 1


def test_a_leftover_admin_token_variable_stops_the_server_from_starting(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Story: an operator's leftover `WAYSTATION_ADMIN_TOKEN=` line silently kept (or, empty,
    opened) member administration; a server finding it now refuses to start and says what
    replaced it."""
    monkeypatch.setenv("WAYSTATION_ADMIN_TOKEN", "")
    with pytest.raises(RuntimeError, match="retired") as refused:
        create_app(Settings(db=f"sqlite:///{tmp_path / 'x.db'}"))
    assert "users token" in str(refused.value)
    with pytest.raises(RuntimeError, match="WAYSTATION_ADMIN_TOKEN"):
        CredentialContext.from_env(None)
