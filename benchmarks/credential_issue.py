"""What issuing costs the cloud: opening a sealed key, one enrolment over the API, and the size
and signing time of the revocation list as revocations pile up.

Run: .venv/bin/python benchmarks/credential_issue.py [--n 200] [--revoked 10000]
Baselines measured in the same run: loading an unencrypted key (what sealing adds), a
`GET /api/v1/trust/keys` on the same app and database (what enrolment adds over a plain
read), and an empty revocation list (what each revoked serial adds).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)
from fastapi.testclient import TestClient

from cloud.auth import Role, create_user, issue_token
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import keys as K  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.lists import build_revocation_list
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.settings import Settings
from firmware_sim.wallet import enrollment_request, new_device_key


def ms(samples: list[float], q: float = 0.5) -> float:
    ordered = sorted(samples)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: object, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="enrolments")
    parser.add_argument("--revoked", type=int, default=10_000, help="serials on the big list")
    args = parser.parse_args()

    # 1. Sealed key: scrypt + AES-GCM vs a plain DER load.
    key = K.new_key()
    passphrase = K.Passphrase("benchmark passphrase")
    sealed = K.seal(key, "bench", passphrase)
    der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    unseal = timed(lambda: K.unseal(sealed, passphrase), 10)
    plain = timed(lambda: load_der_private_key(der, None), 200)
    print(f"unseal (scrypt N=2^15 r=8 + AES-GCM)  p50 {ms(unseal):8.2f} ms")
    print(f"baseline: load unencrypted key       p50 {ms(plain):8.3f} ms")
    print(f"ratio                                      {ms(unseal) / ms(plain):8.0f}x")

    # 2. Enrolment over the API (SQLite file, TestClient) vs a plain read on the same app.
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(db)
        init_db(engine)
        vault = I.KeyVault(passphrase)
        with session(engine) as s:
            I.create_issuer(s, vault, kid="bench-1", now=datetime.now(UTC))
        # Member administration is an ops admin's job: one account, its API token.
        create_user(engine, "bench", Role.ADMIN, "benchmark admin password")
        admin = {"Authorization": f"Bearer {issue_token(engine, 'bench')}"}
        engine.dispose()
        # Enrolment is rate-limited per address in production; one client here sends them all.
        app = create_app(Settings(db=db, auth_burst=100_000))
        app.state.credentials = CredentialContext(CredentialSettings(), vault)
        with TestClient(app) as client:
            codes = []
            for i in range(args.n):
                client.put(f"/api/v1/members/b-{i}", json={}, headers=admin)
                codes.append(client.post(f"/api/v1/members/b-{i}/enrol-code", headers=admin))
            bodies = [
                enrollment_request(f"b-{i}", r.json()["code"], new_device_key())
                for i, r in enumerate(codes)
            ]
            client.post("/api/v1/members/enroll", json=bodies.pop())  # opens the key once
            enrol = []
            for body in bodies:
                start = time.perf_counter()
                res = client.post("/api/v1/members/enroll", json=body)
                enrol.append(time.perf_counter() - start)
                assert res.status_code == 200, res.text
            read = timed(lambda: client.get("/api/v1/trust/keys"), len(bodies))
        print(f"enrol one device (POST /members/enroll) p50 {ms(enrol):6.2f} ms  "
              f"p95 {ms(enrol, 0.95):6.2f} ms")  # fmt: skip
        print(f"baseline: GET /api/v1/trust/keys       p50 {ms(read):6.2f} ms")
        print(f"ratio                                      {ms(enrol) / ms(read):6.1f}x")

    # 3. The revocation list at scale: bytes on every station and signing time.
    anchor = K.new_key()
    now = datetime.now(UTC)
    serials = [os.urandom(12).hex() for _ in range(args.revoked)]
    empty = build_revocation_list([], anchor=anchor, held=1, now=now)
    sign_big = timed(lambda: build_revocation_list(serials, anchor=anchor, held=1, now=now), 5)
    sign_empty = timed(lambda: build_revocation_list([], anchor=anchor, held=1, now=now), 20)
    big = build_revocation_list(serials, anchor=anchor, held=1, now=now)
    print(f"revocation list, {args.revoked} serials: {len(big.to_bytes()) / 1024:7.1f} KiB, "
          f"build+sign p50 {ms(sign_big):7.2f} ms")  # fmt: skip
    print(f"baseline: empty list:          {len(empty.to_bytes()):7d} B,   "
          f"build+sign p50 {ms(sign_empty):7.2f} ms")  # fmt: skip
    per = (len(big.to_bytes()) - len(empty.to_bytes())) / args.revoked
    print(f"bytes per revoked serial: {per:.1f}")


if __name__ == "__main__":
    main()
