"""The cloud's issuer in the database: sealed keys, rotation, and the signed lists.

Plain keyword-only functions on a `Session`; the caller commits. Private keys come from a
`KeyVault`, which opens sealed keys with the passphrase once and keeps them in memory only.
Every change to a signed list locks that list's row (`SELECT … FOR UPDATE` on PostgreSQL) so
two admins revoking at once still produce versions N+1 and N+2, never two N+1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session, col, select

from cloud.credentials import keys as K  # noqa: N812 - short, read as "keys"
from cloud.credentials.kit import DEFAULT_OVERLAP_DAYS, Kit, KitError
from cloud.credentials.lists import build_revocation_list, build_trust_list, still_listed
from cloud.credentials.models import CertificateRow, IssuerKeyRow, MemberRow, SignedListRow
from protocol.credential import compress_public
from protocol.trust import RevocationList, TrustList, b64u

TRUST = "trust"
REVOCATIONS = "revocations"


class CredentialError(ValueError):
    """A request the issuer or registry refuses; `status` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class KeyVault:
    """Opens sealed keys with the passphrase on first use and keeps them in memory only."""

    passphrase: K.Passphrase | None
    _open: dict[str, ec.EllipticCurvePrivateKey] = field(default_factory=dict, repr=False)

    def key(self, row: IssuerKeyRow) -> ec.EllipticCurvePrivateKey:
        if row.kid not in self._open:
            self._open[row.kid] = K.unseal(K.sealed_from_json(row.sealed), self.passphrase)
        return self._open[row.kid]


# --- keys and lists ------------------------------------------------------------------------


def _key_rows(session: Session) -> list[IssuerKeyRow]:
    return list(session.exec(select(IssuerKeyRow).where(IssuerKeyRow.role == "issuer")).all())


def _infos(rows: Sequence[IssuerKeyRow]) -> list[K.KeyInfo]:
    return [
        K.KeyInfo(
            kid=r.kid,
            public_key=r.public_key,
            not_before=r.not_before,
            not_after=r.not_after,
            retired_at=r.retired_at,
        )
        for r in rows
    ]


def _anchor(session: Session, vault: KeyVault) -> ec.EllipticCurvePrivateKey:
    row = session.get(IssuerKeyRow, K.ANCHOR_KID)
    if row is None:
        raise CredentialError("no issuer set up: run `waystation members import-kit`", 503)
    return vault.key(row)


def _lock_list(session: Session, kind: str) -> SignedListRow | None:
    stmt = select(SignedListRow).where(SignedListRow.kind == kind).with_for_update()
    return session.exec(stmt).first()


def _store_list(
    session: Session, kind: str, held: SignedListRow | None, item: TrustList | RevocationList
) -> None:
    row = held or SignedListRow(kind=kind, version=item.version, issued_at=item.issued_at, body="")
    row.version, row.issued_at, row.body = item.version, item.issued_at, item.to_bytes().decode()
    session.add(row)


def signed_list(session: Session, kind: str) -> SignedListRow | None:
    """The latest signed list of `kind` (`trust` or `revocations`) as published."""
    return session.get(SignedListRow, kind)


def _resign_trust(session: Session, vault: KeyVault, now: datetime) -> TrustList:
    held = _lock_list(session, TRUST)
    item = build_trust_list(
        _infos(_key_rows(session)),
        anchor=_anchor(session, vault),
        held=held.version if held else None,
        now=now,
    )
    _store_list(session, TRUST, held, item)
    return item


def resign_revocations(session: Session, vault: KeyVault, now: datetime) -> RevocationList:
    """Sign the revocation list again (next version) from the certificates' status."""
    held = _lock_list(session, REVOCATIONS)
    revoked = session.exec(
        select(CertificateRow.serial, CertificateRow.valid_until).where(
            col(CertificateRow.revoked_at).is_not(None)
        )
    ).all()
    item = build_revocation_list(
        [s for s, until in revoked if still_listed(until, now.date())],
        anchor=_anchor(session, vault),
        held=held.version if held else None,
        now=now,
    )
    _store_list(session, REVOCATIONS, held, item)
    return item


def create_issuer(session: Session, vault: KeyVault, *, kid: str, now: datetime) -> TrustList:
    """Set up a new anchor and first issuer key in an empty database (no kit needed)."""
    if session.get(IssuerKeyRow, K.ANCHOR_KID) is not None:
        raise CredentialError("an issuer is already set up", 409)
    anchor, issuer = K.new_key(), K.new_key()
    for key_id, key, role in ((K.ANCHOR_KID, anchor, "anchor"), (kid, issuer, "issuer")):
        info = K.key_info(key_id, key, now - K.CLOCK_SLACK, K.DEFAULT_KEY_LIFETIME)
        session.add(
            IssuerKeyRow(
                kid=key_id,
                role=role,
                public_key=info.public_key,
                sealed=K.sealed_json(K.seal(key, key_id, vault.passphrase)),
                not_before=info.not_before,
                not_after=info.not_after,
            )
        )
    session.flush()
    trust = _resign_trust(session, vault, now)
    resign_revocations(session, vault, now)
    return trust


def import_kit(session: Session, kit: Kit) -> tuple[int, int]:
    """Copy an offline kit into an empty database: sealed keys (still sealed), the signed
    lists as they are, and the certificate ledger. Returns (keys, certificates)."""
    if session.get(IssuerKeyRow, K.ANCHOR_KID) is not None:
        raise CredentialError("this database already has an issuer", 409)
    try:
        anchor_public = kit.anchor()
    except KitError as exc:
        raise CredentialError(str(exc)) from exc
    keys_dir = kit.directory / "keys"
    anchor_info = K.KeyInfo(
        kid=K.ANCHOR_KID,
        public_key=b64u(compress_public(anchor_public)),
        not_before=datetime(1970, 1, 1, tzinfo=UTC),
        not_after=datetime(9999, 1, 1, tzinfo=UTC),
    )
    for info, role in [(anchor_info, "anchor"), *((k, "issuer") for k in kit.state.keys)]:
        sealed = (keys_dir / f"{info.kid}.json").read_text()
        session.add(
            IssuerKeyRow(
                kid=info.kid,
                role=role,
                public_key=info.public_key,
                sealed=sealed,
                not_before=info.not_before,
                not_after=info.not_after,
                retired_at=info.retired_at,
            )
        )
    for kind, item in ((TRUST, kit.trust()), (REVOCATIONS, kit.revocations())):
        _store_list(session, kind, None, item)
    for c in kit.state.certificates:
        if session.get(MemberRow, c.member_id) is None:
            session.add(MemberRow(member_id=c.member_id))
            session.flush()
        session.add(
            CertificateRow(
                serial=c.serial,
                member_id=c.member_id,
                kid=c.kid,
                device_public=c.device_public,
                valid_from=c.valid_from,
                valid_until=c.valid_until,
                flags=c.flags,
                issued_at=c.issued_at,
                revoked_at=c.revoked_at,
            )
        )
    return len(kit.state.keys), len(kit.state.certificates)


def rotate_key(
    session: Session,
    vault: KeyVault,
    *,
    kid: str,
    now: datetime,
    overlap: timedelta = timedelta(days=DEFAULT_OVERLAP_DAYS),
    activate_after: timedelta = timedelta(0),
) -> TrustList:
    """Add a new issuer key (see `keys.plan_rotation`) and sign the next trust list."""
    rows = _key_rows(session)
    infos = _infos(rows)
    key = K.new_key()
    rotation = K.plan_rotation(
        infos, kid, key, now=now, overlap=overlap, activate_after=activate_after
    )
    by_kid = {r.kid: r for r in rows}
    for info in rotation.shortened:
        by_kid[info.kid].not_after = info.not_after
        session.add(by_kid[info.kid])
    new = rotation.new
    session.add(
        IssuerKeyRow(
            kid=new.kid,
            public_key=new.public_key,
            sealed=K.sealed_json(K.seal(key, new.kid, vault.passphrase)),
            not_before=new.not_before,
            not_after=new.not_after,
        )
    )
    session.flush()
    return _resign_trust(session, vault, now)


def signing_key(
    session: Session, vault: KeyVault, now: datetime
) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """The key id and private key that sign new certificates and tokens now."""
    rows = _key_rows(session)
    info = K.signer(_infos(rows), now)
    return info.kid, vault.key(next(r for r in rows if r.kid == info.kid))
