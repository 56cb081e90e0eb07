"""The server-to-server API for a union's own app backend (docs/integration.md).

The union app already knows who its logged-in member is; its backend creates or updates the
member here, asks for a one-time enrolment code and hands it straight to the wallet module
embedded in the app's page, which enrols the phone's own key (`POST /api/v1/members/enroll`).
The app can revoke, read a member's devices and poll a feed of changes (enrolled, renewed,
revoked, renewal refused) since a cursor. Every request is signed by the integration's
API client key (`cloud.credentials.apiclients`: ES256 over method, target, body hash,
timestamp and nonce), limited per client, needs the route's scope, and every change or
lookup is in `audit_log` as `app:<client>` (role `app`), never with an enrolment code.

Refusals: 401 `{"detail", "reason"}` (`unsigned`, `unknown_client`, `bad_timestamp`,
`stale_timestamp`, `bad_nonce`, `bad_signature`, `replayed`), 403 reason `scope`, 429 with
Retry-After over the client's rate; a bad field is FastAPI's 422 naming it (`loc`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from cloud.api.deps import SessionDep
from cloud.api.members import (
    CredDep,
    MemberIn,
    MemberOut,
    RevokeResponse,
    server_time_ms,
)
from cloud.api.ratelimit import TokenBuckets
from cloud.auth.models import AuditEntry
from cloud.credentials import apiclients as A  # noqa: N812 - short, read as "API clients"
from cloud.credentials import changes as C  # noqa: N812
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.context import CredentialContext
from cloud.credentials.keys import IssuerKeyError
from cloud.credentials.models import MEMBER_ID_PATTERN, CertificateRow, MemberRow

PREFIX = "/api/v1/app"
NO_STORE = {"Cache-Control": "no-store"}
CODE_TTL_MIN = 15  # default life of an app's enrolment code: the wallet uses it at once
MAX_CODE_TTL_MIN = 7 * 24 * 60

router = APIRouter(
    prefix=PREFIX,
    tags=["union app"],
    responses={
        401: {"description": "unsigned, unknown client, stale timestamp, bad signature, replayed"},
        403: {"description": "the client lacks this route's scope"},
        429: {"description": "over the client's rate (Retry-After)"},
    },
)


@dataclass(frozen=True)
class Caller:
    """The API client behind a verified request, and the peer address for the audit log."""

    client_id: str
    scopes: frozenset[str]
    ip: str | None


def _buckets(request: Request, client: A.ApiClientRow) -> TokenBuckets:
    """One token bucket per client at its own rate (per process, like every rate limit here:
    N replicas allow up to N times the rate)."""
    store: dict[tuple[str, int], TokenBuckets] = request.app.state.__dict__.setdefault(
        "app_client_buckets", {}
    )
    key = (client.client_id, client.rate_per_min)
    if key not in store:
        burst = max(5, client.rate_per_min // 6)
        store[key] = TokenBuckets(client.rate_per_min / 60, burst)
    return store[key]


def caller(scope: str) -> Any:
    """A dependency: the verified caller holding `scope` (else 401/403/429)."""

    async def check(request: Request) -> Caller:
        ctx = request.app.state.ctx
        body = await request.body()
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        target = raw_path.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")
        headers = {k.lower(): v for k, v in request.headers.items()}
        now = ctx.clock()
        client = await run_in_threadpool(
            A.authenticate, ctx.engine, headers, method=request.method, target=target,
            body=body, now=now,
        )  # fmt: skip
        A.require_scope(client, scope)
        wait = _buckets(request, client).take(client.client_id)
        if wait > 0:
            retry = str(max(1, int(wait + 0.999)))
            raise HTTPException(429, "over this API client's rate", {"Retry-After": retry})
        peer = request.client.host if request.client else None
        return Caller(client.client_id, client.scope_set, peer)

    return Depends(check)


Db = SessionDep
MembersScope = Annotated[Caller, caller("members")]
EnrollScope = Annotated[Caller, caller("enroll")]
RevokeScope = Annotated[Caller, caller("revoke")]
StatusScope = Annotated[Caller, caller("status")]


def _audit(
    session: Session, who: Caller, action: str, target: str, detail: dict[str, Any], at: datetime
) -> None:
    """An audit row like the ops actions', as `app:<client>` with role `app`."""
    session.execute(
        insert(AuditEntry.__table__).values(  # type: ignore[attr-defined]
            at=at, username=f"app:{who.client_id}"[:64], role="app", action=action[:64],
            target=target[:255], detail=detail, ip=who.ip,
        )
    )  # fmt: skip


def _member_id(member_id: str) -> str:
    if not re.fullmatch(MEMBER_ID_PATTERN, member_id):
        raise HTTPException(422, "member_id: 1-40 of [A-Za-z0-9._-]")
    return member_id


def _now(request: Request) -> datetime:
    clock = request.app.state.ctx.clock
    now: datetime = clock()
    return now


def _fail(exc: I.CredentialError | IssuerKeyError) -> HTTPException:
    return HTTPException(exc.status if isinstance(exc, I.CredentialError) else 503, str(exc))


# --- models ----------------------------------------------------------------------------------


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_min: int = Field(
        default=CODE_TTL_MIN, ge=1, le=MAX_CODE_TTL_MIN, description="minutes the code works"
    )


class AppEnrolCode(BaseModel):
    member_id: str
    code: str = Field(description="one-time; give it to the wallet, never log it")
    link: str = Field(description="the member page link with the code in its fragment")
    expires_at: datetime


class Device(BaseModel):
    """One enrolled phone (device key): its newest certificate."""

    serial: str
    valid_from: date
    valid_until: date
    issued_at: datetime
    renewed_from: str | None
    status: Literal["valid", "revoked", "expired"]


class MemberStatus(MemberOut):
    devices: list[Device]
    enrol_code_expires: datetime | None = Field(description="an unused code's end, if any")
    last_renewal_at: datetime | None
    last_renewal_error: str | None
    server_time_ms: int


# --- routes ----------------------------------------------------------------------------------


@router.put("/members/{member_id}", response_model=MemberOut)
def put_member(
    who: MembersScope,
    request: Request,
    member_id: str,
    body: MemberIn,
    session: Db,
) -> MemberOut:
    """Create or update a member; fields left out keep their value (a new one: defaults)."""
    now = _now(request)
    changes = body.changes()
    row, created = M.apply_member(session, member_id=_member_id(member_id), changes=changes)
    detail = {k: v.isoformat() if isinstance(v, date) else v for k, v in changes.items()}
    _audit(session, who, "member.put", f"member:{member_id}", {**detail, "created": created}, now)
    session.commit()
    return MemberOut.of(row)


@router.post("/members/{member_id}/enrol-code", response_model=AppEnrolCode)
def enrol_code(
    who: EnrollScope,
    request: Request,
    member_id: str,
    session: Db,
    body: Annotated[CodeRequest | None, Body()] = None,
) -> JSONResponse:
    """A new one-time enrolment code for the member (replaces any unused one), for the
    wallet in the app; short-lived by default. Only in this answer, never logged."""
    now = _now(request)
    ttl = timedelta(minutes=(body or CodeRequest()).ttl_min)
    member = session.get(MemberRow, _member_id(member_id))
    if member is not None and member.status != "active":
        raise HTTPException(409, f"member is {member.status}: set status active first")
    try:
        code = M.new_enrol_code(session, member_id=member_id, now=now, ttl=ttl)
    except I.CredentialError as exc:
        raise _fail(exc) from exc
    expires_at = now + ttl
    detail = {"expires_at": expires_at.isoformat()}  # never the code
    _audit(session, who, "member.enrol_code", f"member:{member_id}", detail, now)
    session.commit()
    base = str(request.base_url).rstrip("/")
    link = f"{base}/member/#" + urlencode({"member": member_id, "code": code})
    out = AppEnrolCode(member_id=member_id, code=code, link=link, expires_at=expires_at)
    return JSONResponse(out.model_dump(mode="json"), headers=NO_STORE)


def _revoke(
    session: Session, cred: CredentialContext, who: Caller, now: datetime, **target: str
) -> RevokeResponse:
    try:
        newly, item = M.revoke(session, cred.vault, now=now, **target)  # type: ignore[arg-type]
        what = f"member:{target['member_id']}" if "member_id" in target else ""
        what = what or f"certificate:{target['serial']}"
        detail = {"revoked": newly, "revocation_version": item.version}
        action = "member.revoke" if "member_id" in target else "certificate.revoke"
        _audit(session, who, action, what, detail, now)
        session.commit()
    except (I.CredentialError, IssuerKeyError) as exc:
        session.rollback()
        raise _fail(exc) from exc
    published = cred.try_publish(None, item.to_bytes())
    return RevokeResponse(revoked=newly, revocation_version=item.version, published=published)


@router.post("/members/{member_id}/revoke", response_model=RevokeResponse)
def revoke_member(
    who: RevokeScope,
    request: Request,
    member_id: str,
    session: Db,
    cred: CredDep,
) -> RevokeResponse:
    """Revoke every certificate and pass of the member; the next signed revocation list goes
    out to the stations. To keep them from enrolling again, also PUT `status: suspended`."""
    return _revoke(session, cred, who, _now(request), member_id=_member_id(member_id))


@router.post("/certificates/{serial}/revoke", response_model=RevokeResponse)
def revoke_certificate(
    who: RevokeScope,
    request: Request,
    serial: str,
    session: Db,
    cred: CredDep,
) -> RevokeResponse:
    """Revoke one certificate (a lost phone), by its serial (24 hex digits)."""
    if not re.fullmatch(r"[0-9a-fA-F]{24}", serial):
        raise HTTPException(422, "serial: 24 hex digits")
    return _revoke(session, cred, who, _now(request), serial=serial)


def _devices(rows: list[CertificateRow], today: date) -> list[Device]:
    """The newest certificate per device key (a renewal keeps the key), oldest device first."""
    newest: dict[str, CertificateRow] = {}
    for row in rows:  # oldest first: later ones replace earlier ones
        if row.kind == "device":
            newest[row.device_public] = row
    out = []
    for row in newest.values():
        status: Literal["valid", "revoked", "expired"] = (
            "revoked" if row.revoked_at else "expired" if row.valid_until < today else "valid"
        )
        out.append(
            Device(
                serial=row.serial, valid_from=row.valid_from, valid_until=row.valid_until,
                issued_at=row.issued_at, renewed_from=row.renewed_from, status=status,
            )
        )  # fmt: skip
    return out


@router.get("/members/{member_id}", response_model=MemberStatus)
def member_status(
    who: StatusScope,
    request: Request,
    member_id: str,
    session: Db,
) -> JSONResponse:
    """The member's fields, enrolled devices (newest certificate each), an unused enrolment
    code's end and how the last renewal went. Audited (it links a member to serials)."""
    now = _now(request)
    member = session.get(MemberRow, _member_id(member_id))
    if member is None:
        raise HTTPException(404, f"no member {member_id!r}")
    devices = _devices(M.certificates(session, member_id=member_id), now.date())
    pending = member.enrol_code_expires
    out = MemberStatus(
        **MemberOut.of(member).model_dump(), devices=devices,
        enrol_code_expires=pending if pending is not None and pending >= now else None,
        last_renewal_at=member.last_renewal_at, last_renewal_error=member.last_renewal_error,
        server_time_ms=server_time_ms(now),
    )  # fmt: skip
    detail = {"serials": [d.serial for d in devices]}
    _audit(session, who, "member.status", f"member:{member_id}", detail, now)
    session.commit()
    return JSONResponse(out.model_dump(mode="json"), headers=NO_STORE)


class ChangeOut(BaseModel):
    at: datetime
    kind: Literal["enrolled", "renewed", "pass", "revoked", "renewal_refused"]
    member_id: str
    serial: str | None
    valid_until: date | None
    detail: str | None = Field(description="renewal_refused: why")


class ChangesOut(BaseModel):
    changes: list[ChangeOut]
    next_cursor: str = Field(description="pass as ?cursor= next time")
    more: bool = Field(description="true: ask again at once, more changes are waiting")
    server_time_ms: int


@router.get("/changes", response_model=ChangesOut)
def changes(
    who: StatusScope,
    request: Request,
    session: Db,
    cursor: Annotated[str, Query(pattern=r"^[0-9]{1,19}$")] = "0",
    limit: Annotated[int, Query(ge=1, le=C.MAX_LIMIT)] = 100,
) -> JSONResponse:
    """Members' phones' changes since `cursor` (`0`: from the start): enrolled, renewed,
    pass issued, revoked, renewal refused; oldest first, up to about 30 s ago
    (`cloud.credentials.changes`). Poll with the returned `next_cursor`. Audited."""
    now = _now(request)
    page = C.changes_since(session, cursor=int(cursor), now=now, limit=limit)
    detail = {"cursor": cursor, "count": len(page.changes)}
    _audit(session, who, "member.changes", "members", detail, now)
    session.commit()
    body = {
        "changes": [C.as_json(c) for c in page.changes],
        "next_cursor": str(page.next_cursor),
        "more": page.more,
        "server_time_ms": server_time_ms(now),
    }
    return JSONResponse(body, headers=NO_STORE)


async def refused(_request: Request, exc: Exception) -> JSONResponse:
    """A `Refusal` from `cloud.credentials.apiclients` as `{"detail", "reason"}`."""
    assert isinstance(exc, A.Refusal)
    return JSONResponse(
        {"detail": exc.detail, "reason": exc.reason}, status_code=exc.status, headers=NO_STORE
    )
