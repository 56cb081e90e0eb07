"""What the dashboard's member page needs beyond `cloud.api.members`: finding members by
pseudonym, the enrolment link as a QR code, and how far the revocation list has reached.

- `GET /api/v1/members?q=`: members whose id (the pseudonym) contains `q`, for ops admins.
  Audited: it reveals which pseudonyms exist.
- `POST /api/v1/members/{member_id}/enrol-qr`: the member page's enrolment link
  (`/member/#member=ID&code=CODE`, the code in the fragment, never the query) as an SVG QR
  code, for a code just issued (`POST …/enrol-code`). The code travels in the request body,
  never in a URL, and the answer is never cached. Only the member's current, unexpired code
  is drawn: the route is no QR service for anything else.
- `GET /api/v1/ops/members/revocation-reach`: how many stations hold the latest signed
  revocation list, by the version each reported last (heartbeat, else its meta message).
"""

from __future__ import annotations

import io
from typing import Annotated, Any

import segno
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlmodel import col, select

from cloud.api.deps import NowDep, SessionDep
from cloud.api.members import Admin, MemberOut
from cloud.auth import audit
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.models import MemberRow
from cloud.credentials.sheets import enrol_link
from cloud.models import Station, StationState

NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
QR_SCALE = 6  # pixels per module of the SVG's own size; the page scales it anyway

router = APIRouter(tags=["members"])


class MemberFound(BaseModel):
    members: list[MemberOut]
    total: int = Field(description="members matching `q`, of which the first `limit` are listed")


@router.get("/api/v1/members", response_model=MemberFound)
def find_members(
    admin: Admin,
    session: SessionDep,
    now: NowDep,
    q: Annotated[str, Query(max_length=40)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemberFound:
    """Members whose pseudonym contains `q` (case-insensitive), by id."""
    needle = q.strip().lower()
    where = func.lower(col(MemberRow.member_id)).contains(needle, autoescape=True)
    total = session.exec(select(func.count()).select_from(MemberRow).where(where)).one()
    rows = session.exec(
        select(MemberRow).where(where).order_by(col(MemberRow.member_id)).limit(limit)
    ).all()
    audit(session, admin, "member.search", "members", {"q": q, "found": total}, at=now)
    session.commit()
    return MemberFound(members=[MemberOut.of(r) for r in rows], total=total)


class QrIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=4, max_length=32, description="the code just issued")


@router.post(
    "/api/v1/members/{member_id}/enrol-qr",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def enrol_qr(
    admin: Admin, member_id: str, body: QrIn, request: Request, session: SessionDep, now: NowDep
) -> Response:
    """The enrolment link of the member's current code as an SVG QR code (not cached)."""
    member = session.get(MemberRow, member_id)
    current = (
        member is not None
        and member.enrol_code_hash == M.code_hash(body.code)
        and member.enrol_code_expires is not None
        and member.enrol_code_expires > now
    )
    if not current:
        raise HTTPException(404, "code: not the member's current enrolment code")
    link = enrol_link(str(request.base_url).rstrip("/"), member_id, body.code.strip().upper())
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(out, kind="svg", scale=QR_SCALE, border=2)
    return Response(out.getvalue(), media_type="image/svg+xml", headers=NO_STORE)


class RevocationReach(BaseModel):
    latest_version: int | None = Field(description="of the signed list; None: none yet")
    stations: int = Field(description="registered stations")
    on_latest: int = Field(description="stations that last reported the latest version")
    behind: int = Field(description="stations that last reported an older version")
    unknown: int = Field(description="stations that never reported a version")


def held_version(telemetry: dict[str, Any] | None, meta: dict[str, Any] | None) -> int | None:
    """The revocation list version a station holds: its newest heartbeat's, else its meta's."""
    for source in (telemetry, meta):
        version = (source or {}).get("revocation_version")
        if isinstance(version, int):
            return version
    return None


@router.get("/api/v1/ops/members/revocation-reach", response_model=RevocationReach, tags=["ops"])
def revocation_reach(admin: Admin, session: SessionDep) -> RevocationReach:
    """How many stations run the latest revocation list (admins: the whole union)."""
    row = I.signed_list(session, I.REVOCATIONS)
    latest = row.version if row is not None else None
    query = select(StationState.telemetry, StationState.meta).join_from(
        Station, StationState, col(Station.id) == col(StationState.station_id), isouter=True
    )
    held = [held_version(t, m) for t, m in session.exec(query).all()]
    known = [v for v in held if v is not None]
    on_latest = sum(1 for v in known if latest is not None and v >= latest)
    return RevocationReach(
        latest_version=latest, stations=len(held), on_latest=on_latest,
        behind=len(known) - on_latest, unknown=len(held) - len(known),
    )  # fmt: skip
