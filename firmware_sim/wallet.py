"""A member's wallet: the device key and certificate a phone app would hold.

`present(t)` makes the `WS1:` text the app shows at unix second t; `qr_matrix` turns it into
the QR modules (error level M, like the app) for scene rendering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import segno
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from protocol.credential import Certificate, parse_certificate, present
from protocol.trust import b64u, unb64u

QUIET_ZONE = 4  # modules of light border the QR spec requires around the code


@dataclass(frozen=True)
class Wallet:
    member_id: str
    device_key: ec.EllipticCurvePrivateKey
    certificate: bytes

    @property
    def cert(self) -> Certificate:
        return parse_certificate(self.certificate)

    @property
    def serial(self) -> str:
        """Certificate serial, hex: the only member identifier the station ever sends."""
        return self.cert.serial.hex()

    def present(self, t: int) -> str:
        """The QR text at unix second `t`."""
        return present(self.certificate, self.device_key, t)

    def to_json(self) -> str:
        pem = self.device_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        return json.dumps(
            {
                "member_id": self.member_id,
                "device_key": pem.decode(),
                "certificate": b64u(self.certificate),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Wallet:
        data = json.loads(text)
        key = load_pem_private_key(data["device_key"].encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("wallet device key is not an EC key")
        certificate = unb64u(data["certificate"])
        parse_certificate(certificate)  # refuse a corrupt wallet now, not at the door
        return cls(str(data["member_id"]), key, certificate)

    def save(self, path: Path | str) -> None:
        """Write the wallet as JSON (holds a private key: mode 0600)."""
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path | str) -> Wallet:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def qr_matrix(text: str, *, border: int = QUIET_ZONE) -> np.ndarray:
    """QR modules for `text` at error level M, quiet zone included; True = dark."""
    qr = segno.make_qr(text, error="m", boost_error=False)
    return np.array([list(row) for row in qr.matrix_iter(scale=1, border=border)], dtype=bool)
