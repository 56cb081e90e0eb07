"""Certificate renewal: a phone trades the certificate it holds, and a signature by its device
key over the server's current time, for a new certificate on the same key.

Why it is safe (docs/credential.md, "Renewal"):

* **Possession**: the signature verifies under the device key recorded for that serial in the
  ledger; the certificate bytes must match the ledger's device key (a printed pass has
  none, so it never renews). Member and flags come from the ledger and the member's row,
  never from the request.
* **Freshness**: the signed `t_ms` is server time the server handed out (`GET
  /api/v1/members/clock`) and must be within `FRESH_S` of now, so a phone's own clock never
  matters and a captured request is useless minutes later.
* **Replay**: `t_ms` must be later than the newest certificate of that device key was issued;
  once a request has renewed, the same request (same `t_ms`) can never renew again.
* **Rate**: one renewal per device key per `MIN_INTERVAL` (429 with the wait); the per-address
  bucket of `cloud.api.ratelimit.AuthLimits` caps the signing work any one client causes.
* **Standing**: a revoked certificate, a suspended member, a membership that has ended, or a
  certificate expired more than `GRACE` ago is refused, with the reason in words (403).

Refusals after the signature verified are written to the member (`last_renewal_error`), so
ops see members whose phones are failing to renew; anything before that is anonymous noise
and is not recorded (else anyone knowing a serial could fill the ops list).

Plain keyword-only functions on a `Session`; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from cloud.credentials.issuer import CredentialError, KeyVault
from cloud.credentials.keys import IssuerKeyError
from cloud.credentials.members import issue_for_device
from cloud.credentials.models import CertificateRow, MemberRow
from protocol.credential import MalformedError, load_public, parse_certificate, verify_raw
from protocol.renewal import MAX_T_MS, renewal_message
from protocol.trust import b64u, unb64u

FRESH_S = 120  # how far the signed server time may lie from now: two slow round trips on 2G
MIN_INTERVAL = timedelta(hours=1)  # one renewal per device key per hour
GRACE = timedelta(days=30)  # an expired certificate still renews this long after its last day
ERROR_MAX = 200  # characters of a refusal kept on the member row


class RenewalRefusedError(CredentialError):
    """A renewal the server refuses. `reason` is a stable word the page translates;
    `member_id` is set when the device signature verified (the refusal is then recorded);
    `retry_after_s` for a 429."""

    def __init__(
        self,
        reason: str,
        message: str,
        status: int,
        *,
        member_id: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message, status)
        self.reason = reason
        self.member_id = member_id
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Renewed:
    certificate: bytes
    renewed_from: str  # the serial presented


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _newest(session: Session, member_id: str, device_public: str) -> CertificateRow:
    rows = session.exec(
        select(CertificateRow)
        .where(
            CertificateRow.member_id == member_id,
            CertificateRow.device_public == device_public,
        )
        .order_by(col(CertificateRow.issued_at).desc())
    ).all()
    return rows[0]


def _proven(session: Session, *, certificate: bytes, t_ms: int, signature: bytes) -> CertificateRow:
    """The ledger row of the presented certificate, once its device key signed the request."""
    try:
        cert = parse_certificate(certificate)
    except MalformedError as exc:
        raise RenewalRefusedError("malformed", f"certificate: {exc}", 422) from exc
    if not 0 <= t_ms <= MAX_T_MS:
        raise RenewalRefusedError("malformed", f"t_ms must be 0..{MAX_T_MS}", 422)
    row = session.get(CertificateRow, cert.serial.hex())
    if row is None or row.device_public != b64u(cert.device_public):
        raise RenewalRefusedError("unknown", "no such certificate issued here: enrol again", 404)
    message = renewal_message(certificate, t_ms)
    if not verify_raw(load_public(cert.device_public), signature, message):
        raise RenewalRefusedError(
            "bad_signature", "signature does not verify under the certificate's device key", 422
        )
    return row


def _standing(row: CertificateRow, member: MemberRow | None, today: date) -> tuple[str, str] | None:
    """Why this member may not have a new certificate (reason word, words); None: they may."""
    if row.revoked_at is not None:
        on = row.revoked_at.date().isoformat()
        return "revoked", f"certificate {row.serial} was revoked on {on}"
    if member is None or member.status != "active":
        return "suspended", f"member is {member.status if member else 'unknown'}"
    if member.valid_until is not None and member.valid_until < today:
        return "ended", f"membership ended {member.valid_until.isoformat()}"
    if row.valid_until + GRACE < today:
        return "expired", (
            f"certificate expired on {row.valid_until.isoformat()}, more than "
            f"{GRACE.days} days ago: enrol again"
        )
    return None


def renew(
    session: Session,
    vault: KeyVault,
    *,
    certificate: bytes,
    t_ms: int,
    signature: bytes,
    now: datetime,
    valid_days: int,
) -> Renewed:
    """Check the request (module docstring, in that order) and issue the new certificate for
    the same member and device key, with the member's flags now and capped at the
    membership's end (`members.issue_for_device`), recorded as renewing it."""
    row = _proven(session, certificate=certificate, t_ms=t_ms, signature=signature)
    if abs(_ms(now) - t_ms) > FRESH_S * 1000:
        raise RenewalRefusedError(
            "stale",
            f"t_ms is more than {FRESH_S} s from the server's time: sign the time from "
            "GET /api/v1/members/clock",
            422,
        )
    newest = _newest(session, row.member_id, row.device_public)
    if t_ms <= _ms(newest.issued_at):
        raise RenewalRefusedError("replayed", "this renewal request was already used", 409)
    member = session.get(MemberRow, row.member_id)
    refused = _standing(row, member, now.date())
    if refused is not None:
        reason, why = refused
        raise RenewalRefusedError(reason, f"renewal refused: {why}", 403, member_id=row.member_id)
    wait = newest.issued_at + MIN_INTERVAL - now
    if wait > timedelta(0):
        raise RenewalRefusedError(
            "too_soon",
            "this phone was renewed less than an hour ago: try again later",
            429,
            retry_after_s=max(1, int(wait.total_seconds()) + 1),
        )
    assert member is not None  # _standing refused a missing member
    try:
        raw = issue_for_device(
            session, vault, member=member, device=load_public(unb64u(row.device_public)),
            now=now, valid_days=valid_days, renewed_from=row.serial,
        )  # fmt: skip
    except (IssuerKeyError, CredentialError) as exc:
        raise RenewalRefusedError(
            "issuer_unavailable", f"the issuer cannot sign now: {exc}", 503,
            member_id=row.member_id,
        ) from exc  # fmt: skip
    member.last_renewal_at, member.last_renewal_error = now, None
    session.add(member)
    return Renewed(raw, row.serial)


def record_refusal(session: Session, *, member_id: str, message: str, now: datetime) -> None:
    """Note on the member that their phone's last renewal was refused, and why."""
    member = session.get(MemberRow, member_id)
    if member is not None:
        member.last_renewal_at, member.last_renewal_error = now, message[:ERROR_MAX]
        session.add(member)


@dataclass(frozen=True, slots=True)
class Failure:
    member_id: str
    branch: str
    status: str
    failed_at: datetime
    error: str
    valid_until: date | None  # the member's latest certificate's last day, if any


def failures(session: Session, *, limit: int = 500) -> list[Failure]:
    """Members whose last renewal was refused, most recent first."""
    members = session.exec(
        select(MemberRow)
        .where(col(MemberRow.last_renewal_error).is_not(None))
        .order_by(col(MemberRow.last_renewal_at).desc(), col(MemberRow.member_id))
        .limit(limit)
    ).all()
    out = []
    for m in members:
        until = session.exec(
            select(CertificateRow.valid_until)
            .where(CertificateRow.member_id == m.member_id)
            .order_by(col(CertificateRow.valid_until).desc())
        ).first()
        at, error = m.last_renewal_at, m.last_renewal_error or ""
        if at is not None:
            out.append(Failure(m.member_id, m.branch, m.status, at, error, until))
    return out
