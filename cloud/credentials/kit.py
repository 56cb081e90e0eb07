"""The union's offline issuing kit: one directory an admin or installer carries.

    D/anchor.pem          trust-anchor public key (what a station pins)   ┐ a station's trust
    D/trust.json          signed trust list                                │ directory
    D/revocations.json    signed revocation list                           ┘ (`protocol.trustdir`)
    D/keys/<kid>.json     sealed private keys (anchor + issuers), mode 0600
    D/kit.json            issuer key facts and the ledger of issued certificates

Every write is atomic (temp file + rename), so an interrupted command leaves the old state or
the new one. The passphrase is only needed by commands that sign.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cloud.credentials import keys as K  # noqa: N812 - short, read as "keys"
from cloud.credentials.lists import build_revocation_list, build_trust_list, still_listed
from protocol.credential import (
    SERIAL_LEN,
    Flag,
    compress_public,
    issue_certificate,
    issue_token,
)
from protocol.trust import ListError, RevocationList, TrustList, b64u
from protocol.trustdir import (
    ANCHOR_FILE,
    REVOCATIONS_FILE,
    TRUST_FILE,
    AnchorError,
    anchor_pem,
    parse_anchor,
)

KIT_FILE = "kit.json"
KEYS_DIR = "keys"
MEMBER_ID_PATTERN = r"^[A-Za-z0-9._-]{1,40}$"
# Certificates default to four weeks: long enough for a worker who is offline for days, short
# enough that a lost phone stops working soon even if nobody revokes it.
DEFAULT_VALID_DAYS = 28
MAX_VALID_DAYS = 366
# Rotation overlap default: a little more than the longest default certificate, so every
# certificate the old key signed runs out before the old key leaves the trust list.
DEFAULT_OVERLAP_DAYS = DEFAULT_VALID_DAYS + 2
TOKEN_WINDOW_MIN = 5  # WS2 window length: a screenshot works at most this long
DEFAULT_TOKEN_DAYS = 3  # WS2 batch a phone fetches while online: 864 tokens, ~110 kB


class KitError(ValueError):
    """The kit directory is missing, damaged, or cannot do what was asked."""


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so an interrupted command leaves the old file or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CertRecord(BaseModel):
    """One issued certificate in the ledger (no names or phone numbers, ever)."""

    model_config = ConfigDict(extra="forbid")

    serial: str = Field(pattern=r"^[0-9a-f]{24}$")
    member_id: str = Field(pattern=MEMBER_ID_PATTERN)
    kid: str
    device_public: str = Field(default="", description="base64url compressed P-256")
    valid_from: date
    valid_until: date
    flags: int = 0
    issued_at: AwareDatetime
    revoked_at: AwareDatetime | None = None


class KitState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    v: int = 1
    insecure: bool = False
    keys: list[K.KeyInfo] = Field(default_factory=list)
    certificates: list[CertRecord] = Field(default_factory=list)


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


class Kit:
    """An opened kit directory. Construct with `Kit.init` or `Kit.open`."""

    def __init__(self, directory: Path, state: KitState, passphrase: K.Passphrase | None) -> None:
        self.directory = directory
        self.state = state
        self._passphrase = passphrase

    # --- files -------------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: Path,
        *,
        kid: str,
        passphrase: K.Passphrase | None,
        insecure: bool = False,
        now: datetime | None = None,
        lifetime: timedelta = K.DEFAULT_KEY_LIFETIME,
    ) -> Kit:
        """Create the anchor and the first issuer key, and sign version-1 lists."""
        if passphrase is None and not insecure:
            raise KitError(
                f"refusing to write unencrypted private keys: set {K.PASSPHRASE_ENV}, pass "
                "--passphrase-file, or (tests and demos only) --insecure-no-passphrase"
            )
        directory = Path(directory)
        if (directory / KIT_FILE).exists():
            raise KitError(f"{directory} already holds an issuing kit")
        now = _now(now)
        anchor, issuer = K.new_key(), K.new_key()
        info = K.key_info(kid, issuer, now - K.CLOCK_SLACK, lifetime)
        kit = cls(directory, KitState(insecure=passphrase is None, keys=[info]), passphrase)
        kit._write_key(K.ANCHOR_KID, anchor)
        kit._write_key(kid, issuer)
        write_atomic(directory / ANCHOR_FILE, anchor_pem(anchor.public_key()))
        kit.save()
        trust = build_trust_list(kit.state.keys, anchor=anchor, held=None, now=now)
        write_atomic(directory / TRUST_FILE, trust.to_bytes())
        revocations = build_revocation_list([], anchor=anchor, held=None, now=now)
        write_atomic(directory / REVOCATIONS_FILE, revocations.to_bytes())
        return kit

    @classmethod
    def open(cls, directory: Path, passphrase: K.Passphrase | None) -> Kit:
        directory = Path(directory)
        try:
            state = KitState.model_validate_json((directory / KIT_FILE).read_bytes())
        except FileNotFoundError as exc:
            raise KitError(f"{directory} is not an issuing kit (no {KIT_FILE})") from exc
        except ValueError as exc:
            raise KitError(f"{directory / KIT_FILE} is damaged: {exc}") from exc
        return cls(directory, state, passphrase)

    def save(self) -> None:
        write_atomic(self.directory / KIT_FILE, self.state.model_dump_json(indent=2).encode())

    def _key_path(self, kid: str) -> Path:
        return self.directory / KEYS_DIR / f"{kid}.json"

    def _write_key(self, kid: str, key: ec.EllipticCurvePrivateKey) -> None:
        path = self._key_path(kid)
        write_atomic(path, K.sealed_json(K.seal(key, kid, self._passphrase)).encode())
        path.chmod(0o600)

    def private_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        try:
            sealed = K.sealed_from_json(self._key_path(kid).read_bytes())
        except FileNotFoundError as exc:
            raise KitError(f"no private key for {kid!r} in {self.directory / KEYS_DIR}") from exc
        if sealed.kid != kid:
            raise KitError(f"{self._key_path(kid)} holds key {sealed.kid!r}, not {kid!r}")
        return K.unseal(sealed, self._passphrase)

    def anchor(self) -> ec.EllipticCurvePublicKey:
        """The trust anchor's public key; KitError if it is missing or damaged."""
        path = self.directory / ANCHOR_FILE
        try:
            return parse_anchor(path.read_bytes())
        except FileNotFoundError as exc:
            raise KitError(f"{self.directory} has no trust anchor") from exc
        except (OSError, AnchorError) as exc:
            raise KitError(f"{path}: {exc}") from exc

    def _signed(self, name: str) -> tuple[ec.EllipticCurvePublicKey, bytes]:
        """The list file `name` and the anchor that must have signed it."""
        anchor = self.anchor()
        try:
            return anchor, (self.directory / name).read_bytes()
        except OSError as exc:
            raise KitError(f"{self.directory}: {exc}") from exc

    def trust(self) -> TrustList:
        anchor, raw = self._signed(TRUST_FILE)
        try:
            return TrustList.accept(raw, anchor, None)
        except ListError as exc:
            raise KitError(f"{self.directory} has no valid trust list: {exc}") from exc

    def revocations(self) -> RevocationList:
        anchor, raw = self._signed(REVOCATIONS_FILE)
        try:
            return RevocationList.accept(raw, anchor, None)
        except ListError as exc:
            raise KitError(f"{self.directory} has no valid revocation list: {exc}") from exc

    # --- issuing -----------------------------------------------------------------------------

    def enroll(
        self,
        member_id: str,
        device_public: ec.EllipticCurvePublicKey,
        *,
        valid_days: int = DEFAULT_VALID_DAYS,
        flags: Flag = Flag.NONE,
        now: datetime | None = None,
    ) -> bytes:
        """Sign a certificate for one device key with the current issuer key; ledger it."""
        if not 1 <= valid_days <= MAX_VALID_DAYS:
            raise KitError(f"valid days must be 1..{MAX_VALID_DAYS}")
        now = _now(now)
        key = K.signer(self.state.keys, now)
        serial = secrets.token_bytes(SERIAL_LEN)
        valid_from = now.date() - timedelta(days=1)  # a station a little behind still accepts
        valid_until = now.date() + timedelta(days=valid_days)
        certificate = issue_certificate(
            self.private_key(key.kid),
            kid=key.kid,
            serial=serial,
            device_public=device_public,
            valid_from=valid_from,
            valid_until=valid_until,
            flags=flags,
        )
        record = CertRecord(
            serial=serial.hex(), member_id=member_id, kid=key.kid,
            device_public=b64u(compress_public(device_public)), valid_from=valid_from,
            valid_until=valid_until, flags=int(flags), issued_at=now,
        )  # fmt: skip
        self.state.certificates.append(record)
        self.save()
        return certificate

    def tokens(self, serial: str, *, start: datetime, days: int = DEFAULT_TOKEN_DAYS) -> list[str]:
        """WS2 window tokens for an issued, unrevoked serial: `days` of 5-minute windows."""
        record = self._record(serial)
        if record.revoked_at is not None:
            raise KitError(f"serial {serial} is revoked")
        key = K.signer(self.state.keys, _now(start))
        private = self.private_key(key.kid)
        first = int(start.timestamp()) // 60 // TOKEN_WINDOW_MIN * TOKEN_WINDOW_MIN
        count = days * 24 * 60 // TOKEN_WINDOW_MIN
        return [
            issue_token(
                private,
                kid=key.kid,
                serial=bytes.fromhex(serial),
                window_start_min=first + i * TOKEN_WINDOW_MIN,
                window_len_min=TOKEN_WINDOW_MIN,
                flags=Flag(record.flags),
            )
            for i in range(count)
        ]

    def _record(self, serial: str) -> CertRecord:
        for record in self.state.certificates:
            if record.serial == serial.lower():
                return record
        raise KitError(f"no certificate with serial {serial}")

    def revoke(
        self,
        *,
        serial: str | None = None,
        member_id: str | None = None,
        now: datetime | None = None,
    ) -> tuple[list[str], RevocationList]:
        """Revoke one serial or every certificate of a member; sign the next list version."""
        if (serial is None) == (member_id is None):
            raise KitError("give exactly one of a serial or a member id")
        now = _now(now)
        if serial is not None:
            targets = [self._record(serial)]
        else:
            targets = [c for c in self.state.certificates if c.member_id == member_id]
            if not targets:
                raise KitError(f"member {member_id!r} has no certificates")
        newly = []
        for record in targets:
            if record.revoked_at is None:
                record.revoked_at = now
                newly.append(record.serial)
        self.save()
        return newly, self._publish_revocations(now)

    def _publish_revocations(self, now: datetime) -> RevocationList:
        listed = [
            c.serial
            for c in self.state.certificates
            if c.revoked_at is not None and still_listed(c.valid_until, now.date())
        ]
        held = self.revocations().version
        item = build_revocation_list(
            listed, anchor=self.private_key(K.ANCHOR_KID), held=held, now=now
        )
        write_atomic(self.directory / REVOCATIONS_FILE, item.to_bytes())
        return item

    def reissue_revocations(self, now: datetime | None = None) -> RevocationList:
        """Sign the same revocations again with a new version and issue time, so stations
        can tell a quiet list from a stale one (their telemetry reports its age)."""
        return self._publish_revocations(_now(now))

    # --- keys --------------------------------------------------------------------------------

    def _publish_trust(self, now: datetime) -> TrustList:
        item = build_trust_list(
            self.state.keys,
            anchor=self.private_key(K.ANCHOR_KID),
            held=self.trust().version,
            now=now,
        )
        write_atomic(self.directory / TRUST_FILE, item.to_bytes())
        return item

    def rotate(
        self,
        new_kid: str,
        *,
        overlap: timedelta = timedelta(days=DEFAULT_OVERLAP_DAYS),
        activate_after: timedelta = timedelta(0),
        now: datetime | None = None,
    ) -> tuple[K.Rotation, TrustList]:
        """Add a new issuer key; older keys stay trusted for `overlap` after it starts."""
        now = _now(now)
        self.private_key(K.ANCHOR_KID)  # wrong passphrase: fail before anything is written
        key = K.new_key()
        rotation = K.plan_rotation(
            self.state.keys, new_kid, key, now=now, overlap=overlap, activate_after=activate_after
        )
        self._write_key(new_kid, key)
        self.state.keys.append(rotation.new)
        self.save()
        return rotation, self._publish_trust(now)

    def retire(self, kid: str, *, now: datetime | None = None) -> TrustList:
        """Remove an issuer key from the trust list now (e.g. it leaked)."""
        now = _now(now)
        self.private_key(K.ANCHOR_KID)
        K.retire(self.state.keys, kid, now)
        self.save()
        return self._publish_trust(now)
