"""Signed trust list (issuer keys) and revocation list, as carried on `ws/v1/trust/#`.

Both are signed by the union's trust anchor, a P-256 key whose public half is pinned in every
station's config. The signature covers the canonical JSON of every field except `sig`
(sorted keys, no whitespace), so any re-serialisation of the same content verifies.
A list is accepted only if its signature verifies and its version is newer than the one
held: an attacker replaying an old retained list cannot un-revoke a serial.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated, Literal, Self

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from protocol.credential import (
    KID_RE,
    IssuerKey,
    compress_public,
    load_public,
    sign_raw,
    verify_raw,
)

# A station's lists are re-signed and republished at least daily; one older than this means
# the station stopped receiving them (cloud alarms trust_list_old / revocation_list_old, and
# `edge selftest`), hours.
LIST_MAX_AGE_H = 24.0


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ListError(ValueError):
    """A trust or revocation list that must not replace the one held."""


class _SignedList(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    version: int = Field(ge=1, description="monotonic; a lower one is a rollback")
    issued_at: AwareDatetime
    sig: str | None = Field(default=None, description="base64url ES256 r||s by the anchor")

    def canonical(self) -> bytes:
        body = self.model_dump(mode="json", exclude={"sig"})
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def sign(self, anchor: ec.EllipticCurvePrivateKey) -> Self:
        return self.model_copy(update={"sig": b64u(sign_raw(anchor, self.canonical()))})

    def verify(self, anchor: ec.EllipticCurvePublicKey) -> bool:
        if not self.sig:
            return False
        try:
            raw = unb64u(self.sig)
        except ValueError:
            return False
        return verify_raw(anchor, raw, self.canonical())

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def accept(
        cls, raw: bytes | str, anchor: ec.EllipticCurvePublicKey, held_version: int | None
    ) -> Self:
        """Parse and check a received list; raise ListError if it must be ignored."""
        try:
            item = cls.model_validate_json(raw)
        except ValidationError as exc:
            raise ListError(f"not a {cls.__name__}: {exc.errors()[0]['msg']}") from exc
        if not item.verify(anchor):
            raise ListError(f"{cls.__name__} signature does not verify")
        if held_version is not None and item.version <= held_version:
            raise ListError(f"{cls.__name__} version {item.version} <= held {held_version}")
        return item


class TrustedKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kid: str = Field(pattern=KID_RE.pattern)
    public_key: str = Field(description="base64url SEC1 compressed P-256 point")
    not_before: AwareDatetime
    not_after: AwareDatetime

    @classmethod
    def of(
        cls, kid: str, key: ec.EllipticCurvePublicKey, not_before: datetime, not_after: datetime
    ) -> TrustedKey:
        return cls(
            kid=kid,
            public_key=b64u(compress_public(key)),
            not_before=not_before,
            not_after=not_after,
        )

    def issuer_key(self) -> IssuerKey:
        return IssuerKey(
            self.kid,
            load_public(unb64u(self.public_key)),
            self.not_before.astimezone(UTC),
            self.not_after.astimezone(UTC),
        )


class TrustList(_SignedList):
    keys: list[TrustedKey] = Field(max_length=64)

    def issuers(self) -> dict[str, IssuerKey]:
        return {k.kid: k.issuer_key() for k in self.keys}


class RevocationList(_SignedList):
    serials: list[Annotated[str, Field(pattern=r"^[0-9a-f]{24}$")]] = Field(
        default_factory=list, description="revoked certificate serials, hex, sorted"
    )

    def revoked(self) -> frozenset[bytes]:
        return frozenset(bytes.fromhex(s) for s in self.serials)
