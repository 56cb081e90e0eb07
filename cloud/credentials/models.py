"""Database tables for member credentials. No names or phone numbers: a member is an id.

`issuer_key` holds sealed private keys (never served), `signed_list` the latest signed trust and
revocation lists exactly as published, `member` the registry (with how its last renewal
went), `member_certificate` every issued certificate by serial with its status, a renewal
naming the certificate it renewed.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, Table, Text, text
from sqlmodel import Field, SQLModel

from cloud.clock import utcnow
from cloud.sql.types import UTCDateTime

MEMBER_ID_PATTERN = r"^[A-Za-z0-9._-]{1,40}$"


class IssuerKeyRow(SQLModel, table=True):
    """An issuer key (or the trust anchor, `role="anchor"`), its private half sealed."""

    __tablename__ = "issuer_key"

    kid: str = Field(primary_key=True, max_length=16)
    role: str = Field(default="issuer", max_length=8, description="issuer | anchor")
    public_key: str = Field(max_length=64, description="base64url SEC1 compressed P-256")
    sealed: str = Field(sa_type=Text, description="SealedKey JSON (encrypted PKCS#8)")
    not_before: datetime = Field(sa_type=UTCDateTime)
    not_after: datetime = Field(sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SignedListRow(SQLModel, table=True):
    """The latest signed list of a kind (`trust` | `revocations`), bytes as published."""

    __tablename__ = "signed_list"

    kind: str = Field(primary_key=True, max_length=16)
    version: int = Field(ge=1)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    body: str = Field(sa_type=Text)


class MemberRow(SQLModel, table=True):
    """A union member: a pseudonymous id, a branch and a status."""

    __tablename__ = "member"
    # The change feed's refused renewals (`cloud.credentials.changes`): few rows, so partial.
    __table_args__ = (
        Index(
            "ix_member_renewal_refused",
            "last_renewal_at",
            sqlite_where=text("last_renewal_error IS NOT NULL"),
            postgresql_where=text("last_renewal_error IS NOT NULL"),
        ),
    )

    member_id: str = Field(primary_key=True, max_length=40)
    branch: str = Field(default="", max_length=60)
    status: str = Field(default="active", max_length=12, description="active | suspended")
    # `protocol.credential.Flag` bits every certificate and pass of this member carries.
    flags: int = Field(default=0, description="Flag bits: 1 mother-and-baby room, 2 staff")
    # Membership end (inclusive): no certificate or pass runs past it; None = no end.
    valid_until: date | None = None
    # One-time enrolment code, stored as SHA-256 hex; the code itself is shown once.
    enrol_code_hash: str | None = Field(default=None, max_length=64)
    enrol_code_expires: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The last renewal a phone of this member asked for with a valid device signature, and
    # why it was refused (None: it succeeded). Ops list the refused ones.
    last_renewal_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_renewal_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CertificateRow(SQLModel, table=True):
    """One device certificate, found by serial; `revoked_at` set once revoked."""

    __tablename__ = "member_certificate"
    __table_args__ = (
        Index("ix_member_certificate_member", "member_id"),
        # The change feed (`cloud.credentials.changes`): issued and revoked by time.
        Index("ix_member_certificate_issued", "issued_at"),
        Index(
            "ix_member_certificate_revoked",
            "revoked_at",
            sqlite_where=text("revoked_at IS NOT NULL"),
            postgresql_where=text("revoked_at IS NOT NULL"),
        ),
    )

    serial: str = Field(primary_key=True, max_length=24, description="hex, 12 random bytes")
    member_id: str = Field(foreign_key="member.member_id", max_length=40)
    kid: str = Field(max_length=16)
    device_public: str = Field(max_length=64, description="base64url SEC1 compressed P-256")
    valid_from: date
    valid_until: date
    flags: int = 0
    # `device`: a phone's key certificate; `pass`: a printed day/week pass (no device key,
    # `device_public` empty), kept here so revoking the member or the serial stops it too.
    kind: str = Field(default="device", max_length=8, description="device | pass")
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The serial this certificate renewed (same member, same device key); None: an enrolment.
    renewed_from: str | None = Field(default=None, max_length=24)


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


TABLES = [_table(m) for m in (IssuerKeyRow, SignedListRow, MemberRow, CertificateRow)]
