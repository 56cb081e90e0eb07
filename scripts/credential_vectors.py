#!/usr/bin/env python3
"""Test vectors for app and station developers: fixed keys, a certificate, presentations and
tokens, signed lists, and the decision a station must reach for each case.

Everything is deterministic (fixed private scalars, RFC 6979 deterministic ECDSA), so the
same run always gives the same bytes. The byte layout is written out here independently of
`protocol/credential.py`; the test in tests/credentials checks that the protocol agrees.

    .venv/bin/python scripts/credential_vectors.py            # print the JSON
    .venv/bin/python scripts/credential_vectors.py --write    # refresh docs/credential.md
    .venv/bin/python scripts/credential_vectors.py --check    # exit 1 if the docs are stale

Needs cryptography >= 44 (deterministic ECDSA). These keys are public: never use them.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import base45
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOC = Path(__file__).resolve().parent.parent / "docs" / "credential.md"
BEGIN, END = "<!-- vectors:begin -->", "<!-- vectors:end -->"
CERT_CONTEXT = b"waystation/v1/certificate"
PRESENTATION_CONTEXT = b"waystation/v1/presentation"
TOKEN_CONTEXT = b"waystation/v2/token"
EPOCH = date(1970, 1, 1)

KID = "test-1"
SERIAL = bytes(range(12))
VALID_FROM, VALID_UNTIL = date(2026, 3, 1), date(2026, 3, 29)
FLAGS = 1  # mother-and-baby room
T = int(datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp())


def key(label: str) -> ec.EllipticCurvePrivateKey:
    """A fixed P-256 key: the scalar is SHA-256 of a label (public, for vectors only)."""
    return ec.derive_private_key(
        int.from_bytes(hashlib.sha256(label.encode()).digest(), "big"), ec.SECP256R1()
    )


def sign(k: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    der = k.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def compressed(k: ec.EllipticCurvePrivateKey) -> bytes:
    return k.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)


def b64u(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def days(d: date) -> int:
    return (d - EPOCH).days


def certificate(issuer: ec.EllipticCurvePrivateKey, device: ec.EllipticCurvePrivateKey) -> bytes:
    body = (
        bytes([0x01, len(KID)])
        + KID.encode()
        + SERIAL
        + compressed(device)
        + struct.pack(">HHB", days(VALID_FROM), days(VALID_UNTIL), FLAGS)
    )
    return body + sign(issuer, CERT_CONTEXT + body)


def presentation(cert: bytes, device: ec.EllipticCurvePrivateKey, t: int) -> str:
    signed = cert + struct.pack(">I", t)
    return "WS1:" + base45.b45encode(signed + sign(device, signed + PRESENTATION_CONTEXT)).decode()


def token(issuer: ec.EllipticCurvePrivateKey, window_start_min: int, window_len: int) -> str:
    body = (
        bytes([0x02, len(KID)])
        + KID.encode()
        + SERIAL
        + struct.pack(">IHB", window_start_min, window_len, FLAGS)
    )
    return "WS2:" + base45.b45encode(body + sign(issuer, TOKEN_CONTEXT + body)).decode()


def signed_list(anchor: ec.EllipticCurvePrivateKey, body: dict[str, Any]) -> dict[str, Any]:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return body | {"sig": b64u(sign(anchor, canonical))}


def iso(t: float) -> str:
    """RFC 3339 UTC; milliseconds only when `t` has a fraction (the window is exact)."""
    at = datetime.fromtimestamp(t, UTC)
    if t == int(t):
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def vectors() -> dict[str, Any]:
    anchor, issuer, device = key("anchor"), key("issuer test-1"), key("device")
    cert = certificate(issuer, device)
    trust = signed_list(
        anchor,
        {
            "v": 1,
            "version": 1,
            "issued_at": "2026-03-01T00:00:00Z",
            "keys": [
                {
                    "kid": KID,
                    "public_key": b64u(compressed(issuer)),
                    "not_before": "2026-01-01T00:00:00Z",
                    "not_after": "2027-01-01T00:00:00Z",
                }
            ],
        },
    )
    revocations_v1 = signed_list(
        anchor, {"v": 1, "version": 1, "issued_at": "2026-03-01T00:00:00Z", "serials": []}
    )
    revocations_v2 = signed_list(
        anchor,
        {"v": 1, "version": 2, "issued_at": "2026-03-05T00:00:00Z", "serials": [SERIAL.hex()]},
    )
    ws1 = presentation(cert, device, T)
    tampered = ws1[:-1] + ("0" if ws1[-1] != "0" else "1")
    window_start = T // 60
    ws2 = token(issuer, window_start, 5)
    expired_t = int(datetime(2026, 3, 30, 12, 0, tzinfo=UTC).timestamp())
    early_t = int(datetime(2026, 2, 27, 12, 0, tzinfo=UTC).timestamp())
    cases = [
        {"name": "fresh presentation", "text": ws1, "now": iso(T + 5), "expect": "granted"},
        {"name": "same code again at the same station", "text": ws1, "now": iso(T + 6),
         "after": ["fresh presentation"], "expect": "replayed"},
        {"name": "31 s later (window 30 s)", "text": ws1, "now": iso(T + 31),
         "expect": "stale_presentation"},
        {"name": "exactly 30 s later (the window is inclusive)", "text": ws1,
         "now": iso(T + 30), "expect": "granted"},
        {"name": "30.5 s later (exact time, never whole seconds)", "text": ws1,
         "now": iso(T + 30.5), "expect": "stale_presentation"},
        {"name": "last base45 character changed", "text": tampered, "now": iso(T + 5),
         "expect_one_of": ["bad_signature", "malformed"]},
        {"name": "serial on revocation list v2", "text": ws1, "now": iso(T + 5),
         "revocations": "revocations_v2", "expect": "revoked"},
        {"name": "empty trust list", "text": ws1, "now": iso(T + 5), "trust": None,
         "expect": "unknown_issuer"},
        {"name": "door needs STAFF (flag 2)", "text": ws1, "now": iso(T + 5), "required": 2,
         "expect": "not_permitted"},
        {"name": "shown after valid_until", "text": presentation(cert, device, expired_t),
         "now": iso(expired_t), "expect": "expired"},
        {"name": "shown before valid_from", "text": presentation(cert, device, early_t),
         "now": iso(early_t), "expect": "not_yet_valid"},
        {"name": "WS2 token inside its window", "text": ws2, "now": iso(window_start * 60 + 60),
         "expect": "granted"},
        {"name": "WS2 token after its window", "text": ws2, "now": iso(window_start * 60 + 400),
         "expect": "stale_presentation"},
        {"name": "WS2 token 1 ms before its window end", "text": ws2,
         "now": iso(window_start * 60 + 299.999), "expect": "granted"},
        {"name": "WS2 token at exactly its window end (half-open)", "text": ws2,
         "now": iso(window_start * 60 + 300), "expect": "stale_presentation"},
        {"name": "same WS2 token again near its window end, same station", "text": ws2,
         "now": iso(window_start * 60 + 290), "after": ["WS2 token inside its window"],
         "expect": "replayed"},
    ]  # fmt: skip
    return {
        "warning": "public test keys: never use them for anything real",
        "keys": {
            "anchor_private_hex": f"{anchor.private_numbers().private_value:064x}",
            "anchor_public": b64u(compressed(anchor)),
            "issuer_kid": KID,
            "issuer_private_hex": f"{issuer.private_numbers().private_value:064x}",
            "issuer_public": b64u(compressed(issuer)),
            "device_private_hex": f"{device.private_numbers().private_value:064x}",
            "device_public": b64u(compressed(device)),
        },
        "certificate_hex": cert.hex(),
        "presentation_t": T,
        "presentation": ws1,
        "token": ws2,
        "trust_list": trust,
        "revocations_v1": revocations_v1,
        "revocations_v2": revocations_v2,
        "policy": {"window_s": 30, "skew_s": 0},
        "cases": cases,
    }


def block() -> str:
    return f"{BEGIN}\n```json\n{json.dumps(vectors(), indent=2)}\n```\n{END}"


def main(argv: list[str]) -> int:
    if not argv:
        print(json.dumps(vectors(), indent=2))
        return 0
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    fresh = text[:start] + block() + text[end:]
    if argv == ["--check"]:
        if fresh != text:
            print(f"{DOC} vectors are stale: run scripts/credential_vectors.py --write")
            return 1
        return 0
    if argv == ["--write"]:
        DOC.write_text(fresh, encoding="utf-8")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
