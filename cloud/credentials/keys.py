"""Issuer and trust-anchor keys: sealing at rest, rotation with overlap, retirement.

Private keys never leave this module unsealed except as `cryptography` key objects in memory.
At rest they are PKCS#8 DER encrypted with AES-256-GCM under a key derived from the
passphrase with scrypt; the key id is the AES-GCM associated data, so a sealed key copied
under another id does not open. `Passphrase` hides itself from `repr`, logs and tracebacks.

Which key signs new certificates: the newest (latest `not_before`) unretired issuer key whose
validity has begun. Which keys are trusted: every unretired key whose `not_after` is still
ahead. A rotation adds a new key and shortens the old one's life to the overlap, so
certificates signed by the old key keep working until the overlap ends.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from protocol.credential import KID_RE, compress_public
from protocol.trust import TrustedKey, b64u, unb64u

PASSPHRASE_ENV = "WAYSTATION_ISSUER_PASSPHRASE"  # noqa: S105 - the variable's name
PASSPHRASE_FILE_ENV = "WAYSTATION_ISSUER_PASSPHRASE_FILE"  # noqa: S105
ANCHOR_KID = "anchor"  # the trust anchor's id in key storage (it is never in a trust list)
MIN_PASSPHRASE_LEN = 12  # shorter passphrases fall to offline guessing even behind scrypt
# scrypt cost: 2^15 × r=8 uses 32 MiB and ~0.1 s per unseal on a laptop core, which makes
# each passphrase guess cost the same; higher slows every CLI call and the API's first use.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
# An issuer key's default life. Long enough that rotation is a planned yearly job, short
# enough that a key copied without anyone noticing stops working by itself.
DEFAULT_KEY_LIFETIME = timedelta(days=2 * 365)
# The issuer key's validity starts this long before its creation so a station whose clock is
# a little behind does not refuse the first certificates it signs.
CLOCK_SLACK = timedelta(hours=1)


class IssuerKeyError(ValueError):
    """A key that cannot be created, opened or used as asked."""


class Passphrase:
    """The secret that seals private keys; never printed."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes | str) -> None:
        raw = value.encode() if isinstance(value, str) else bytes(value)
        if len(raw) < MIN_PASSPHRASE_LEN:
            raise IssuerKeyError(f"passphrase shorter than {MIN_PASSPHRASE_LEN} bytes")
        self._value = raw

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Passphrase(***)"

    __str__ = __repr__


def load_passphrase(
    file: Path | None = None, env: dict[str, str] | None = None
) -> Passphrase | None:
    """The passphrase from `file`, else `$WAYSTATION_ISSUER_PASSPHRASE_FILE`, else
    `$WAYSTATION_ISSUER_PASSPHRASE`; None when none is set. One trailing newline is dropped."""
    env = dict(os.environ) if env is None else env
    path = file or (Path(env[PASSPHRASE_FILE_ENV]) if env.get(PASSPHRASE_FILE_ENV) else None)
    if path is not None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise IssuerKeyError(f"cannot read passphrase file {path}: {exc.strerror}") from exc
        return Passphrase(raw.removesuffix(b"\n").removesuffix(b"\r"))
    if env.get(PASSPHRASE_ENV):
        return Passphrase(env[PASSPHRASE_ENV])
    return None


class SealedKey(BaseModel):
    """A private key at rest. `kdf="none"` only exists for explicit insecure demos."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = 1
    kid: str
    kdf: str = Field(pattern=r"^(scrypt|none)$")
    n: int = 0
    r: int = 0
    p: int = 0
    salt: str = ""
    nonce: str = ""
    data: str = Field(description="base64url: AES-GCM ciphertext, or PKCS#8 DER if kdf=none")

    def __repr__(self) -> str:
        return f"SealedKey(kid={self.kid!r}, kdf={self.kdf!r})"


def _kek(passphrase: Passphrase, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.reveal())


def seal(key: ec.EllipticCurvePrivateKey, kid: str, passphrase: Passphrase | None) -> SealedKey:
    """Encrypt `key` for storage; `passphrase=None` stores it in clear (demos only)."""
    der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    if passphrase is None:
        return SealedKey(kid=kid, kdf="none", data=b64u(der))
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    kek = _kek(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    data = AESGCM(kek).encrypt(nonce, der, kid.encode())
    return SealedKey(
        kid=kid, kdf="scrypt", n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
        salt=b64u(salt), nonce=b64u(nonce), data=b64u(data),
    )  # fmt: skip


def unseal(sealed: SealedKey, passphrase: Passphrase | None) -> ec.EllipticCurvePrivateKey:
    """Open a sealed key; a wrong passphrase or a key filed under another id is refused."""
    if sealed.kdf == "none":
        der = unb64u(sealed.data)
    else:
        if passphrase is None:
            raise IssuerKeyError(
                f"key {sealed.kid!r} is encrypted: set {PASSPHRASE_ENV} or --passphrase-file"
            )
        if not (2**10 <= sealed.n <= 2**20) or not (1 <= sealed.r <= 16) or sealed.p != 1:
            raise IssuerKeyError(f"key {sealed.kid!r}: scrypt parameters out of range")
        kek = _kek(passphrase, unb64u(sealed.salt), sealed.n, sealed.r, sealed.p)
        try:
            der = AESGCM(kek).decrypt(
                unb64u(sealed.nonce), unb64u(sealed.data), sealed.kid.encode()
            )
        except InvalidTag as exc:
            raise IssuerKeyError(f"key {sealed.kid!r}: wrong passphrase or damaged key") from exc
    key = load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise IssuerKeyError(f"key {sealed.kid!r} is not a P-256 key")
    return key


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# --- the key ring: which keys exist, which one signs, which are trusted ---------------------


class KeyInfo(BaseModel):
    """The public facts about one issuer key (its sealed private half is stored beside)."""

    model_config = ConfigDict(extra="forbid")

    kid: str = Field(pattern=KID_RE.pattern)
    public_key: str = Field(description="base64url SEC1 compressed P-256 point")
    not_before: AwareDatetime
    not_after: AwareDatetime
    retired_at: AwareDatetime | None = None

    def trusted(self, now: datetime) -> bool:
        return self.retired_at is None and self.not_after >= now

    def signs(self, now: datetime) -> bool:
        return self.retired_at is None and self.not_before <= now <= self.not_after

    def trusted_key(self) -> TrustedKey:
        return TrustedKey(
            kid=self.kid,
            public_key=self.public_key,
            not_before=self.not_before,
            not_after=self.not_after,
        )


def key_info(
    kid: str, key: ec.EllipticCurvePrivateKey, not_before: datetime, lifetime: timedelta
) -> KeyInfo:
    return KeyInfo(
        kid=kid,
        public_key=b64u(compress_public(key.public_key())),
        not_before=not_before,
        not_after=not_before + lifetime,
    )


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation changed: the new key's facts and the old keys' shortened ends."""

    new: KeyInfo
    shortened: list[KeyInfo]


def signer(keys: list[KeyInfo], now: datetime) -> KeyInfo:
    """The key that signs new certificates now (newest that has begun)."""
    ready = [k for k in keys if k.signs(now)]
    if not ready:
        raise IssuerKeyError("no issuer key can sign now: run `members rotate` to add one")
    return max(ready, key=lambda k: (k.not_before, k.kid))


def trusted(keys: list[KeyInfo], now: datetime) -> list[KeyInfo]:
    """The keys a trust list issued now carries, oldest first."""
    return sorted((k for k in keys if k.trusted(now)), key=lambda k: (k.not_before, k.kid))


def plan_rotation(
    keys: list[KeyInfo],
    new_kid: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    now: datetime,
    overlap: timedelta,
    activate_after: timedelta = timedelta(0),
    lifetime: timedelta = DEFAULT_KEY_LIFETIME,
) -> Rotation:
    """Add `new_kid` signing from `now + activate_after`; every older trusted key stays valid
    until the new one starts plus `overlap` (never longer than it already was)."""
    if any(k.kid == new_kid for k in keys):
        raise IssuerKeyError(f"key id {new_kid!r} is already used; key ids are never reused")
    if overlap < timedelta(0) or activate_after < timedelta(0):
        raise IssuerKeyError("overlap and activation delay must not be negative")
    start = now.astimezone(UTC) + activate_after
    new = key_info(new_kid, key, start - CLOCK_SLACK if not activate_after else start, lifetime)
    shortened = []
    for k in keys:
        if k.trusted(now) and k.not_after > start + overlap:
            k.not_after = start + overlap
            shortened.append(k)
    return Rotation(new, shortened)


def retire(keys: list[KeyInfo], kid: str, now: datetime) -> KeyInfo:
    """Take `kid` out of the trust list now: certificates it signed stop working."""
    for k in keys:
        if k.kid == kid:
            if k.retired_at is not None:
                raise IssuerKeyError(f"key {kid!r} is already retired")
            k.retired_at = now
            return k
    raise IssuerKeyError(f"no issuer key {kid!r}")


def sealed_json(sealed: SealedKey) -> str:
    return sealed.model_dump_json(indent=2)


def sealed_from_json(text: str | bytes) -> SealedKey:
    try:
        return SealedKey.model_validate_json(text)
    except ValueError as exc:
        raise IssuerKeyError(f"not a sealed key file: {str(exc).splitlines()[0]}") from exc
