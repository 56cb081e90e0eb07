"""Ops auth over HTTP: who may call what, sessions with CSRF, bearer tokens, expiry,
disabling, throttling, no user enumeration, and the audit trail."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session

from cloud.auth import Role, issue_token, passwords
from cloud.auth.models import AuditEntry, OpsSession, OpsUser
from cloud.auth.throttle import FREE_FAILURES

from .conftest import IDLE_S, MAX_S, PASSWORD

AUTH = "/api/v1/ops/auth"
ACT = "/api/v1/ops/test/act"
Login = Callable[..., tuple[TestClient, str]]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _actions(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as s:
        rows = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()  # type: ignore[arg-type]
        return [(r.username, r.action, r.target) for r in rows]


# --- who may call what ---------------------------------------------------------------------

# (method, path, body, lowest role that may)
MATRIX: list[tuple[str, str, dict[str, Any] | None, Role]] = [
    ("GET", f"{AUTH}/me", None, Role.VIEWER),
    ("GET", ACT, None, Role.OPERATOR),
    ("POST", ACT, None, Role.OPERATOR),
    ("GET", f"{AUTH}/users", None, Role.ADMIN),
    ("GET", f"{AUTH}/tokens", None, Role.ADMIN),
    ("PATCH", f"{AUTH}/users/viewer", {"role": "viewer"}, Role.ADMIN),
    ("GET", "/api/v1/ops/audit", None, Role.ADMIN),
]


def test_every_role_gets_exactly_what_its_rank_allows(
    client: TestClient, engine: Engine, users: dict[Role, str], login: Login
) -> None:
    tokens = {role: issue_token(engine, name) for role, name in users.items()}
    for method, path, body, lowest in MATRIX:
        r = client.request(method, path, json=body)
        assert r.status_code == 401, (method, path)
        assert r.headers["www-authenticate"].startswith("Bearer")
        for role in Role:
            want = 403 if role < lowest else 200
            r = client.request(method, path, json=body, headers=_bearer(tokens[role]))
            assert r.status_code == want, (method, path, role, r.text)
    sessions = {role: login(name) for role, name in users.items()}
    for method, path, body, lowest in MATRIX:
        for role, (c, csrf) in sessions.items():
            want = 403 if role < lowest else 200
            r = c.request(method, path, json=body, headers={"X-CSRF-Token": csrf})
            assert r.status_code == want, (method, path, role, r.text)


def test_bad_credentials_are_401_not_403(client: TestClient, users: dict[Role, str]) -> None:
    for headers in (
        _bearer("wst_not-a-real-token"),
        _bearer("garbage"),
        {"Authorization": "Basic YWRtaW46eA=="},
    ):
        r = client.get(f"{AUTH}/me", headers=headers)
        assert r.status_code == 401
        assert "www-authenticate" in r.headers
    client.cookies.set("ws_session", "forged")
    assert client.get(f"{AUTH}/me").status_code == 401


def test_pages_can_ask_who_is_calling_without_requiring_a_login(
    client: TestClient, engine: Engine, users: dict[Role, str]
) -> None:
    whoami = "/api/v1/ops/test/whoami"
    assert client.get(whoami).json() is None
    token = issue_token(engine, "viewer")
    assert client.get(whoami, headers=_bearer(token)).json() == {"by": "viewer", "via": "token"}
    assert client.get(whoami, headers=_bearer("wst_bad")).status_code == 401


# --- sessions and CSRF ---------------------------------------------------------------------


def test_login_sets_a_strict_httponly_cookie_and_me_reports_the_session(
    client: TestClient, users: dict[Role, str]
) -> None:
    r = client.post(f"{AUTH}/login", json={"username": "Operator", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == "operator"
    assert body["role"] == "operator"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("ws_session=")
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Secure" not in cookie  # cookie_secure=False in this app
    me = client.get(f"{AUTH}/me").json()
    union = {"everything": True, "operators": [], "cities": []}
    assert me == {"username": "operator", "role": "operator", "via": "session",
                  "csrf_token": body["csrf_token"], "scope": union}  # fmt: skip


def test_secure_cookie_by_default(db_url: str, engine: Engine, users: dict[Role, str]) -> None:
    from cloud.main import create_app
    from cloud.settings import Settings

    with TestClient(create_app(Settings(db=db_url)), base_url="https://testserver") as c:
        r = c.post(f"{AUTH}/login", json={"username": "viewer", "password": PASSWORD})
        assert r.status_code == 200
        assert "Secure" in r.headers["set-cookie"]


def test_form_login_works_too(client: TestClient, users: dict[Role, str]) -> None:
    r = client.post(f"{AUTH}/login", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["role"] == "admin"
    bad = client.post(f"{AUTH}/login", content=b"{", headers={"content-type": "application/json"})
    assert bad.status_code == 422
    odd = client.post(f"{AUTH}/login", content=b"x", headers={"content-type": "text/plain"})
    assert odd.status_code == 415
    form = {"username": "admin", "password": PASSWORD}
    cross = client.post(f"{AUTH}/login", data=form, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403  # login CSRF


def test_cookie_posts_need_the_csrf_token_and_bearer_posts_do_not(
    client: TestClient, engine: Engine, users: dict[Role, str], login: Login
) -> None:
    c, csrf = login("operator")
    assert c.post(ACT).status_code == 403
    assert c.post(ACT, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    _other, other_csrf = login("admin")
    assert c.post(ACT, headers={"X-CSRF-Token": other_csrf}).status_code == 403
    cross = {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    assert c.post(ACT, headers=cross).status_code == 403
    assert c.post(ACT, headers={"X-CSRF-Token": csrf, "Origin": "null"}).status_code == 403
    same = {"X-CSRF-Token": csrf, "Origin": "http://testserver"}
    assert c.post(ACT, headers=same).json() == {"by": "operator", "via": "session"}
    assert c.get(ACT).status_code == 200  # safe methods need no token
    token = issue_token(engine, "operator")
    r = client.post(ACT, headers=_bearer(token))
    assert r.json() == {"by": "operator", "via": "token"}


def test_logout_ends_the_session(client: TestClient, users: dict[Role, str], login: Login) -> None:
    c, csrf = login("viewer")
    stolen = c.cookies.get("ws_session")
    assert c.post(f"{AUTH}/logout").status_code == 403  # logout is CSRF-protected too
    r = c.post(f"{AUTH}/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    assert c.get(f"{AUTH}/me").status_code == 401
    client.cookies.set("ws_session", stolen)
    assert client.get(f"{AUTH}/me").status_code == 401


def test_sessions_expire_when_idle_and_at_the_absolute_limit(
    users: dict[Role, str], login: Login, clock: Any, engine: Engine
) -> None:
    idle, _ = login("viewer")
    clock.advance(IDLE_S - 5)
    assert idle.get(f"{AUTH}/me").status_code == 200
    clock.advance(IDLE_S - 5)  # activity moved the idle deadline
    assert idle.get(f"{AUTH}/me").status_code == 200
    clock.advance(IDLE_S + 1)
    assert idle.get(f"{AUTH}/me").status_code == 401

    busy, _ = login("viewer")
    for _ in range(MAX_S // (IDLE_S // 2)):
        assert busy.get(f"{AUTH}/me").status_code == 200
        clock.advance(IDLE_S // 2)
    assert busy.get(f"{AUTH}/me").status_code == 401
    with Session(engine) as s:  # expired rows are gone, not just ignored
        assert s.execute(select(OpsSession)).first() is None


def test_disabling_a_user_stops_its_sessions_and_tokens_at_once(
    engine: Engine, users: dict[Role, str], login: Login
) -> None:
    admin, csrf = login("admin")
    op, _ = login("operator")
    token = issue_token(engine, "operator")
    assert op.get(ACT).status_code == 200
    r = admin.patch(f"{AUTH}/users/operator", json={"disabled": True},
                    headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert r.status_code == 200
    assert r.json()["disabled"] is True
    assert op.get(ACT).status_code == 401
    assert op.get(ACT, headers=_bearer(token)).status_code == 401
    r = op.post(f"{AUTH}/login", json={"username": "operator", "password": PASSWORD})
    assert r.status_code == 401
    assert ("admin", "user.disable", "operator") in _actions(engine)


def test_role_changes_apply_to_live_sessions(
    engine: Engine, users: dict[Role, str], login: Login
) -> None:
    admin, csrf = login("admin")
    viewer, _ = login("viewer")
    assert viewer.get(ACT).status_code == 403
    r = admin.patch(f"{AUTH}/users/viewer", json={"role": "operator"},
                    headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert r.json()["role"] == "operator"
    assert viewer.get(ACT).status_code == 200
    entry = [e for e in _actions(engine) if e[1] == "user.role"]
    assert entry == [("admin", "user.role", "viewer")]


def test_the_last_admin_cannot_lock_everyone_out(
    client: TestClient, engine: Engine, users: dict[Role, str]
) -> None:
    admin = _bearer(issue_token(engine, "admin"))
    for change in ({"disabled": True}, {"role": "operator"}):
        r = client.patch(f"{AUTH}/users/admin", json=change, headers=admin)
        assert r.status_code == 409
        assert "last enabled admin" in r.json()["detail"]
    second = {"username": "second", "role": "admin", "password": "another long secret"}
    r = client.post(f"{AUTH}/users", headers=admin, json=second)
    assert r.status_code == 201
    r = client.patch(f"{AUTH}/users/admin", json={"role": "operator"}, headers=admin)
    assert r.status_code == 200
    assert client.get(f"{AUTH}/users", headers=admin).status_code == 403  # applies at once


# --- tokens --------------------------------------------------------------------------------


def test_tokens_are_shown_once_stored_hashed_and_revocable(
    client: TestClient, engine: Engine, users: dict[Role, str], clock: Any
) -> None:
    admin = _bearer(issue_token(engine, "admin"))
    wanted = {"username": "operator", "name": "unlock script", "expires_days": 1}
    r = client.post(f"{AUTH}/tokens", headers=admin, json=wanted)
    assert r.status_code == 201
    made = r.json()
    token = made["token"]
    assert token.startswith("wst_")
    listed = client.get(f"{AUTH}/tokens", headers=admin, params={"username": "operator"}).json()
    assert [t["id"] for t in listed] == [made["id"]]
    assert "token" not in listed[0]
    with engine.connect() as conn:
        from sqlalchemy import text

        hashes = [row[0] for row in conn.execute(text("SELECT token_hash FROM api_token"))]
    assert token not in hashes
    assert all(len(h) == 64 for h in hashes)
    assert client.post(ACT, headers=_bearer(token)).status_code == 200
    r = client.post(f"{AUTH}/tokens/{made['id']}/revoke", headers=admin)
    assert r.json()["revoked_at"] is not None
    assert client.post(ACT, headers=_bearer(token)).status_code == 401
    actions = [a for _u, a, _t in _actions(engine)]
    assert actions.count("token.create") == 1
    assert actions.count("token.revoke") == 1
    assert client.post(f"{AUTH}/tokens/999/revoke", headers=admin).status_code == 404


def test_an_expired_token_is_refused(
    client: TestClient, engine: Engine, users: dict[Role, str], clock: Any
) -> None:
    admin = _bearer(issue_token(engine, "admin"))
    r = client.post(f"{AUTH}/tokens", headers=admin,
                    json={"username": "viewer", "name": "short", "expires_days": 0.5})  # fmt: skip
    token = r.json()["token"]
    assert client.get(f"{AUTH}/me", headers=_bearer(token)).status_code == 200
    clock.advance(12 * 3600 + 1)
    assert client.get(f"{AUTH}/me", headers=_bearer(token)).status_code == 401


# --- login hardening -----------------------------------------------------------------------


def test_repeated_failures_are_throttled_per_username_and_address(
    client: TestClient, users: dict[Role, str], clock: Any
) -> None:
    wrong = {"username": "admin", "password": "not the password"}
    for _ in range(FREE_FAILURES - 1):
        assert client.post(f"{AUTH}/login", json=wrong).status_code == 401
    assert client.post(f"{AUTH}/login", json=wrong).status_code == 401  # this one locks
    right = {"username": "admin", "password": PASSWORD}
    r = client.post(f"{AUTH}/login", json=right)
    assert r.status_code == 429
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 15
    # another username from the same address is not locked out by this
    other = {"username": "viewer", "password": PASSWORD}
    assert client.post(f"{AUTH}/login", json=other).status_code == 200
    clock.advance(wait)
    assert client.post(f"{AUTH}/login", json=wrong).status_code == 401
    r = client.post(f"{AUTH}/login", json=right)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > wait  # the lock doubles
    clock.advance(int(r.headers["retry-after"]))
    assert client.post(f"{AUTH}/login", json=right).status_code == 200
    clock.advance(1)
    assert client.post(f"{AUTH}/login", json=wrong).status_code == 401  # count was cleared


def test_unknown_users_and_wrong_passwords_look_the_same(
    client: TestClient, users: dict[Role, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    monkeypatch.setattr(passwords, "HASHER", PasswordHasher())  # real cost: timing matters
    from cloud.auth import create_user

    create_user(client.app.state.ctx.engine, "realcost", Role.VIEWER, PASSWORD)

    def attempt(username: str) -> tuple[int, str, float]:
        start = time.perf_counter()
        r = client.post(f"{AUTH}/login", json={"username": username, "password": "nope nope"})
        return r.status_code, r.text, time.perf_counter() - start

    attempt("warmup-unknown")
    known = [attempt("realcost") for _ in range(3)]
    unknown = [attempt(f"ghost{i}") for i in range(3)]
    assert {(s, t) for s, t, _ in known} == {(s, t) for s, t, _ in unknown}
    assert known[0][0] == 401
    fast_known = min(d for *_, d in known)
    fast_unknown = min(d for *_, d in unknown)
    # both pay one Argon2 verification (~0.1 s); without burn() unknown would take ~1 ms
    assert fast_unknown > 0.5 * fast_known
    assert fast_known > 0.5 * fast_unknown


def test_login_rehashes_a_password_made_with_old_parameters(
    client: TestClient, engine: Engine, users: dict[Role, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    with Session(engine) as s:
        before = s.get(OpsUser, "viewer")
        assert before is not None
        old_hash = before.password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "HASHER", stronger)
    right = {"username": "viewer", "password": PASSWORD}
    assert client.post(f"{AUTH}/login", json=right).status_code == 200
    with Session(engine) as s:
        after = s.get(OpsUser, "viewer")
        assert after is not None
        assert after.password_hash != old_hash
        assert not stronger.check_needs_rehash(after.password_hash)
        assert after.last_login_at is not None
    assert client.post(f"{AUTH}/login", json=right).status_code == 200


# --- user management and the audit log ----------------------------------------------------


def test_admin_manages_users_and_every_change_is_audited(
    client: TestClient, engine: Engine, users: dict[Role, str], login: Login
) -> None:
    admin, csrf = login("admin")
    h = {"X-CSRF-Token": csrf}
    weak = admin.post(f"{AUTH}/users", headers=h,
                      json={"username": "new", "role": "viewer", "password": "short"})  # fmt: skip
    assert weak.status_code == 422
    li_wei = {"username": "Li.Wei", "role": "operator", "password": "long enough pw 1"}
    r = admin.post(f"{AUTH}/users", headers=h, json=li_wei)
    assert r.status_code == 201
    assert r.json()["username"] == "li.wei"
    dup = admin.post(f"{AUTH}/users", headers=h, json=li_wei | {"username": "li.wei"})
    assert dup.status_code == 409
    r = admin.patch(f"{AUTH}/users/nobody", json={"role": "viewer"}, headers=h)
    assert r.status_code == 404
    li, _ = login("li.wei", "long enough pw 1")
    r = admin.post(f"{AUTH}/users/li.wei/password", json={"password": "a new long secret"},
                   headers=h)  # fmt: skip
    assert r.status_code == 204
    assert li.get(f"{AUTH}/me").status_code == 401  # a reset ends the user's sessions
    login("li.wei", "a new long secret")
    names = [u["username"] for u in admin.get(f"{AUTH}/users").json()]
    assert names == sorted(names)
    assert "li.wei" in names
    log = _actions(engine)
    assert ("admin", "user.create", "li.wei") in log
    assert ("admin", "user.password", "li.wei") in log
    assert ("li.wei", "auth.login", "li.wei") in log
    assert not any(a == "user.create" and t == "new" for _u, a, t in log)  # refused: no entry
    with Session(engine) as s:
        rows = s.execute(select(AuditEntry)).scalars().all()  # type: ignore[arg-type]
    assert all(r.ip == "testclient" for r in rows)
    assert all("password" not in str(r.detail) for r in rows)


def test_audit_log_is_newest_first_and_paginated(
    client: TestClient, engine: Engine, users: dict[Role, str]
) -> None:
    from cloud.auth import Principal, audit

    who = Principal("operator", Role.OPERATOR, "token", "10.0.0.9")
    with Session(engine) as s:
        for i in range(7):
            audit(s, who, "door.unlock", f"st-{i:03d}", {"n": i})
        s.commit()
    admin = _bearer(issue_token(engine, "admin"))
    seen: list[int] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 3, "action": "door.unlock"}
        if before:
            params["before"] = before
        page = client.get("/api/v1/ops/audit", params=params, headers=admin).json()
        seen += [item["detail"]["n"] for item in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1, 0]
    first = client.get("/api/v1/ops/audit", params={"limit": 1}, headers=admin).json()["items"]
    assert first[0]["action"] == "door.unlock"
    assert first[0]["ip"] == "10.0.0.9"
    assert first[0]["role"] == "operator"
