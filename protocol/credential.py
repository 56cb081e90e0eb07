"""The member credential: certificate, presentation (`WS1:`), compact token (`WS2:`), verify.

Byte layout (all integers big-endian; signatures are raw r||s, 32 bytes each, ES256):

    certificate  = 0x01 | kid_len u8 | kid ascii | serial 12 | device_pub 33 (SEC1 compressed)
                   | valid_from u16 | valid_until u16 (days since 1970-01-01 UTC, inclusive)
                   | flags u8 | issuer_sig 64 over CERT_CONTEXT | everything before it
    presentation = certificate | t u32 (unix seconds) | device_sig 64
                   over certificate | t | PRESENTATION_CONTEXT
    token (WS2)  = 0x02 | kid_len u8 | kid | serial 12 | window_start u32 (unix minutes)
                   | window_len u16 (minutes) | flags u8 | issuer_sig 64 over TOKEN_CONTEXT | ...

The text in the QR is `WS1:`/`WS2:` + base45 (RFC 9285), which stays inside the QR
alphanumeric character set so the code is a version or two smaller than byte mode.

Context strings are domain separation: a signature made for one structure can never be
replayed as another. No I/O here; callers pass the clock, trust and revocations in.

One module on purpose (~500 lines): the byte layout, issuing, parsing and the verification
rule are what a third party reads to build a door verifier, and they change together.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Container, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import IntFlag, StrEnum
from typing import Literal, Protocol

import base45
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CERT_VERSION = 0x01
TOKEN_VERSION = 0x02
CERT_CONTEXT = b"waystation/v1/certificate"
PRESENTATION_CONTEXT = b"waystation/v1/presentation"
TOKEN_CONTEXT = b"waystation/v2/token"
WS1_PREFIX = "WS1:"
WS2_PREFIX = "WS2:"

SERIAL_LEN = 12
PUBKEY_LEN = 33
SIG_LEN = 64
KID_RE = re.compile(r"^[A-Za-z0-9._-]{1,16}$")
# Longest legitimate text: a WS1 with a 16-char kid is ~215 bytes → ~325 chars. Anything far
# beyond is refused before base45 decoding does work on attacker-sized input.
MAX_TEXT_LEN = 600
DEFAULT_WINDOW_S = 30
_EPOCH = date(1970, 1, 1)


class Reason(StrEnum):
    """Why a presentation was granted or denied (DESIGN.md); stable, sent on the wire."""

    GRANTED = "granted"
    MALFORMED = "malformed"
    UNKNOWN_ISSUER = "unknown_issuer"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    STALE_PRESENTATION = "stale_presentation"
    REPLAYED = "replayed"
    NOT_PERMITTED = "not_permitted"


class Flag(IntFlag):
    """Member privileges carried in the certificate."""

    NONE = 0
    MOTHER_BABY = 1  # access to the mother-and-baby room
    STAFF = 2  # station staff: may enter while the station is closed to the public


# What a replay cache remembers: (kind "ws1"/"ws2", serial, claimed unix second).
ReplayKey = tuple[str, bytes, int]


class MalformedError(ValueError):
    """Bytes or text that cannot be a credential."""


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """A trusted issuer public key and the period (UTC) in which it may be used."""

    kid: str
    public_key: ec.EllipticCurvePublicKey
    not_before: datetime
    not_after: datetime

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at <= self.not_after


@dataclass(frozen=True, slots=True)
class Certificate:
    kid: str
    serial: bytes
    device_public: bytes
    valid_from: date
    valid_until: date
    flags: Flag
    body: bytes  # everything the issuer signed
    signature: bytes

    @property
    def raw(self) -> bytes:
        return self.body + self.signature


@dataclass(frozen=True, slots=True)
class Presentation:
    certificate: Certificate
    t: int
    signature: bytes

    @property
    def signed(self) -> bytes:
        return self.certificate.raw + struct.pack(">I", self.t) + PRESENTATION_CONTEXT


@dataclass(frozen=True, slots=True)
class Token:
    kid: str
    serial: bytes
    window_start: int  # unix minutes
    window_len: int  # minutes
    flags: Flag
    body: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of verifying one scanned text; carries no personal data, only the serial."""

    reason: Reason
    credential: Literal["ws1", "ws2"] | None = None
    kid: str | None = None
    serial: str | None = None  # hex
    flags: Flag = Flag.NONE
    t: int | None = None  # presentation time or token window start, unix seconds
    detail: str = ""

    @property
    def granted(self) -> bool:
        return self.reason is Reason.GRANTED


# --- helpers -------------------------------------------------------------------------------------


def days(d: date) -> int:
    return (d - _EPOCH).days


def from_days(n: int) -> date:
    return date.fromordinal(_EPOCH.toordinal() + n)


def compress_public(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)


def load_public(raw: bytes) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def sign_raw(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_raw(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    if len(signature) != SIG_LEN:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _kid_bytes(kid: str) -> bytes:
    if not KID_RE.fullmatch(kid):
        raise ValueError(f"invalid kid {kid!r}: 1-16 of [A-Za-z0-9._-]")
    return bytes([len(kid)]) + kid.encode("ascii")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise MalformedError(f"truncated at byte {self.pos} (need {n} more)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def kid(self) -> str:
        raw = self.take(self.u8())
        try:
            kid = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedError("kid is not ASCII") from exc
        if not KID_RE.fullmatch(kid):
            raise MalformedError(f"invalid kid {kid!r}")
        return kid


# --- issuing (pure: keys are passed in) ---------------------------------------------------------


def issue_certificate(
    issuer: ec.EllipticCurvePrivateKey,
    *,
    kid: str,
    serial: bytes,
    device_public: ec.EllipticCurvePublicKey,
    valid_from: date,
    valid_until: date,
    flags: Flag = Flag.NONE,
) -> bytes:
    """Sign a member certificate for one device key; returns its raw bytes."""
    if len(serial) != SERIAL_LEN:
        raise ValueError(f"serial must be {SERIAL_LEN} bytes")
    if valid_until < valid_from:
        raise ValueError("valid_until is before valid_from")
    body = (
        bytes([CERT_VERSION])
        + _kid_bytes(kid)
        + serial
        + compress_public(device_public)
        + struct.pack(">HHB", days(valid_from), days(valid_until), int(flags))
    )
    return body + sign_raw(issuer, CERT_CONTEXT + body)


def present(certificate: bytes, device: ec.EllipticCurvePrivateKey, t: int) -> str:
    """The QR text a phone shows at unix second `t`."""
    cert = parse_certificate(certificate)
    signed = cert.raw + struct.pack(">I", t)
    return (
        WS1_PREFIX
        + base45.b45encode(signed + sign_raw(device, signed + PRESENTATION_CONTEXT)).decode()
    )


def issue_token(
    issuer: ec.EllipticCurvePrivateKey,
    *,
    kid: str,
    serial: bytes,
    window_start_min: int,
    window_len_min: int = 5,
    flags: Flag = Flag.NONE,
) -> str:
    """A compact `WS2:` window token signed by the issuer, for wallets with no device key."""
    if len(serial) != SERIAL_LEN:
        raise ValueError(f"serial must be {SERIAL_LEN} bytes")
    body = (
        bytes([TOKEN_VERSION])
        + _kid_bytes(kid)
        + serial
        + struct.pack(">IHB", window_start_min, window_len_min, int(flags))
    )
    return WS2_PREFIX + base45.b45encode(body + sign_raw(issuer, TOKEN_CONTEXT + body)).decode()


# --- parsing -------------------------------------------------------------------------------------


def _read_certificate(r: _Reader) -> Certificate:
    start = r.pos
    if r.u8() != CERT_VERSION:
        raise MalformedError("not a v1 certificate")
    kid = r.kid()
    serial = r.take(SERIAL_LEN)
    device_public = r.take(PUBKEY_LEN)
    valid_from, valid_until, flags = struct.unpack(">HHB", r.take(5))
    body = r.data[start : r.pos]
    signature = r.take(SIG_LEN)
    return Certificate(
        kid, serial, device_public, from_days(valid_from), from_days(valid_until),
        Flag(flags), body, signature,
    )  # fmt: skip


def parse_certificate(raw: bytes) -> Certificate:
    r = _Reader(raw)
    cert = _read_certificate(r)
    if r.pos != len(raw):
        raise MalformedError(f"{len(raw) - r.pos} trailing bytes after certificate")
    return cert


def _unbase45(text: str, prefix: str) -> bytes:
    try:
        return base45.b45decode(text[len(prefix) :])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise MalformedError(f"invalid base45: {exc}") from exc


def parse_text(text: str) -> Presentation | Token:
    """Parse scanned QR text into a presentation or token; raise MalformedError otherwise."""
    if not isinstance(text, str):
        raise MalformedError("not text")
    text = text.strip()
    if len(text) > MAX_TEXT_LEN:
        raise MalformedError(f"{len(text)} characters, longer than any credential")
    if text.startswith(WS1_PREFIX):
        r = _Reader(_unbase45(text, WS1_PREFIX))
        cert = _read_certificate(r)
        (t,) = struct.unpack(">I", r.take(4))
        item: Presentation | Token = Presentation(cert, t, r.take(SIG_LEN))
    elif text.startswith(WS2_PREFIX):
        r = _Reader(_unbase45(text, WS2_PREFIX))
        if r.u8() != TOKEN_VERSION:
            raise MalformedError("not a v2 token")
        kid = r.kid()
        serial = r.take(SERIAL_LEN)
        start, length, flags = struct.unpack(">IHB", r.take(7))
        body = r.data[: r.pos]
        item = Token(kid, serial, start, length, Flag(flags), body, r.take(SIG_LEN))
    else:
        raise MalformedError("not a Waystation credential (expected WS1: or WS2:)")
    if r.pos != len(r.data):
        raise MalformedError(f"{len(r.data) - r.pos} trailing bytes")
    return item


# --- verification --------------------------------------------------------------------------------


class Replay(Protocol):
    """Codes already admitted at one station; station state, so it lives in the edge
    (`edge.access.replay.ReplayCache`). `verify()` asks it last, after every other check."""

    def admit(self, key: ReplayKey, fresh_until: float) -> bool:
        """True if `key` is new (and remember it until the station's own time passes
        `fresh_until`, unix seconds); False if it was already admitted."""
        ...


@dataclass(frozen=True, slots=True)
class VerifyPolicy:
    """Station-side limits; seconds."""

    window_s: int = DEFAULT_WINDOW_S
    skew_s: int = 0  # extra tolerance for the phone's clock
    required: Flag = Flag.NONE  # privileges the door needs (e.g. MOTHER_BABY)


def claimed_time(item: Presentation | Token) -> int:
    """The unix second a code claims for itself: WS1 `t`, WS2 its window start."""
    return item.t if isinstance(item, Presentation) else item.window_start * 60


def fresh_until(item: Presentation | Token, policy: VerifyPolicy) -> int:
    """The instant (unix s) after which `item` can never be fresh again: WS1 `t + window +
    skew` (still fresh at that very instant), WS2 its window end + skew (no longer fresh at
    that instant). A replay entry must live until the station's own time passes it."""
    if isinstance(item, Presentation):
        return item.t + policy.window_s + policy.skew_s
    return (item.window_start + item.window_len) * 60 + policy.skew_s


def is_fresh(item: Presentation | Token, now_s: float, policy: VerifyPolicy) -> bool:
    """The presentation-window rule, exact to the sub-second (`now_s` unix seconds, float).

    WS1: fresh while `|now − t| ≤ window + skew` — a code 30.9 s old fails a 30 s window.
    WS2: fresh while `start − skew ≤ now < end + skew` — half-open, so consecutive windows
    tile without overlap: a 5-minute token is stale at exactly its window end (skew 0).
    """
    if isinstance(item, Presentation):
        return abs(now_s - item.t) <= policy.window_s + policy.skew_s
    start = item.window_start * 60
    end = (item.window_start + item.window_len) * 60
    return start - policy.skew_s <= now_s < end + policy.skew_s


def replay_key(item: Presentation | Token) -> ReplayKey:
    """What the replay cache remembers: the kind, the serial and the claimed time — never
    signature bytes (ECDSA signatures are malleable: `(r, n−s)` verifies too)."""
    if isinstance(item, Presentation):
        return ("ws1", item.certificate.serial, item.t)
    return ("ws2", item.serial, item.window_start * 60)


def check(
    item: Presentation | Token,
    *,
    issuers: Mapping[str, IssuerKey],
    revoked: Container[bytes],
    now: datetime,
    policy: VerifyPolicy = VerifyPolicy(),  # frozen dataclass: a safe default
) -> Decision:
    """Every check a parsed code must pass at instant `now`, in the documented order
    (issuer, signatures, validity, revocation, freshness, required flags); no replay and no
    door mode, which are the station's (`edge.access.decide`). Never raises."""
    now = now.astimezone(UTC)
    now_s = now.timestamp()
    t = claimed_time(item)
    if isinstance(item, Presentation):
        cert = item.certificate
        base = Decision(Reason.GRANTED, "ws1", cert.kid, cert.serial.hex(), cert.flags, t)
        serial, kid, flags = cert.serial, cert.kid, cert.flags
    else:
        base = Decision(Reason.GRANTED, "ws2", item.kid, item.serial.hex(), item.flags, t)
        serial, kid, flags = item.serial, item.kid, item.flags

    def deny(reason: Reason, detail: str) -> Decision:
        return Decision(reason, base.credential, kid, base.serial, flags, t, detail)

    issuer = issuers.get(kid)
    if issuer is None or not issuer.valid_at(now):
        return deny(Reason.UNKNOWN_ISSUER, f"issuer key {kid!r} not trusted now")

    if isinstance(item, Presentation):
        if not verify_raw(issuer.public_key, cert.signature, CERT_CONTEXT + cert.body):
            return deny(Reason.BAD_SIGNATURE, "issuer signature on certificate")
        try:
            device = load_public(cert.device_public)
        except ValueError:
            return deny(Reason.BAD_SIGNATURE, "device key is not a P-256 point")
        if not verify_raw(device, item.signature, item.signed):
            return deny(Reason.BAD_SIGNATURE, "device signature on presentation")
        today = days(now.date())
        if today > days(cert.valid_until):
            return deny(Reason.EXPIRED, f"certificate valid until {cert.valid_until}")
        if today < days(cert.valid_from):
            return deny(Reason.NOT_YET_VALID, f"certificate valid from {cert.valid_from}")
        if serial in revoked:
            return deny(Reason.REVOKED, "serial is on the revocation list")
        if not is_fresh(item, now_s, policy):
            return deny(Reason.STALE_PRESENTATION, f"shown at {t}, now {now_s:.3f}")
    else:
        if not verify_raw(issuer.public_key, item.signature, TOKEN_CONTEXT + item.body):
            return deny(Reason.BAD_SIGNATURE, "issuer signature on token")
        if serial in revoked:
            return deny(Reason.REVOKED, "serial is on the revocation list")
        if not is_fresh(item, now_s, policy):
            end = (item.window_start + item.window_len) * 60
            return deny(Reason.STALE_PRESENTATION, f"window {t}..{end}, now {now_s:.3f}")

    if policy.required & ~flags:
        return deny(Reason.NOT_PERMITTED, f"needs {policy.required!r}")
    return base


def parse_or_deny(text: str) -> Presentation | Token | Decision:
    """Parse scanned text; a `malformed` decision instead of an exception (door-loop safe)."""
    try:
        return parse_text(text)
    except MalformedError as exc:
        return Decision(Reason.MALFORMED, detail=str(exc))
    except Exception as exc:  # the door loop needs a decision, not a crash
        return Decision(Reason.MALFORMED, detail=f"unparseable: {type(exc).__name__}")


def verify(
    text: str,
    *,
    issuers: Mapping[str, IssuerKey],
    revoked: Container[bytes],
    now: datetime,
    policy: VerifyPolicy = VerifyPolicy(),  # frozen dataclass: a safe default
    replay: Replay | None = None,
) -> Decision:
    """Decide on one scanned text at `now` (the reference verifier: parse, `check`, then the
    replay cache if given). Never raises: bad input is a `malformed` decision. A station adds
    its door mode and clock rule on top (`edge.access.decide`)."""
    item = parse_or_deny(text)
    if isinstance(item, Decision):
        return item
    decision = check(item, issuers=issuers, revoked=revoked, now=now, policy=policy)
    fresh_end = fresh_until(item, policy)
    if decision.granted and replay is not None and not replay.admit(replay_key(item), fresh_end):
        return replace(decision, reason=Reason.REPLAYED, detail="this code was already used here")
    return decision
