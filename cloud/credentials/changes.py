"""The members' change feed: what happened to members' phones since a cursor, for a union app
backend that polls instead of receiving webhooks.

Changes come from the ledger itself, so nothing extra is written on the hot paths:
certificates issued (`enrolled`, `renewed`, `pass`), certificates revoked (`revoked`) and a
member's last renewal refused (`renewal_refused`, only the latest refusal of a member).

The cursor is a time watermark (unix microseconds): a page holds every change with
`cursor < time <= next_cursor`. The watermark never passes `now - SETTLE_S`, because a
change is stamped with its request's time before its transaction commits: a transaction
that commits within `SETTLE_S` of its stamp is never skipped. A page that is full ends on a
whole timestamp (changes sharing the last one are never split across pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from cloud.credentials.models import CertificateRow, MemberRow

SETTLE_S = 30  # seconds a change may take from its timestamp to its commit
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Change:
    at: datetime
    kind: str  # enrolled | renewed | pass | revoked | renewal_refused
    member_id: str
    serial: str | None
    valid_until: date | None
    detail: str | None

    def key(self) -> tuple[datetime, str, str, str]:
        return (self.at, self.kind, self.member_id, self.serial or "")


@dataclass(frozen=True)
class Page:
    changes: list[Change]
    next_cursor: int
    more: bool


def to_cursor(at: datetime) -> int:
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(microseconds=1)


def from_cursor(cursor: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=cursor)


def _fetch(session: Session, since: datetime, upto: datetime, limit: int | None) -> list[Change]:
    """Up to `limit` changes of each source in (since, upto], merged in time order."""
    cert, member = CertificateRow, MemberRow
    issued = (
        select(cert)
        .where(col(cert.issued_at) > since, col(cert.issued_at) <= upto)
        .order_by(col(cert.issued_at))
    )
    revoked = (
        select(cert)
        .where(col(cert.revoked_at).is_not(None))
        .where(col(cert.revoked_at) > since, col(cert.revoked_at) <= upto)
        .order_by(col(cert.revoked_at))
    )
    refused = (
        select(member)
        .where(col(member.last_renewal_error).is_not(None))
        .where(col(member.last_renewal_at) > since, col(member.last_renewal_at) <= upto)
        .order_by(col(member.last_renewal_at))
    )
    if limit is not None:
        issued, revoked, refused = (q.limit(limit) for q in (issued, revoked, refused))
    out: list[Change] = []
    for row in session.exec(issued):
        kind = "pass" if row.kind == "pass" else "renewed" if row.renewed_from else "enrolled"
        out.append(Change(row.issued_at, kind, row.member_id, row.serial, row.valid_until, None))
    for row in session.exec(revoked):
        assert row.revoked_at is not None
        out.append(
            Change(row.revoked_at, "revoked", row.member_id, row.serial, row.valid_until, None)
        )
    for m in session.exec(refused):
        assert m.last_renewal_at is not None
        detail = m.last_renewal_error
        out.append(Change(m.last_renewal_at, "renewal_refused", m.member_id, None, None, detail))
    return sorted(out, key=Change.key)


def changes_since(session: Session, *, cursor: int, now: datetime, limit: int = 100) -> Page:
    """The changes after `cursor` up to `now - SETTLE_S`, at most `limit` (more when more
    than `limit` share one timestamp: a page never splits a timestamp)."""
    since = from_cursor(cursor)
    upto = now - timedelta(seconds=SETTLE_S)
    if upto <= since:
        return Page([], cursor, False)
    found = _fetch(session, since, upto, limit + 1)
    if len(found) <= limit:
        return Page(found, to_cursor(upto), False)
    last = found[limit - 1].at
    page = [c for c in found[:limit] if c.at < last] if found[limit].at == last else found[:limit]
    if not page:  # more than `limit` changes at one instant: that instant whole
        page = _fetch(session, since, last, None)
    return Page(page, to_cursor(page[-1].at), True)


def as_json(change: Change) -> dict[str, Any]:
    return {
        "at": change.at.isoformat(),
        "kind": change.kind,
        "member_id": change.member_id,
        "serial": change.serial,
        "valid_until": change.valid_until.isoformat() if change.valid_until else None,
        "detail": change.detail,
    }
