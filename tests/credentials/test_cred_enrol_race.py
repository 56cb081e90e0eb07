"""A one-time enrolment code is spent once, even by many requests arriving together.

Real concurrency on SQLite (a WAL file) and PostgreSQL: N threads, each with its own session
and connection, released together by a barrier, present the same code with different device
keys. Exactly one certificate may come out; every other caller gets a clean refusal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import IssuerKeyError, Passphrase
from cloud.credentials.models import CertificateRow, MemberRow
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.settings import Settings
from firmware_sim.wallet import enrollment_request, new_device_key
from protocol.trust import unb64u

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
RACERS = 12  # threads presenting the same code at once (the audit saw 8 of 8 succeed)
JOIN_S = 60.0  # a racer stuck this long is a deadlock, not slowness


class _Clock:
    def __call__(self) -> datetime:
        return NOW


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    # Room for every racer's own connection at once (the default pool holds 5 + 10).
    eng = make_engine(db_url, pool_size=RACERS, max_overflow=4)
    init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def vault() -> I.KeyVault:
    return I.KeyVault(Passphrase("race test passphrase"))


def _member_with_code(engine: Engine, vault: I.KeyVault) -> str:
    with session(engine) as s:
        I.create_issuer(s, vault, kid="race-1", now=NOW)
        M.upsert_member(s, member_id="m-race")
        s.flush()
        code = M.new_enrol_code(s, member_id="m-race", now=NOW)
    with session(engine) as s:
        I.signing_key(s, vault, NOW)  # unseal once, so racers spend no time in scrypt
    return code


def _race(work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) on RACERS threads released together; each result or raised exception."""
    barrier = threading.Barrier(RACERS)
    results: list[Any] = [None] * RACERS

    def racer(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # the test sorts the outcomes
            results[i] = exc

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_S)
    assert not any(t.is_alive() for t in threads), "a racer is stuck"
    return results


def _certificates(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(CertificateRow)).scalar_one())


def test_parallel_enrolments_with_one_code_issue_exactly_one_certificate(
    engine: Engine, vault: I.KeyVault
) -> None:
    """Story: 8 parallel enrolments with one one-time code got 8 certificates, because each
    read the code as unspent before any of them cleared it.

    Each racer has its own session and connection; the spend must be one conditional UPDATE.
    """
    code = _member_with_code(engine, vault)
    bodies = [enrollment_request("m-race", code, new_device_key()) for _ in range(RACERS)]

    def enrol(i: int) -> bytes:
        with Session(engine) as s:
            try:
                cert = M.enroll(
                    s, vault, member_id="m-race", code=code, now=NOW,
                    device_public=unb64u(bodies[i]["device_public"]),
                    proof=unb64u(bodies[i]["proof"]),
                )  # fmt: skip
                s.commit()
            except BaseException:
                s.rollback()
                raise
            return cert

    results = _race(enrol)
    issued = [r for r in results if isinstance(r, bytes)]
    refused = [r for r in results if isinstance(r, I.CredentialError)]
    assert len(issued) == 1, results
    assert len(refused) == RACERS - 1, results
    assert {r.status for r in refused} == {403}
    assert _certificates(engine) == 1
    with Session(engine) as s:
        member = s.get(MemberRow, "m-race")
        assert member is not None
        assert member.enrol_code_hash is None  # spent


def test_parallel_enrol_requests_over_http_get_one_200_and_clean_refusals(
    engine: Engine, db_url: str, vault: I.KeyVault
) -> None:
    """Story: the same race through the API: parallel POST /members/enroll with one code each
    got a certificate. Now one 200; the others 403 (or 503 when SQLite stayed busy), no 500."""
    code = _member_with_code(engine, vault)
    app = create_app(Settings(db=db_url), engine=engine, clock=_Clock())
    app.state.credentials = CredentialContext(CredentialSettings(publish_lists=False), vault)
    bodies = [enrollment_request("m-race", code, new_device_key()) for _ in range(RACERS)]
    with TestClient(app, raise_server_exceptions=False) as client:
        results = _race(lambda i: client.post("/api/v1/members/enroll", json=bodies[i]))
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 1, [(r.status_code, r.text) for r in results]
    assert set(statuses) <= {200, 403, 503}, [(r.status_code, r.text) for r in results]
    assert all(r.json()["detail"] for r in results if r.status_code != 200)
    assert _certificates(engine) == 1


def test_a_failure_after_the_spend_rolls_the_spend_back(engine: Engine, vault: I.KeyVault) -> None:
    """Story: spending the code before signing must not burn it when signing then fails
    (here: the server was started with the wrong issuer passphrase); the member retries."""
    code = _member_with_code(engine, vault)
    body = enrollment_request("m-race", code, new_device_key())
    args: dict[str, Any] = {
        "member_id": "m-race", "code": code, "now": NOW,
        "device_public": unb64u(body["device_public"]), "proof": unb64u(body["proof"]),
    }  # fmt: skip
    with Session(engine) as s:
        with pytest.raises(IssuerKeyError):
            M.enroll(s, I.KeyVault(Passphrase("not the passphrase")), **args)
        s.rollback()  # what the API does on any failure
    with Session(engine) as s:
        assert M.enroll(s, vault, **args)
        s.commit()
    assert _certificates(engine) == 1
