"""What a signed server-to-server request costs: a union app backend's
`GET /api/v1/app/members/{id}` (client lookup, ES256 verify, nonce insert, audit row) against
the same lookup by an ops admin's bearer token (`GET /api/v1/members/{id}/certificates`, also
audited) on the same app and database, measured in the same run.

Run: .venv/bin/python benchmarks/app_api.py [--n 300] [--db URL]   (default: a SQLite file)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher, profiles
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from cloud.auth import Role, create_user, issue_token, passwords
from cloud.credentials import apiclients as A  # noqa: N812
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.settings import Settings
from protocol.credential import compress_public
from protocol.trust import b64u


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="requests of each kind")
    parser.add_argument("--db", default=None, help="database URL (default: a new SQLite file)")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db_url = args.db or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    passwords.HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
    engine = make_engine(db_url)
    init_db(engine)
    now = datetime.now(UTC)
    vault = I.KeyVault(Passphrase("benchmark passphrase"))
    key = ec.generate_private_key(ec.SECP256R1())
    with session(engine) as s:
        I.create_issuer(s, vault, kid="bench-1", now=now)
        M.apply_member(s, member_id="m-bench", changes={})
        A.add_client(
            s, client_id="bench-app", scopes="status", now=now, rate_per_min=60_000,
            public_key=b64u(compress_public(key.public_key())).encode(),
        )  # fmt: skip
    create_user(engine, "bench-admin", Role.ADMIN, "benchmark password 1")
    admin = {"Authorization": f"Bearer {issue_token(engine, 'bench-admin')}"}
    app = create_app(Settings(db=db_url))
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    signed, bearer = [], []
    target = "/api/v1/app/members/m-bench"
    with TestClient(app) as http:
        for i in range(args.n + 20):
            start = time.perf_counter()
            headers = A.sign_request(
                key, client_id="bench-app", method="GET", target=target,
                timestamp=int(time.time()),
            )  # fmt: skip
            res = http.get(target, headers=headers)
            took = time.perf_counter() - start
            assert res.status_code == 200, res.text
            start = time.perf_counter()
            res = http.get("/api/v1/members/m-bench/certificates", headers=admin)
            base = time.perf_counter() - start
            assert res.status_code == 200, res.text
            if i >= 20:  # warm-up: first connections, caches
                signed.append(took)
                bearer.append(base)
    engine.dispose()
    kind = db_url.split(":", 1)[0]
    print(f"{kind}: n={args.n}")
    print(f"signed app request (sign + verify + nonce + audit) p50 {quantile(signed, 0.5):6.2f} ms"
          f"  p95 {quantile(signed, 0.95):6.2f} ms")  # fmt: skip
    print(f"baseline: admin bearer lookup (audited)           p50 {quantile(bearer, 0.5):6.2f} ms"
          f"  p95 {quantile(bearer, 0.95):6.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
