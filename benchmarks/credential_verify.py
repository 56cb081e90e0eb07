"""Time to decide on one member presentation at the door, against two bare ECDSA verifies.

Run: .venv/bin/python benchmarks/credential_verify.py [--n 2000]
Two figures: `protocol.credential.verify` (the reference verifier with a replay cache) and the
station's whole decision, `edge.access.decide.AccessDecider.decide` (clock rule, door mode,
replay cache on the station's own clocks). The baseline is the irreducible cryptography
(issuer + device signature checks); the ratio shows what everything else adds on top.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec

from edge.access.decide import AccessDecider
from edge.access.replay import ReplayCache
from edge.access.schedule import DoorMode, DoorSchedule
from edge.access.timeguard import TimeGuard
from edge.access.verify import AccessVerifier
from edge.clock import SystemClock
from protocol import credential as c
from protocol.trust import RevocationList, TrustedKey, TrustList


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
    trust = TrustList(version=1, issued_at=now, keys=[key]).sign(anchor)
    issuers = trust.issuers()
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
    clock = SystemClock()
    replay = ReplayCache(monotonic=clock.monotonic, floor=time.time)

    full: list[float] = []
    for text in texts:
        start = time.perf_counter()
        decision = c.verify(text, issuers=issuers, revoked=revoked, now=now, replay=replay)
        full.append((time.perf_counter() - start) * 1000)
        assert decision.granted, decision

    class Frozen(SystemClock):  # the wall clock of the presentations, monotonic as is
        def now(self) -> datetime:
            return now

    guard = TimeGuard(Frozen(), None, probe=lambda: True)
    serials = [r.hex() for r in revoked]
    revocations = RevocationList(version=1, issued_at=now, serials=serials).sign(anchor)
    verifier = AccessVerifier(
        anchor=anchor.public_key(), policy=c.VerifyPolicy(), trust=trust, revocations=revocations
    )
    door = AccessDecider(
        verifier=verifier,
        time_guard=guard,
        schedule=DoorSchedule(free=None, members="Mo-Su 00:00-24:00", timezone="Asia/Shanghai"),
        max_entries=100_000,
    )
    station: list[float] = []
    for text in texts:
        start = time.perf_counter()
        verdict = door.decide(text, DoorMode.MEMBERS)
        station.append((time.perf_counter() - start) * 1000)
        assert verdict.decision.granted, verdict

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
    s50, s95 = statistics.median(station), percentile(station, 0.95)
    print(f"verify() full decision   p50 {p50:.3f} ms  p95 {p95:.3f} ms")
    print(f"station decide()         p50 {s50:.3f} ms  p95 {s95:.3f} ms")
    print(f"baseline 2× ECDSA verify p50 {b50:.3f} ms")
    print(f"ratio full/baseline      {p50 / b50:.2f}×")
    print(f"ratio station/baseline   {s50 / b50:.2f}×")


if __name__ == "__main__":
    main()
