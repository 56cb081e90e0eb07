"""Time to verify one member presentation at the door, against two bare ECDSA verifies.

Run: .venv/bin/python benchmarks/credential_verify.py [--n 2000]
The baseline is the irreducible cryptography (issuer + device signature checks); the ratio
shows what parsing, base45 and the policy checks add on top.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec

from protocol import credential as c
from protocol.trust import TrustedKey, TrustList


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()

    now = datetime.now(UTC)
    anchor, issuer = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    key = TrustedKey.of(
        "bench", issuer.public_key(), now - timedelta(days=1), now + timedelta(days=9)
    )
    issuers = TrustList(version=1, issued_at=now, keys=[key]).sign(anchor).issuers()
    devices = [ec.generate_private_key(ec.SECP256R1()) for _ in range(200)]
    certs = [
        c.issue_certificate(
            issuer,
            kid="bench",
            serial=os.urandom(12),
            device_public=d.public_key(),
            valid_from=now.date(),
            valid_until=now.date() + timedelta(days=30),
        )
        for d in devices
    ]
    t0 = int(now.timestamp())
    texts = [
        c.present(certs[i % 200], devices[i % 200], t0 - (i // 200) % 25) for i in range(args.n)
    ]
    revoked = frozenset(os.urandom(12) for _ in range(10_000))
    replay = c.ReplayCache(horizon_s=120)

    full: list[float] = []
    for text in texts:
        start = time.perf_counter()
        decision = c.verify(text, issuers=issuers, revoked=revoked, now=now, replay=replay)
        full.append((time.perf_counter() - start) * 1000)
        assert decision.granted, decision

    bare: list[float] = []
    pub = issuer.public_key()
    for text in texts:
        item = c.parse_text(text)
        assert isinstance(item, c.Presentation)
        dev = c.load_public(item.certificate.device_public)
        start = time.perf_counter()
        c.verify_raw(pub, item.certificate.signature, c.CERT_CONTEXT + item.certificate.body)
        c.verify_raw(dev, item.signature, item.signed)
        bare.append((time.perf_counter() - start) * 1000)

    p50, p95 = statistics.median(full), percentile(full, 0.95)
    b50 = statistics.median(bare)
    print(f"presentations: {args.n}, text length {len(texts[0])} chars, revoked list 10,000")
    print(f"verify() full decision   p50 {p50:.3f} ms  p95 {p95:.3f} ms")
    print(f"baseline 2× ECDSA verify p50 {b50:.3f} ms")
    print(f"ratio full/baseline      {p50 / b50:.2f}×")


if __name__ == "__main__":
    main()
