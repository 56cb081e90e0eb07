"""What a phone signs to renew its certificate: the bytes, so every wallet signs the same.

    renewal request signature = ES256 by the device key over
        certificate | t_ms u64 (unix milliseconds, big-endian) | RENEW_CONTEXT

`t_ms` is the server's own time as the server told it (`GET /api/v1/members/clock`), never
the phone's clock: a phone whose clock is wrong can still renew, and the server can judge
freshness and replay by its own clock alone (docs/credential.md, "Renewal"). The context
string keeps a renewal signature from ever being taken for a presentation or an enrolment
proof, and the other way round. No I/O here.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.asymmetric import ec

from protocol.credential import sign_raw

RENEW_CONTEXT = b"waystation/v1/renew"
MAX_T_MS = 2**53 - 1  # JavaScript's largest exact integer: every wallet can carry it


def renewal_message(certificate: bytes, t_ms: int) -> bytes:
    """The bytes a renewal signature covers; `t_ms` is unix milliseconds (server time)."""
    if not 0 <= t_ms <= MAX_T_MS:
        raise ValueError(f"t_ms must be 0..{MAX_T_MS}")
    return certificate + struct.pack(">Q", t_ms) + RENEW_CONTEXT


def sign_renewal(certificate: bytes, device: ec.EllipticCurvePrivateKey, t_ms: int) -> bytes:
    """The raw (r||s, 64 bytes) renewal signature a wallet sends."""
    return sign_raw(device, renewal_message(certificate, t_ms))
