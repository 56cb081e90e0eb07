"""API clients: a union's own app backend calling the member API server to server.

Each integration (a union app, a mini-program backend) is one client with a name, a set of
scopes and a P-256 public key. Every request carries an ES256 signature by the client's
private key over a canonical form of the request (method, path and query, body hash, a
timestamp and a one-time nonce), so:

- the database holds no secret at all (a public key), which is stronger than a hashed
  shared secret: a leaked database, backup or log lets nobody call the API;
- the private key never travels (an intercepting proxy or a header dump leaks nothing
  reusable), and a captured request is useless: its timestamp is accepted for
  `SKEW_S` seconds either way and its nonce only once (`api_nonce`, unique per client, kept
  until the timestamp could no longer pass, so the table stays small);
- one algorithm everywhere (ES256, like the member credential), and the union may make the
  key pair itself and hand over only the public half, as merchants do with the payment
  platforms' request-signing keys.

Plain functions on a `Session`; the caller commits, except `authenticate`, which records the
nonce in its own transaction (a replay must be refused even when the first call failed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import Engine, Table, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from cloud.clock import utcnow
from cloud.sql.types import UTCDateTime
from protocol.credential import compress_public, load_public, sign_raw, verify_raw
from protocol.trust import b64u

# What a client may do. `members`: create and update members; `enroll`: one-time enrolment
# codes; `revoke`: revoke a member's or one certificate; `status`: read a member's devices and
# the change feed.
SCOPES = ("members", "enroll", "revoke", "status")
CLIENT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,39}$"
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SKEW_S = 300  # a request's timestamp may be this far from the server's clock, seconds
DEFAULT_RATE_PER_MIN = 600  # 10 requests per second, bursts of a tenth of a minute
CONTEXT = "waystation/v1/app-request"
# Request headers (case-insensitive on the wire).
H_CLIENT, H_TIME, H_NONCE, H_SIG = (
    "x-ws-client",
    "x-ws-timestamp",
    "x-ws-nonce",
    "x-ws-signature",
)


class ApiClientRow(SQLModel, table=True):
    """One integration: its name (the client id), scopes and public key; never a secret."""

    __tablename__ = "api_client"

    client_id: str = Field(primary_key=True, max_length=40)
    scopes: str = Field(max_length=80, description="comma-separated, from SCOPES")
    public_key: str = Field(max_length=64, description="base64url SEC1 compressed P-256")
    rate_per_min: int = Field(default=DEFAULT_RATE_PER_MIN, ge=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)


class ApiNonceRow(SQLModel, table=True):
    """A nonce a client has used, kept until its request's timestamp is out of the window."""

    __tablename__ = "api_nonce"

    client_id: str = Field(primary_key=True, max_length=40)
    nonce: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime)


TABLES: list[Table] = [ApiClientRow.__table__, ApiNonceRow.__table__]  # type: ignore[attr-defined]


class ApiClientError(ValueError):
    """A refused client change (bad name, scope or key); `field` names what was wrong."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class Refusal(Exception):  # noqa: N818 - read as "a refusal", like HTTPException's role
    """A refused request: HTTP `status` (401 or 403), a `reason` word and words for people."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


def parse_scopes(text: str | Iterable[str]) -> frozenset[str]:
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = frozenset(s.strip() for s in items if s.strip())
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        raise ApiClientError(f"scopes must be some of {','.join(SCOPES)}: got {unknown}", "scope")
    return scopes


def load_public_key(data: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from PEM (SubjectPublicKeyInfo), or a raw or base64url SEC1 point."""
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        else:
            raw = text if len(text) in (33, 65) else base64.urlsafe_b64decode(text + b"==")
            key = load_public(raw)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ApiClientError(f"not a P-256 public key: {exc}", "public_key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ApiClientError("the key must be ECDSA P-256 (prime256v1)", "public_key")
    return key


def add_client(
    session: Session,
    *,
    client_id: str,
    scopes: str | Iterable[str],
    now: datetime,
    public_key: bytes | None = None,
    rate_per_min: int = DEFAULT_RATE_PER_MIN,
) -> str | None:
    """Register a client. Without `public_key` a key pair is made here and its private half
    returned as PKCS#8 PEM, to be shown once and never stored; with one, None."""
    if not re.fullmatch(CLIENT_ID_PATTERN, client_id):
        raise ApiClientError("name: 3-40 of [a-z0-9-], starting with a letter or digit", "name")
    if session.get(ApiClientRow, client_id) is not None:
        raise ApiClientError(f"an API client {client_id!r} exists already", "name")
    if not 1 <= rate_per_min <= 60_000:
        raise ApiClientError("rate: 1..60000 requests per minute", "rate")
    wanted = parse_scopes(scopes)
    pem: str | None = None
    if public_key is None:
        private = ec.generate_private_key(ec.SECP256R1())
        key = private.public_key()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    else:
        key = load_public_key(public_key)
    session.add(
        ApiClientRow(
            client_id=client_id,
            scopes=",".join(s for s in SCOPES if s in wanted),
            public_key=b64u(compress_public(key)),
            rate_per_min=rate_per_min,
            created_at=now,
        )
    )
    return pem


def clients(session: Session) -> list[ApiClientRow]:
    return list(session.exec(select(ApiClientRow).order_by(col(ApiClientRow.client_id))).all())


def disable_client(session: Session, *, client_id: str, now: datetime) -> ApiClientRow:
    row = session.get(ApiClientRow, client_id)
    if row is None:
        raise ApiClientError(f"no API client {client_id!r}", "name")
    if row.disabled_at is None:
        row.disabled_at = now
        session.add(row)
    return row


# --- signing and checking requests --------------------------------------------------------------


def canonical_request(
    *, client_id: str, method: str, target: str, timestamp: str, nonce: str, body: bytes
) -> bytes:
    """The bytes a client signs: seven lines joined by LF, no trailing LF — the context, the
    client id, the method in capitals, the target exactly as sent (path and `?query`), the
    timestamp (unix seconds, decimal), the nonce, and the SHA-256 hex of the body bytes."""
    lines = [CONTEXT, client_id, method.upper(), target, timestamp, nonce]
    return "\n".join([*lines, hashlib.sha256(body).hexdigest()]).encode()


def sign_request(
    key: ec.EllipticCurvePrivateKey,
    *,
    client_id: str,
    method: str,
    target: str,
    body: bytes = b"",
    timestamp: int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers of a signed request (the reference client; see docs/integration.md)."""
    nonce = nonce or secrets.token_urlsafe(18)
    message = canonical_request(
        client_id=client_id, method=method, target=target, timestamp=str(timestamp),
        nonce=nonce, body=body,
    )  # fmt: skip
    return {
        "X-WS-Client": client_id,
        "X-WS-Timestamp": str(timestamp),
        "X-WS-Nonce": nonce,
        "X-WS-Signature": b64u(sign_raw(key, message)),
    }


def _signature_ok(key: ec.EllipticCurvePublicKey, signature: str, message: bytes) -> bool:
    """Raw r‖s (64 bytes, as WebCrypto and Go give) or DER (as Java and Node give by
    default), base64url or standard base64."""
    try:
        raw = base64.urlsafe_b64decode(signature.replace("+", "-").replace("/", "_") + "==")
    except (ValueError, binascii.Error):
        return False
    if len(raw) != 64:
        try:
            r, s = decode_dss_signature(raw)
            raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        except (ValueError, OverflowError):
            return False
    return verify_raw(key, raw, message)


def authenticate(
    engine: Engine,
    headers: Mapping[str, str],
    *,
    method: str,
    target: str,
    body: bytes,
    now: datetime,
) -> ApiClientRow:
    """The client that signed this request, or a `Refusal`. Order: headers present, client
    known and enabled, timestamp within `SKEW_S`, signature, then the nonce recorded (a
    nonce is spent only by a correctly signed request, so nobody can burn another client's
    nonces)."""
    values = {h: headers.get(h, "") for h in (H_CLIENT, H_TIME, H_NONCE, H_SIG)}
    missing = [h for h, v in values.items() if not v]
    if missing:
        raise Refusal(401, "unsigned", f"missing header(s): {', '.join(missing)}")
    client_id, stamp, nonce, signature = (values[h] for h in (H_CLIENT, H_TIME, H_NONCE, H_SIG))
    with Session(engine) as session:
        row = session.get(ApiClientRow, client_id[:40])
        if row is not None:
            session.expunge(row)
    if row is None or row.disabled_at is not None:
        raise Refusal(401, "unknown_client", f"{H_CLIENT}: no enabled API client of that name")
    if not stamp.isdigit() or len(stamp) > 12:
        raise Refusal(401, "bad_timestamp", f"{H_TIME}: unix seconds, decimal")
    at = int(stamp)
    if abs(at - now.timestamp()) > SKEW_S:
        raise Refusal(
            401, "stale_timestamp", f"{H_TIME}: more than {SKEW_S} s from the server's clock"
        )
    if not NONCE_PATTERN.fullmatch(nonce):
        raise Refusal(401, "bad_nonce", f"{H_NONCE}: 16-64 of [A-Za-z0-9_-], new every request")
    message = canonical_request(
        client_id=row.client_id, method=method, target=target, timestamp=stamp, nonce=nonce,
        body=body,
    )  # fmt: skip
    key = load_public(base64.urlsafe_b64decode(row.public_key + "=="))
    if not _signature_ok(key, signature, message):
        raise Refusal(401, "bad_signature", f"{H_SIG}: does not verify for this request")
    _spend_nonce(engine, row.client_id, nonce, now, expires=at + SKEW_S)
    return row


def _spend_nonce(engine: Engine, client_id: str, nonce: str, now: datetime, expires: int) -> None:
    """Record the nonce (unique per client) in a transaction of its own; drop the client's
    nonces whose requests could no longer pass the timestamp check anyway."""
    table = ApiNonceRow.__table__  # type: ignore[attr-defined]
    expires_at = datetime.fromtimestamp(expires, tz=now.tzinfo) + timedelta(seconds=1)
    try:
        with engine.begin() as conn:
            conn.execute(
                delete(table).where(table.c.client_id == client_id, table.c.expires_at < now)
            )
            conn.execute(
                insert(table).values(client_id=client_id, nonce=nonce, expires_at=expires_at)
            )
    except IntegrityError as exc:
        raise Refusal(401, "replayed", f"{H_NONCE}: this nonce was used already") from exc


def purge_spent_nonces(engine: Engine, now: datetime) -> int:
    """Delete every client's nonces whose requests could no longer pass the timestamp check
    (`cloud maintain`); rows deleted. A calling client drops its own at each call
    (`_spend_nonce`); this catches those of a client that stopped calling (up to a window's
    worth, ~6,000 rows each at the rate limit)."""
    table = ApiNonceRow.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        return int(conn.execute(delete(table).where(table.c.expires_at < now)).rowcount)


def require_scope(client: ApiClientRow, scope: str) -> None:
    if scope not in client.scope_set:
        raise Refusal(403, "scope", f"this API client lacks the {scope!r} scope")
