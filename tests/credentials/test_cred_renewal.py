"""Certificate renewal over the members API: a phone near expiry gets a new certificate on
the same device key; replays, stale or forged requests, revoked and suspended members are
refused with the reason; ops list the members whose renewal was refused.

Story: certificates died after 28 days with nothing to renew them, so a worker whose phone
had been online all month was still locked out on day 29.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient

from cloud.auth import Role, create_user, issue_token, passwords
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.credentials.models import MemberRow
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.settings import Settings
from firmware_sim.wallet import Wallet, enrollment_request, new_device_key, renewal_request
from protocol.credential import Flag, Reason, parse_certificate, verify
from protocol.trust import RevocationList, TrustList, unb64u

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ADMIN: dict[str, str] = {}


@dataclass
class Clock:
    at: datetime = NOW

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(db_url: str, clock: Clock) -> Iterator[TestClient]:
    engine = make_engine(db_url)
    init_db(engine)
    vault = I.KeyVault(Passphrase("renewal test passphrase"))
    with session(engine) as s:
        I.create_issuer(s, vault, kid="ren-1", now=NOW)
    create_user(engine, "root", Role.ADMIN, "correct horse battery")
    ADMIN["Authorization"] = f"Bearer {issue_token(engine, 'root')}"
    app = create_app(Settings(db=db_url), engine=engine, clock=clock)
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    with TestClient(app) as c:
        yield c
    engine.dispose()


def _enrol(client: TestClient, member: str) -> Wallet:
    assert client.put(f"/api/v1/members/{member}", json={}, headers=ADMIN).is_success
    code = client.post(f"/api/v1/members/{member}/enrol-code", headers=ADMIN).json()["code"]
    device = new_device_key()
    res = client.post("/api/v1/members/enroll", json=enrollment_request(member, code, device))
    assert res.status_code == 200, res.text
    assert res.json()["server_time_ms"] == int(NOW.timestamp() * 1000)
    return Wallet(member, device, unb64u(res.json()["certificate"]))


def _renew(client: TestClient, wallet: Wallet, t_ms: int | None = None) -> Any:
    if t_ms is None:
        t_ms = client.get("/api/v1/members/clock").json()["server_time_ms"]
    body = renewal_request(wallet.certificate, wallet.device_key, t_ms)
    return client.post("/api/v1/members/renew", json=body)


def _station_grants(client: TestClient, text: str, at: datetime) -> bool:
    trust = TrustList.model_validate_json(client.get("/api/v1/trust/keys").content)
    revs = RevocationList.model_validate_json(client.get("/api/v1/trust/revocations").content)
    decision = verify(text, issuers=trust.issuers(), revoked=revs.revoked(), now=at)
    return decision.reason is Reason.GRANTED


def test_a_phone_three_days_from_expiry_renews_once_per_request(
    client: TestClient, clock: Clock
) -> None:
    wallet = _enrol(client, "m-1")
    clock.at = NOW + timedelta(days=25)  # valid_until is NOW + 28 days: 3 days left
    assert (wallet.cert.valid_until - clock.at.date()).days == 3
    t_ms = client.get("/api/v1/members/clock").json()["server_time_ms"]
    res = _renew(client, wallet, t_ms)
    assert res.status_code == 200, res.text
    body = res.json()
    assert res.headers["cache-control"] == "no-store"
    assert body["renewed_from"] == wallet.serial
    assert body["serial"] != wallet.serial
    assert body["valid_until"] == (clock.at.date() + timedelta(days=28)).isoformat()
    assert body["server_time_ms"] == int(clock.at.timestamp() * 1000)
    renewed = Wallet("m-1", wallet.device_key, unb64u(body["certificate"]))
    assert renewed.cert.device_public == wallet.cert.device_public
    assert _station_grants(client, renewed.present(int(clock.at.timestamp())), clock.at)

    # The same request again is a replay, whatever moment it arrives.
    clock.at += timedelta(seconds=5)
    again = _renew(client, wallet, t_ms)
    assert (again.status_code, again.json()["reason"]) == (409, "replayed")
    # A fresh request minutes later: the rate limit, with the wait.
    soon = _renew(client, renewed)
    assert (soon.status_code, soon.json()["reason"]) == (429, "too_soon")
    assert 3500 <= int(soon.headers["retry-after"]) <= 3600
    clock.at += timedelta(hours=1)
    assert _renew(client, renewed).status_code == 200

    # Every renewal is in the certificate ledger, naming what it renewed.
    listed = client.get("/api/v1/members/m-1/certificates", headers=ADMIN).json()
    assert [(c["serial"], c["renewed_from"]) for c in listed][:2] == [
        (wallet.serial, None),
        (renewed.serial, wallet.serial),
    ]
    assert listed[2]["renewed_from"] == renewed.serial
    assert client.get("/api/v1/ops/members/renewal-failures", headers=ADMIN).json() == []


def test_revoked_suspended_and_ended_members_are_refused_with_the_reason_and_listed_for_ops(
    client: TestClient, clock: Clock
) -> None:
    """Also: bulk import sets flags and a membership end on the member; a renewal carries
    today's flags, never runs past that end, and none is given once it has passed."""
    revoked, suspended = _enrol(client, "m-rev"), _enrol(client, "m-sus")
    ending = _enrol(client, "m-end")
    assert client.post("/api/v1/members/m-rev/revoke", headers=ADMIN).is_success
    assert client.put("/api/v1/members/m-sus", json={"status": "suspended"}, headers=ADMIN)
    end = NOW.date() + timedelta(days=10)
    with session(client.app.state.ctx.engine) as s:  # what `members import` writes
        member = s.get(MemberRow, "m-end")
        assert member is not None
        member.flags, member.valid_until = int(Flag.STAFF), end
    clock.at = NOW + timedelta(days=5)
    res = _renew(client, ending)
    assert res.status_code == 200, res.text
    renewed = parse_certificate(unb64u(res.json()["certificate"]))
    assert (renewed.valid_until, renewed.flags) == (end, Flag.STAFF)
    clock.at = NOW + timedelta(days=20)

    res = _renew(client, revoked)
    assert res.status_code == 403
    assert res.json()["reason"] == "revoked"
    assert "revoked on 2026-03-10" in res.json()["detail"]
    clock.at += timedelta(seconds=1)
    res = _renew(client, suspended)
    assert (res.status_code, res.json()["reason"]) == (403, "suspended")
    assert "member is suspended" in res.json()["detail"]
    clock.at += timedelta(seconds=1)
    res = _renew(client, ending)
    assert (res.status_code, res.json()["reason"]) == (403, "ended")
    assert f"membership ended {end.isoformat()}" in res.json()["detail"]

    assert client.get("/api/v1/ops/members/renewal-failures").status_code == 401
    failures = client.get("/api/v1/ops/members/renewal-failures", headers=ADMIN).json()
    assert [(f["member_id"], f["status"]) for f in failures] == [  # the latest first
        ("m-end", "active"),
        ("m-sus", "suspended"),
        ("m-rev", "active"),
    ]
    assert "revoked" in failures[2]["error"]
    assert failures[1]["valid_until"] == (NOW.date() + timedelta(days=28)).isoformat()


def test_forged_stale_unknown_and_long_expired_requests_are_refused(
    client: TestClient, clock: Clock
) -> None:
    wallet, stranger = _enrol(client, "m-1"), _enrol(client, "m-2")
    clock.at = NOW + timedelta(days=20)
    now_ms = int(clock.at.timestamp() * 1000)

    thief = Wallet("m-1", new_device_key(), wallet.certificate)  # the certificate, not the key
    res = _renew(client, thief)
    assert (res.status_code, res.json()["reason"]) == (422, "bad_signature")
    res = _renew(client, wallet, now_ms - 10 * 60 * 1000)  # the phone's own wrong clock
    assert (res.status_code, res.json()["reason"]) == (422, "stale")
    assert "GET /api/v1/members/clock" in res.json()["detail"]
    forged = bytearray(stranger.certificate)
    forged[10] ^= 1  # another serial: not in the ledger
    res = _renew(client, Wallet("m-2", stranger.device_key, bytes(forged)))
    assert (res.status_code, res.json()["reason"]) == (404, "unknown")
    res = client.post(
        "/api/v1/members/renew", json={"certificate": "!!", "t_ms": now_ms, "signature": "x"}
    )
    assert res.status_code == 422
    # None of those proved the device key: nothing is recorded against the member.
    assert client.get("/api/v1/ops/members/renewal-failures", headers=ADMIN).json() == []

    clock.at = NOW + timedelta(days=28 + 31)  # last valid day + 31 days
    res = _renew(client, wallet)
    assert (res.status_code, res.json()["reason"]) == (403, "expired")
    clock.at = NOW + timedelta(days=28 + 29)  # within the grace: still renews
    assert _renew(client, wallet).status_code == 200
    assert client.get("/api/v1/ops/members/renewal-failures", headers=ADMIN).json() == []
