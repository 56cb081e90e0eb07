"""Member credentials over HTTP: enrolment for the workers' app, signed lists for anyone,
member administration for ops admins. (The member page itself: `cloud.api.member_page`.)

Member administration (create, enrolment codes, certificate lookups, revocation, WS2 tokens)
needs an ops account with the `admin` role, exactly like the rest of ops (`cloud.auth.deps`:
`Authorization: Bearer wst_…` of an admin's API token, or an admin's browser session with
its CSRF token), and every call is in `audit_log` (never the enrolment code itself). The
shared `WAYSTATION_ADMIN_TOKEN` is retired (`cloud.credentials.context`).

Private keys are never served: responses carry certificates, public keys and signed lists.
"""

from __future__ import annotations

import binascii
import re
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError

from cloud.api.deps import NowDep, SessionDep
from cloud.auth import Principal, Role, audit, require_role
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812 - short, read as "members"
from cloud.credentials.context import CredentialContext
from cloud.credentials.keys import IssuerKeyError
from cloud.credentials.models import MEMBER_ID_PATTERN, CertificateRow, MemberRow
from protocol.credential import parse_certificate
from protocol.trust import b64u, unb64u

MAX_TOKEN_DAYS = 7  # a WS2 batch of 7 days is 2016 tokens (~250 kB of JSON)
BUSY_RETRY_S = 1  # Retry-After (seconds) when the database stayed locked for a whole enrolment

router = APIRouter(tags=["members"])


def get_credentials(request: Request) -> CredentialContext:
    ctx: CredentialContext | None = getattr(request.app.state, "credentials", None)
    if ctx is None:
        settings = request.app.state.ctx.settings
        ctx = CredentialContext.from_env(settings.broker_url)
        request.app.state.credentials = ctx
    return ctx


CredDep = Annotated[CredentialContext, Depends(get_credentials)]


# An ops admin (API token or session + CSRF); 401 without credentials, 403 below admin.
# Declared first in every admin route, so nothing else runs for a caller who is not one.
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]


def _fail(exc: I.CredentialError | IssuerKeyError) -> HTTPException:
    status = exc.status if isinstance(exc, I.CredentialError) else 503
    return HTTPException(status, str(exc))


# --- models ----------------------------------------------------------------------------------


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(pattern=MEMBER_ID_PATTERN)
    code: str = Field(min_length=4, max_length=32)
    device_public: str = Field(max_length=100, description="base64url P-256 point (33 or 65 B)")
    proof: str = Field(
        max_length=100,
        description="base64url raw ES256 signature by the device key over "
        "'waystation/v1/enroll|' + member_id + '|' + code",
    )


class CertificateOut(BaseModel):
    serial: str
    member_id: str
    kid: str
    valid_from: date
    valid_until: date
    flags: int
    issued_at: datetime
    revoked_at: datetime | None
    status: Literal["valid", "revoked", "expired"]
    kind: Literal["device", "pass"] = Field(
        default="device", description="a phone's certificate, or a printed pass (no device key)"
    )
    renewed_from: str | None = Field(default=None, description="serial this one renewed")

    @classmethod
    def of(cls, row: CertificateRow, today: date) -> CertificateOut:
        status: Literal["valid", "revoked", "expired"] = (
            "revoked" if row.revoked_at else "expired" if row.valid_until < today else "valid"
        )
        return cls(
            serial=row.serial, member_id=row.member_id, kid=row.kid, valid_from=row.valid_from,
            valid_until=row.valid_until, flags=row.flags, issued_at=row.issued_at,
            revoked_at=row.revoked_at, status=status,
            kind="pass" if row.kind == "pass" else "device", renewed_from=row.renewed_from,
        )  # fmt: skip


class EnrollResponse(BaseModel):
    certificate: str = Field(description="base64url certificate bytes")
    serial: str
    kid: str
    valid_from: date
    valid_until: date
    server_time_ms: int = Field(description="the server's time, unix ms: the wallet's clock")


def server_time_ms(now: datetime) -> int:
    """The server's time as the wallet reads it (`server_time_ms`): unix milliseconds."""
    return int(now.timestamp() * 1000)


class MemberIn(BaseModel):
    """A member's fields; a field left out keeps its value (a new member: the default).
    `valid_until: null` removes the membership's end."""

    model_config = ConfigDict(extra="forbid")

    branch: str = Field(default="", max_length=60)
    status: Literal["active", "suspended"] = "active"
    staff: bool = Field(default=False, description="station staff: may enter while closed")
    mother_baby: bool = Field(default=False, description="may enter the mother-and-baby room")
    valid_until: date | None = Field(
        default=None, description="membership end (inclusive): no certificate runs past it"
    )

    def changes(self) -> dict[str, object]:
        """The fields the caller sent, by name (JSON `null` included)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class MemberOut(BaseModel):
    member_id: str
    branch: str
    status: str
    staff: bool
    mother_baby: bool
    valid_until: date | None

    @classmethod
    def of(cls, row: MemberRow) -> MemberOut:
        return cls(
            member_id=row.member_id, branch=row.branch, status=row.status,
            valid_until=row.valid_until, **M.member_flags(row),
        )  # fmt: skip


class EnrolCode(BaseModel):
    member_id: str
    code: str
    expires_at: datetime


class RevokeResponse(BaseModel):
    revoked: list[str]
    revocation_version: int
    published: bool


class TokenBatch(BaseModel):
    serial: str
    window_min: int
    tokens: list[str]


# --- signed lists (public) -------------------------------------------------------------------


def _list_response(session: SessionDep, kind: str) -> Response:
    row = I.signed_list(session, kind)
    if row is None:
        raise HTTPException(404, f"no {kind} list yet: the issuer is not set up")
    return Response(
        row.body,
        media_type="application/json",
        headers={"ETag": f'"{row.version}"', "Cache-Control": "no-cache"},
    )


@router.get("/api/v1/trust/keys")
def trust_list(session: SessionDep) -> Response:
    """The signed trust list (issuer public keys), exactly as published on MQTT."""
    return _list_response(session, I.TRUST)


@router.get("/api/v1/trust/revocations")
def revocation_list(session: SessionDep) -> Response:
    """The signed revocation list, exactly as published on MQTT."""
    return _list_response(session, I.REVOCATIONS)


# --- enrolment (the workers' app) ------------------------------------------------------------


@router.post("/api/v1/members/enroll", response_model=EnrollResponse)
def enroll(body: EnrollRequest, session: SessionDep, now: NowDep, cred: CredDep) -> EnrollResponse:
    """Trade a one-time enrolment code and a device public key for a certificate."""
    try:
        device_public, proof = unb64u(body.device_public), unb64u(body.proof)
    except (ValueError, binascii.Error) as exc:
        raise HTTPException(422, "device_public and proof must be base64url") from exc
    try:
        raw = M.enroll(
            session, cred.vault, member_id=body.member_id, code=body.code,
            device_public=device_public, proof=proof, now=now,
            valid_days=cred.settings.enrol_valid_days,
        )  # fmt: skip
        session.commit()
    except (I.CredentialError, IssuerKeyError) as exc:
        session.rollback()
        raise _fail(exc) from exc
    except OperationalError as exc:  # SQLite stayed locked by other writers, or the DB is down
        session.rollback()
        raise HTTPException(
            503, "the database is busy: try again", {"Retry-After": str(BUSY_RETRY_S)}
        ) from exc
    cert = parse_certificate(raw)
    return EnrollResponse(
        certificate=b64u(raw), serial=cert.serial.hex(), kid=cert.kid,
        valid_from=cert.valid_from, valid_until=cert.valid_until,
        server_time_ms=server_time_ms(now),
    )  # fmt: skip


# --- admin (ops accounts with the admin role, audited) -----------------------------------


@router.put("/api/v1/members/{member_id}", response_model=MemberOut)
def put_member(
    admin: Admin, member_id: str, body: MemberIn, session: SessionDep, now: NowDep
) -> MemberOut:
    """Create or update a member (id, branch, status, flags, membership end); fields left
    out keep their value. No names or phone numbers."""
    if not re.fullmatch(MEMBER_ID_PATTERN, member_id):
        raise HTTPException(422, "member id: 1-40 of [A-Za-z0-9._-]")
    changes = body.changes()
    row, created = M.apply_member(session, member_id=member_id, changes=changes)
    detail = {**{k: str(v) if isinstance(v, date) else v for k, v in changes.items()}}
    detail["created"] = created
    audit(session, admin, "member.put", f"member:{member_id}", detail, at=now)
    session.commit()
    return MemberOut.of(row)


@router.post("/api/v1/members/{member_id}/enrol-code", response_model=EnrolCode)
def enrol_code(admin: Admin, member_id: str, session: SessionDep, now: NowDep) -> EnrolCode:
    """A new one-time enrolment code (replaces any earlier one); shown only here. Send the
    member the link `/member/#member=ID&code=CODE` (a fragment: browsers never send it)."""
    try:
        code = M.new_enrol_code(session, member_id=member_id, now=now)
    except I.CredentialError as exc:
        raise _fail(exc) from exc
    expires_at = now + M.DEFAULT_CODE_TTL
    detail = {"expires_at": expires_at.isoformat()}  # never the code
    audit(session, admin, "member.enrol_code", f"member:{member_id}", detail, at=now)
    session.commit()
    return EnrolCode(member_id=member_id, code=code, expires_at=expires_at)


@router.get("/api/v1/members/{member_id}/certificates", response_model=list[CertificateOut])
def member_certificates(
    admin: Admin, member_id: str, session: SessionDep, now: NowDep
) -> list[CertificateOut]:
    """The member's certificates, oldest first. Audited: it links a member to serials."""
    rows = M.certificates(session, member_id=member_id)
    detail = {"serials": [r.serial for r in rows]}
    audit(session, admin, "member.certificates", f"member:{member_id}", detail, at=now)
    session.commit()
    return [CertificateOut.of(r, now.date()) for r in rows]


@router.get("/api/v1/certificates/{serial}", response_model=CertificateOut)
def certificate(admin: Admin, serial: str, session: SessionDep, now: NowDep) -> CertificateOut:
    """One certificate by serial. Audited: it names the member behind a serial."""
    rows = M.certificates(session, serial=serial)
    if not rows:
        raise HTTPException(404, f"no certificate {serial}")
    detail = {"member_id": rows[0].member_id}
    audit(session, admin, "certificate.lookup", f"certificate:{rows[0].serial}", detail, at=now)
    session.commit()
    return CertificateOut.of(rows[0], now.date())


def _revoke(
    session: SessionDep,
    now: datetime,
    cred: CredentialContext,
    audited: tuple[Principal, str, str],
    **target: str,
) -> RevokeResponse:
    """Revoke, sign the next list and audit (`audited`: who, action, target) in one
    transaction; then publish the list."""
    try:
        newly, item = M.revoke(session, cred.vault, now=now, **target)  # type: ignore[arg-type]
        detail = {"revoked": newly, "revocation_version": item.version}
        audit(session, *audited, detail, at=now)
        session.commit()
    except (I.CredentialError, IssuerKeyError) as exc:
        session.rollback()
        raise _fail(exc) from exc
    published = cred.try_publish(None, item.to_bytes())
    return RevokeResponse(revoked=newly, revocation_version=item.version, published=published)


@router.post("/api/v1/certificates/{serial}/revoke", response_model=RevokeResponse)
def revoke_serial(
    admin: Admin, serial: str, session: SessionDep, now: NowDep, cred: CredDep
) -> RevokeResponse:
    """Revoke one certificate; the next signed revocation list goes out on MQTT."""
    audited = (admin, "certificate.revoke", f"certificate:{serial}")
    return _revoke(session, now, cred, audited, serial=serial)


@router.post("/api/v1/members/{member_id}/revoke", response_model=RevokeResponse)
def revoke_member(
    admin: Admin, member_id: str, session: SessionDep, now: NowDep, cred: CredDep
) -> RevokeResponse:
    """Revoke every certificate of a member (e.g. they left the union, or lost the phone)."""
    audited = (admin, "member.revoke", f"member:{member_id}")
    return _revoke(session, now, cred, audited, member_id=member_id)


@router.post("/api/v1/members/{member_id}/tokens", response_model=TokenBatch)
def member_tokens(
    admin: Admin,
    member_id: str,
    session: SessionDep,
    now: NowDep,
    cred: CredDep,
    days: Annotated[int, Query(ge=1, le=MAX_TOKEN_DAYS)] = 3,
) -> TokenBatch:
    """WS2 5-minute window tokens from now, for wallets that cannot hold a device key."""
    try:
        serial, tokens = M.tokens(session, cred.vault, member_id=member_id, now=now, days=days)
    except (I.CredentialError, IssuerKeyError) as exc:
        raise _fail(exc) from exc
    detail = {"serial": serial, "days": days, "count": len(tokens)}  # never the tokens
    audit(session, admin, "member.tokens", f"member:{member_id}", detail, at=now)
    session.commit()
    return TokenBatch(serial=serial, window_min=5, tokens=tokens)
