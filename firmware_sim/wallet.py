"""A member's wallet: the device key and certificate a phone app would hold.

This is the reference for app developers: `new_device_key()` makes the P-256 key the phone
keeps (in Android Keystore / the Secure Enclave on a real phone), `enrollment_request()` is
the JSON body the cloud's `POST /api/v1/members/enroll` takes (with a proof that the phone
holds the key), `Wallet.enroll()` sends it, `present(t)` makes the `WS1:` text the app shows
at unix second t (or a held `WS2:` window token with `format="ws2"`), `save_png` renders it.
`Wallet.renew()` trades the certificate for a new one while online: it reads the server's
time (`server_time_ms()`, also what an app corrects its clock with) and signs it
(`renewal_request()`, docs/credential.md "Renewal").
`qr_matrix` turns a text into QR modules (error level M, like the app) for scene rendering.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import segno
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from protocol.credential import (
    Certificate,
    Token,
    compress_public,
    parse_certificate,
    parse_text,
    present,
    sign_raw,
)
from protocol.renewal import sign_renewal
from protocol.trust import b64u, unb64u

QUIET_ZONE = 4  # modules of light border the QR spec requires around the code
# Domain separation for the enrolment proof: the phone signs this context ‖ member id ‖ code,
# so the signature cannot be reused as a presentation or for another member.
ENROLL_CONTEXT = b"waystation/v1/enroll"
PNG_SCALE = 6  # pixels per module: a version-10 code is 390 px wide, sharp on any screen
HTTP_TIMEOUT_S = 10.0  # enrolment is one small request; a phone on 2G still answers in time


def new_device_key() -> ec.EllipticCurvePrivateKey:
    """The phone's key pair; the private half never leaves the device."""
    return ec.generate_private_key(ec.SECP256R1())


def enrollment_proof_message(member_id: str, code: str) -> bytes:
    return ENROLL_CONTEXT + b"|" + member_id.encode() + b"|" + code.encode()


def enrollment_request(member_id: str, code: str, device_key: ec.EllipticCurvePrivateKey) -> dict:
    """The body of `POST /api/v1/members/enroll`: device public key + proof of possession."""
    return {
        "member_id": member_id,
        "code": code,
        "device_public": b64u(compress_public(device_key.public_key())),
        "proof": b64u(sign_raw(device_key, enrollment_proof_message(member_id, code))),
    }


class EnrollError(RuntimeError):
    """The cloud refused the enrolment or could not be reached."""


class RenewError(RuntimeError):
    """The cloud refused the renewal (`status`, `reason` word) or could not be reached."""

    def __init__(self, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def renewal_request(certificate: bytes, device_key: ec.EllipticCurvePrivateKey, t_ms: int) -> dict:
    """The body of `POST /api/v1/members/renew`: the certificate held and the device key's
    signature over it and the server's time `t_ms` (unix ms, from `server_time_ms`)."""
    return {
        "certificate": b64u(certificate),
        "t_ms": t_ms,
        "signature": b64u(sign_renewal(certificate, device_key, t_ms)),
    }


def _call(url: str, body: dict | None = None) -> dict[str, Any]:
    """GET (or POST `body` as JSON) and the JSON answer; urllib's errors pass through."""
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own API
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310
        data: dict[str, Any] = json.loads(response.read())
    return data


def server_time_ms(api: str) -> int:
    """The cloud's clock, unix milliseconds (`GET /api/v1/members/clock`)."""
    try:
        return int(_call(api.rstrip("/") + "/api/v1/members/clock")["server_time_ms"])
    except (urllib.error.URLError, TimeoutError) as exc:
        raise RenewError(f"cloud not reachable: {exc}") from exc


@dataclass(frozen=True)
class Wallet:
    member_id: str
    device_key: ec.EllipticCurvePrivateKey
    certificate: bytes
    tokens: tuple[str, ...] = ()  # WS2 window tokens, oldest first (optional)

    @classmethod
    def enroll(
        cls,
        api: str,
        member_id: str,
        code: str,
        *,
        device_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> Wallet:
        """Enrol a (new) device key with the cloud at `api` (e.g. http://host:8000)."""
        device_key = device_key or new_device_key()
        body = enrollment_request(member_id, code, device_key)
        try:
            data = _call(api.rstrip("/") + "/api/v1/members/enroll", body)
        except urllib.error.HTTPError as exc:
            raise EnrollError(f"enrolment refused ({exc.code}): {exc.read().decode()}") from exc
        except (urllib.error.URLError, TimeoutError) as exc:
            raise EnrollError(f"cloud not reachable: {exc}") from exc
        certificate = unb64u(data["certificate"])
        if parse_certificate(certificate).device_public != compress_public(device_key.public_key()):
            raise EnrollError("the certificate is for another device key")
        return cls(member_id, device_key, certificate)

    def renew(self, api: str) -> Wallet:
        """This wallet with a new certificate for the same device key (tokens dropped: they
        belong to the old serial). Raises RenewError with the cloud's status and reason."""
        t_ms = server_time_ms(api)
        body = renewal_request(self.certificate, self.device_key, t_ms)
        try:
            data = _call(api.rstrip("/") + "/api/v1/members/renew", body)
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read())
            except ValueError:
                answer = {}
            raise RenewError(
                f"renewal refused ({exc.code}): {answer.get('detail', '')}",
                exc.code,
                str(answer.get("reason", "")),
            ) from exc
        except (urllib.error.URLError, TimeoutError) as exc:
            raise RenewError(f"cloud not reachable: {exc}") from exc
        certificate = unb64u(data["certificate"])
        if parse_certificate(certificate).device_public != self.cert.device_public:
            raise RenewError("the new certificate is for another device key")
        return Wallet(self.member_id, self.device_key, certificate)

    @property
    def cert(self) -> Certificate:
        return parse_certificate(self.certificate)

    @property
    def serial(self) -> str:
        """Certificate serial, hex: the only member identifier the station ever sends."""
        return self.cert.serial.hex()

    def present(self, t: int, format: Literal["ws1", "ws2"] = "ws1") -> str:
        """The QR text at unix second `t`: a fresh `WS1:` presentation, or the held `WS2:`
        token whose window covers `t` (ValueError if none does)."""
        if format == "ws1":
            return present(self.certificate, self.device_key, t)
        for text in self.tokens:
            token = parse_text(text)
            if isinstance(token, Token):
                start = token.window_start * 60
                if start <= t < start + token.window_len * 60:
                    return text
        raise ValueError("no WS2 token in this wallet covers that time: fetch a new batch")

    def save_png(self, text: str, path: Path | str, *, scale: int = PNG_SCALE) -> Path:
        """Render `text` as a QR PNG (error level M, alphanumeric mode, quiet zone)."""
        segno.make_qr(text, error="m", boost_error=False).save(
            str(path), kind="png", scale=scale, border=QUIET_ZONE
        )
        return Path(path)

    def to_json(self) -> str:
        pem = self.device_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        data: dict[str, Any] = {
            "member_id": self.member_id,
            "device_key": pem.decode(),
            "certificate": b64u(self.certificate),
        }
        if self.tokens:
            data["tokens"] = list(self.tokens)
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Wallet:
        data = json.loads(text)
        key = load_pem_private_key(data["device_key"].encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("wallet device key is not an EC key")
        certificate = unb64u(data["certificate"])
        parse_certificate(certificate)  # refuse a corrupt wallet now, not at the door
        tokens = tuple(str(t) for t in data.get("tokens", ()))
        return cls(str(data["member_id"]), key, certificate, tokens)

    def save(self, path: Path | str) -> None:
        """Write the wallet as JSON (holds a private key: mode 0600 from its creation on)."""
        fd = os.open(Path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fd, 0o600)  # a file that was already there keeps its mode otherwise
            fh.write(self.to_json())

    @classmethod
    def load(cls, path: Path | str) -> Wallet:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def qr_matrix(text: str, *, border: int = QUIET_ZONE) -> np.ndarray:
    """QR modules for `text` at error level M, quiet zone included; True = dark."""
    qr = segno.make_qr(text, error="m", boost_error=False)
    return np.array([list(row) for row in qr.matrix_iter(scale=1, border=border)], dtype=bool)
