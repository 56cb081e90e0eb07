"""Keeping a member's phone working: the server's clock, certificate renewal, and the ops
list of members whose renewal was refused.

- `GET /api/v1/members/clock`: the server's time in unix milliseconds. The wallet corrects
  its own clock with it (a phone minutes off still draws codes a station accepts) and signs
  it in a renewal request. Every member API answer the wallet reads carries the same field.
- `POST /api/v1/members/renew`: the phone's certificate and a device-key signature over that
  time, for a new certificate (rules: `cloud.credentials.renewal`). A refusal answers
  `{"detail": words, "reason": word}`; the page translates the word.
- `GET /api/v1/ops/members/renewal-failures`: members whose last renewal was refused, for
  ops admins (audited: it links members to certificate expiry).
"""

from __future__ import annotations

import binascii
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.deps import NowDep, SessionDep
from cloud.api.members import Admin, CredDep, server_time_ms
from cloud.auth import audit
from cloud.credentials import renewal as R  # noqa: N812 - short, read as "renewal"
from protocol.credential import parse_certificate
from protocol.renewal import MAX_T_MS
from protocol.trust import b64u, unb64u

NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(tags=["members"])


class ClockOut(BaseModel):
    server_time_ms: int = Field(description="the server's time, unix milliseconds")


class RenewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    certificate: str = Field(max_length=400, description="base64url certificate bytes as held")
    t_ms: int = Field(
        ge=0, le=MAX_T_MS, description="server_time_ms from GET /api/v1/members/clock"
    )
    signature: str = Field(
        max_length=100,
        description="base64url raw ES256 by the device key over certificate || t_ms "
        "(u64 big-endian) || 'waystation/v1/renew'",
    )


class RenewResponse(BaseModel):
    certificate: str = Field(description="base64url certificate bytes")
    serial: str
    kid: str
    valid_from: date
    valid_until: date
    renewed_from: str = Field(description="serial of the certificate presented")
    server_time_ms: int


class RenewalFailure(BaseModel):
    member_id: str
    branch: str
    status: str
    failed_at: datetime
    error: str
    valid_until: date | None = Field(description="the member's latest certificate's last day")


@router.get("/api/v1/members/clock", response_model=ClockOut)
def clock(now: NowDep) -> JSONResponse:
    """The server's time, for the wallet's clock and its renewal request. Never cached."""
    return JSONResponse(ClockOut(server_time_ms=server_time_ms(now)).model_dump(), headers=NO_STORE)


def _refused(exc: R.RenewalRefusedError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    body = {"detail": str(exc), "reason": exc.reason}
    return JSONResponse(body, status_code=exc.status, headers=headers)


@router.post(
    "/api/v1/members/renew",
    response_model=RenewResponse,
    responses={
        403: {"description": "revoked, suspended, or expired too long ago"},
        409: {"description": "this request was already used"},
        429: {"description": "renewed less than an hour ago"},
    },
)
def renew(body: RenewRequest, session: SessionDep, now: NowDep, cred: CredDep) -> JSONResponse:
    """A new certificate for the same member and device key (docs/credential.md, "Renewal")."""
    try:
        certificate, signature = unb64u(body.certificate), unb64u(body.signature)
    except (ValueError, binascii.Error) as exc:
        raise HTTPException(422, "certificate and signature must be base64url") from exc
    try:
        done = R.renew(
            session, cred.vault, certificate=certificate, t_ms=body.t_ms, signature=signature,
            now=now, valid_days=cred.settings.enrol_valid_days,
        )  # fmt: skip
        session.commit()
    except R.RenewalRefusedError as exc:
        session.rollback()
        if exc.member_id is not None:
            R.record_refusal(session, member_id=exc.member_id, message=str(exc), now=now)
            session.commit()
        return _refused(exc)
    cert = parse_certificate(done.certificate)
    out = RenewResponse(
        certificate=b64u(done.certificate), serial=cert.serial.hex(), kid=cert.kid,
        valid_from=cert.valid_from, valid_until=cert.valid_until,
        renewed_from=done.renewed_from, server_time_ms=server_time_ms(now),
    )  # fmt: skip
    return JSONResponse(out.model_dump(mode="json"), headers=NO_STORE)


@router.get(
    "/api/v1/ops/members/renewal-failures", response_model=list[RenewalFailure], tags=["ops"]
)
def renewal_failures(
    admin: Admin,
    session: SessionDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RenewalFailure]:
    """Members whose phone's last renewal was refused (revoked, suspended, expired too long,
    issuer unavailable), most recent first. A member drops off the list once a renewal
    succeeds. Audited."""
    rows = R.failures(session, limit=limit)
    audit(session, admin, "member.renewal_failures", "members", {"count": len(rows)}, at=now)
    session.commit()
    return [RenewalFailure.model_validate(f, from_attributes=True) for f in rows]
