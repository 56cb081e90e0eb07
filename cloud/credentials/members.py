"""The cloud's member registry: members, one-time enrolment codes, device certificates by
serial with their status, revocation, and WS2 token batches. No names or phone numbers.

Plain keyword-only functions on a `Session`; the caller commits. Keys and signed lists live
in `cloud.credentials.issuer`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import update
from sqlmodel import Session, col, select

from cloud.credentials.issuer import CredentialError, KeyVault, resign_revocations, signing_key
from cloud.credentials.kit import (
    DEFAULT_TOKEN_DAYS,
    DEFAULT_VALID_DAYS,
    MAX_VALID_DAYS,
    TOKEN_WINDOW_MIN,
)
from cloud.credentials.models import CertificateRow, MemberRow
from protocol.credential import (
    PUBKEY_LEN,
    SERIAL_LEN,
    Flag,
    compress_public,
    issue_certificate,
    issue_token,
    load_public,
    verify_raw,
)
from protocol.trust import RevocationList, b64u

# Enrolment codes: 10 characters from a 32-letter alphabet without 0/O/1/I = 50 bits, far
# beyond online guessing, short enough to type from a letter or read out on the phone.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LEN = 10
DEFAULT_CODE_TTL = timedelta(days=7)
ENROLL_CONTEXT = b"waystation/v1/enroll"  # same bytes as firmware_sim.wallet and the web page
BAD_CODE = "unknown member, or wrong, expired or already used enrolment code"


# --- members and certificates ----------------------------------------------------------------


def upsert_member(
    session: Session, *, member_id: str, branch: str = "", status: str = "active"
) -> MemberRow:
    member = session.get(MemberRow, member_id) or MemberRow(member_id=member_id)
    member.branch, member.status = branch, status
    session.add(member)
    return member


# Member fields a caller may set; `staff` and `mother_baby` are bits of `MemberRow.flags`.
MEMBER_FLAGS = (("staff", Flag.STAFF), ("mother_baby", Flag.MOTHER_BABY))
MEMBER_FIELDS = ("branch", "status", "valid_until", *(name for name, _ in MEMBER_FLAGS))


def apply_member(
    session: Session, *, member_id: str, changes: Mapping[str, Any]
) -> tuple[MemberRow, bool]:
    """Create or update a member with the fields in `changes` (names from MEMBER_FIELDS);
    fields left out keep their value (a new member: the defaults). Returns (row, created).

    Flags and the membership end reach a phone with its next certificate (renewal or
    enrolment); to take a flag away at once, revoke the member's certificates too."""
    unknown = set(changes) - set(MEMBER_FIELDS)
    if unknown:
        raise CredentialError(f"unknown member field(s): {sorted(unknown)}", 422)
    member = session.get(MemberRow, member_id)
    created = member is None
    if member is None:
        member = MemberRow(member_id=member_id, flags=0)
    for name, bit in MEMBER_FLAGS:
        if name in changes:
            flags = Flag(member.flags or 0)
            member.flags = int(flags | bit if changes[name] else flags & ~bit)
    for name in ("branch", "status", "valid_until"):
        if name in changes:
            setattr(member, name, changes[name])
    session.add(member)
    return member, created


def member_flags(member: MemberRow) -> dict[str, bool]:
    """The member's flag bits by name (`staff`, `mother_baby`)."""
    return {name: bool(member.flags & bit) for name, bit in MEMBER_FLAGS}


def code_hash(code: str) -> str:
    """How an enrolment code is stored: SHA-256 hex of the code as the member types it."""
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def make_codes(count: int) -> list[str]:
    """`count` fresh enrolment codes. One `token_bytes` call for all of them: each byte's low
    5 bits pick a letter, unbiased because the alphabet has exactly 32 letters (300,000 codes
    in ~0.3 s, where a `secrets.choice` per letter takes ~4 s)."""
    raw = secrets.token_bytes(count * CODE_LEN)
    letters = "".join(CODE_ALPHABET[b & 31] for b in raw)
    return [letters[i : i + CODE_LEN] for i in range(0, len(letters), CODE_LEN)]


def new_enrol_code(
    session: Session, *, member_id: str, now: datetime, ttl: timedelta = DEFAULT_CODE_TTL
) -> str:
    """A one-time code the member types (or scans) to enrol one device; shown once."""
    member = session.get(MemberRow, member_id)
    if member is None:
        raise CredentialError(f"no member {member_id!r}", 404)
    (code,) = make_codes(1)
    member.enrol_code_hash, member.enrol_code_expires = code_hash(code), now + ttl
    session.add(member)
    return code


def _device_key(raw: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 point, compressed (33 bytes) or uncompressed (65, WebCrypto's `raw` export)."""
    if len(raw) not in (PUBKEY_LEN, 65):
        raise CredentialError("device key must be a P-256 point (33 or 65 bytes)", 422)
    try:
        return load_public(raw)
    except ValueError as exc:
        raise CredentialError("device key is not a P-256 point", 422) from exc


def enroll(
    session: Session,
    vault: KeyVault,
    *,
    member_id: str,
    code: str,
    device_public: bytes,
    proof: bytes,
    now: datetime,
    valid_days: int = DEFAULT_VALID_DAYS,
) -> bytes:
    """Check the one-time code and the device's proof of possession, spend the code, then sign
    a certificate with the current issuer key.

    The code is spent by one conditional UPDATE before anything is signed (`_spend_code`): of
    many requests presenting the same code at once exactly one spends it, on SQLite and on
    PostgreSQL alike, and the others get 403. A refusal before that point (wrong proof, bad
    key) leaves the code unspent; a failure after it rolls the spend back with the caller's
    transaction."""
    if not 1 <= valid_days <= MAX_VALID_DAYS:
        raise CredentialError(f"valid days must be 1..{MAX_VALID_DAYS}", 422)
    member = session.get(MemberRow, member_id)
    expected = member.enrol_code_hash if member else None
    if (
        member is None
        or expected is None
        or not hmac.compare_digest(expected, code_hash(code))
        or member.enrol_code_expires is None
        or member.enrol_code_expires < now
    ):
        raise CredentialError(BAD_CODE, 403)
    if member.status != "active":
        raise CredentialError(f"member is {member.status}", 403)
    if member.valid_until is not None and member.valid_until < now.date():
        raise CredentialError(f"membership ended {member.valid_until}", 403)
    device = _device_key(device_public)
    message = ENROLL_CONTEXT + b"|" + member_id.encode() + b"|" + code.encode()
    if not verify_raw(device, proof, message):
        raise CredentialError("proof does not verify under the device key", 422)
    _spend_code(session, member_id=member_id, code_hash=expected, now=now)
    return issue_for_device(
        session, vault, member=member, device=device, now=now, valid_days=valid_days
    )


def issue_for_device(
    session: Session,
    vault: KeyVault,
    *,
    member: MemberRow,
    device: ec.EllipticCurvePublicKey,
    now: datetime,
    valid_days: int,
    renewed_from: str | None = None,
) -> bytes:
    """Sign a certificate for `device` with the current issuer key and record it in the
    ledger: the member's flags, valid from yesterday (a station a little behind still
    accepts) to `valid_days` after today or the membership's end, whichever is first.
    Enrolment and renewal both issue here."""
    kid, key = signing_key(session, vault, now)
    serial = secrets.token_bytes(SERIAL_LEN)
    valid_from = now.date() - timedelta(days=1)
    valid_until = now.date() + timedelta(days=valid_days)
    if member.valid_until is not None:
        valid_until = min(valid_until, member.valid_until)
    flags = Flag(member.flags)
    certificate = issue_certificate(
        key,
        kid=kid,
        serial=serial,
        device_public=device,
        valid_from=valid_from,
        valid_until=valid_until,
        flags=flags,
    )
    session.add(
        CertificateRow(
            serial=serial.hex(),
            member_id=member.member_id,
            kid=kid,
            device_public=b64u(compress_public(device)),
            valid_from=valid_from,
            valid_until=valid_until,
            flags=int(flags),
            issued_at=now,
            renewed_from=renewed_from,
        )
    )
    return certificate


def _spend_code(session: Session, *, member_id: str, code_hash: str, now: datetime) -> None:
    """Clear the member's enrolment code if it is still this one, unexpired and the member
    active, in one statement; 403 unless exactly this call cleared it.

    The read in `enroll` only gives early, friendly refusals: between it and here another
    request may have spent the code. PostgreSQL makes a concurrent UPDATE of the same row wait
    for the first one's commit and then re-checks the WHERE clause against the new row, which
    no longer matches; SQLite runs one writer at a time. Either way one caller sees rowcount 1.
    """
    stmt = (
        update(MemberRow)
        .where(
            col(MemberRow.member_id) == member_id,
            col(MemberRow.enrol_code_hash) == code_hash,
            col(MemberRow.enrol_code_expires) >= now,
            col(MemberRow.status) == "active",
        )
        .values(enrol_code_hash=None, enrol_code_expires=None)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(stmt)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise CredentialError(BAD_CODE, 403)
    member = session.get(MemberRow, member_id)
    if member is not None:
        session.expire(member)  # the loaded copy still shows the code: read it afresh


def certificates(
    session: Session, *, member_id: str | None = None, serial: str | None = None
) -> list[CertificateRow]:
    stmt = select(CertificateRow).order_by(col(CertificateRow.issued_at))
    if member_id is not None:
        stmt = stmt.where(CertificateRow.member_id == member_id)
    if serial is not None:
        stmt = stmt.where(CertificateRow.serial == serial.lower())
    return list(session.exec(stmt).all())


def revoke(
    session: Session,
    vault: KeyVault,
    *,
    now: datetime,
    serial: str | None = None,
    member_id: str | None = None,
) -> tuple[list[str], RevocationList]:
    """Revoke one certificate or all of a member's; sign the next revocation list version."""
    if (serial is None) == (member_id is None):
        raise CredentialError("give exactly one of serial or member_id", 422)
    rows = certificates(session, serial=serial, member_id=member_id)
    if not rows:
        raise CredentialError("no such certificate or member", 404)
    newly = []
    for row in rows:
        if row.revoked_at is None:
            row.revoked_at = now
            session.add(row)
            newly.append(row.serial)
    session.flush()
    return newly, resign_revocations(session, vault, now)


def tokens(
    session: Session,
    vault: KeyVault,
    *,
    member_id: str,
    now: datetime,
    days: int = DEFAULT_TOKEN_DAYS,
) -> tuple[str, list[str]]:
    """WS2 5-minute window tokens for `days` from now, on the member's newest valid
    certificate's serial (revoking that serial revokes the tokens too)."""
    member = session.get(MemberRow, member_id)
    if member is None or member.status != "active":
        raise CredentialError("no active member with that id", 404)
    live = [
        c
        for c in certificates(session, member_id=member_id)
        if c.kind == "device" and c.revoked_at is None and c.valid_until >= now.date()
    ]
    if not live:
        raise CredentialError("member has no valid certificate: enrol a device first", 409)
    cert = live[-1]
    kid, key = signing_key(session, vault, now)
    first = int(now.timestamp()) // 60 // TOKEN_WINDOW_MIN * TOKEN_WINDOW_MIN
    count = days * 24 * 60 // TOKEN_WINDOW_MIN
    return cert.serial, [
        issue_token(
            key,
            kid=kid,
            serial=bytes.fromhex(cert.serial),
            window_start_min=first + i * TOKEN_WINDOW_MIN,
            window_len_min=TOKEN_WINDOW_MIN,
            flags=Flag(cert.flags),
        )
        for i in range(count)
    ]
