"""`protocol.renewal`: the bytes a phone signs to renew, the same for every wallet."""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from protocol.credential import PRESENTATION_CONTEXT, compress_public, load_public, verify_raw
from protocol.renewal import MAX_T_MS, RENEW_CONTEXT, renewal_message, sign_renewal


def test_the_message_is_certificate_then_big_endian_ms_then_the_context() -> None:
    message = renewal_message(b"CERT", 1_765_000_000_123)
    assert message == b"CERT" + struct.pack(">Q", 1_765_000_000_123) + RENEW_CONTEXT
    assert RENEW_CONTEXT != PRESENTATION_CONTEXT  # never mistaken for a presentation


@pytest.mark.parametrize("t_ms", [-1, MAX_T_MS + 1])
def test_times_outside_what_javascript_carries_exactly_are_refused(t_ms: int) -> None:
    with pytest.raises(ValueError, match="t_ms"):
        renewal_message(b"CERT", t_ms)


def test_the_signature_verifies_only_for_the_same_certificate_and_time() -> None:
    device = ec.generate_private_key(ec.SECP256R1())
    public = load_public(compress_public(device.public_key()))
    signature = sign_renewal(b"CERT", device, 1000)
    assert len(signature) == 64
    assert verify_raw(public, signature, renewal_message(b"CERT", 1000))
    assert not verify_raw(public, signature, renewal_message(b"CERT", 1001))
    assert not verify_raw(public, signature, renewal_message(b"CERU", 1000))
