"""The trust directory: its file names and the anchor's encoding (pure; no file I/O).

A station pins the union's trust-anchor public key and keeps the signed lists exactly as
received, in one directory:

    anchor.pem         the trust anchor, P-256, PEM SubjectPublicKeyInfo (never sent over MQTT)
    trust.json         the signed trust list (`protocol.trust.TrustList`), bytes as received
    revocations.json   the signed revocation list (`protocol.trust.RevocationList`)

The union's issuing kit writes the same layout, so the tools that read a station's directory
(`edge verify`) read a kit too. Who reads and writes the files is each side's business
(`edge.access.trustfiles` on a station, `cloud.credentials.kit` for the kit); the format is here so
neither has to import the other.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

ANCHOR_FILE = "anchor.pem"
TRUST_FILE = "trust.json"
REVOCATIONS_FILE = "revocations.json"


class AnchorError(ValueError):
    """Bytes that are not a P-256 public key in PEM."""


def anchor_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    """The anchor as stored in `anchor.pem`."""
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def parse_anchor(pem: bytes) -> ec.EllipticCurvePublicKey:
    """The anchor in `pem`; `AnchorError` saying why if it is not a P-256 public key."""
    try:
        key = load_pem_public_key(pem)
    except ValueError as exc:
        raise AnchorError("not a PEM public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise AnchorError("not a P-256 key")
    return key
