"""Printed day and week passes for workers without a smartphone.

A pass is a run of WS2 window tokens (`protocol.credential.issue_token`) on a serial of its
own, recorded as a `member_certificate` row of kind `pass` (no device key). So everything
that stops a certificate stops a pass: revoking the member or the pass's serial puts it on
the signed revocation list, and stations refuse its codes from the next list on.

The window length is the token's own field (minutes, u16), checked by every station exactly
(`protocol.credential.is_fresh`); the default is the phones' 5 minutes. Longer windows mean
fewer pages but a longer life for a photographed code and, because a station admits each
(serial, window) once, one entry per station per window. docs/credential.md "Printed passes".
The token format carries no station, so a pass cannot be limited to one station: the station
it was issued at is printed and audited, not enforced.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from cloud.credentials.issuer import CredentialError, KeyVault, signing_key
from cloud.credentials.kit import TOKEN_WINDOW_MIN
from cloud.credentials.models import CertificateRow, MemberRow
from protocol.credential import SERIAL_LEN, Flag, issue_token

PASS_DAYS = (1, 7)
PASS_WINDOWS_MIN = (5, 10, 15, 30, 60)


@dataclass(frozen=True, slots=True)
class Pass:
    serial: str
    flags: int
    window_min: int
    codes: dict[int, str]  # window start (unix minutes) → WS2 text
    starts_at: datetime
    ends_at: datetime


def issue_pass(
    session: Session,
    vault: KeyVault,
    *,
    member_id: str,
    now: datetime,
    days: int,
    window_min: int = TOKEN_WINDOW_MIN,
) -> Pass:
    """Sign `days` × 24 h of window tokens from the window holding `now` on a new serial,
    and record the serial. The caller commits and audits (never the codes)."""
    if days not in PASS_DAYS:
        raise CredentialError(f"a pass is for 1 or 7 days, not {days}", 422)
    if window_min not in PASS_WINDOWS_MIN:
        raise CredentialError(f"window must be one of {PASS_WINDOWS_MIN} minutes", 422)
    member = session.get(MemberRow, member_id)
    if member is None:
        raise CredentialError(f"no member {member_id!r}", 404)
    if member.status != "active":
        raise CredentialError(f"member is {member.status}", 403)
    first = int(now.timestamp()) // 60 // window_min * window_min
    starts_at = datetime.fromtimestamp(first * 60, now.tzinfo)
    ends_at = starts_at + timedelta(days=days)
    if member.valid_until is not None:
        if member.valid_until < now.date():
            raise CredentialError(f"membership ended {member.valid_until}", 403)
        last = datetime.combine(member.valid_until + timedelta(days=1), datetime.min.time())
        ends_at = min(ends_at, last.replace(tzinfo=now.tzinfo))
    kid, key = signing_key(session, vault, now)
    serial = secrets.token_bytes(SERIAL_LEN)
    count = (int(ends_at.timestamp()) // 60 - first) // window_min
    codes = {
        start: issue_token(
            key,
            kid=kid,
            serial=serial,
            window_start_min=start,
            window_len_min=window_min,
            flags=Flag(member.flags),
        )
        for start in (first + i * window_min for i in range(count))
    }
    session.add(
        CertificateRow(
            serial=serial.hex(),
            member_id=member_id,
            kid=kid,
            device_public="",
            valid_from=starts_at.date(),
            valid_until=ends_at.date(),
            flags=member.flags,
            kind="pass",
            issued_at=now,
        )
    )
    return Pass(serial.hex(), member.flags, window_min, codes, starts_at, ends_at)
