"""A station's trust directory on disk (the layout and encodings are `protocol.trustdir`).

The anchor (the union's trust-anchor public key, PEM) is pinned at provisioning and never
arrives over MQTT. The lists are kept exactly as received, so a restart verifies the same
signed bytes again instead of trusting whatever is on disk. Writes are atomic (temp file +
rename), so a power cut leaves either the old list or the new one.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from protocol.trust import ListError, RevocationList, TrustList
from protocol.trustdir import (
    ANCHOR_FILE,
    REVOCATIONS_FILE,
    TRUST_FILE,
    AnchorError,
    anchor_pem,
    parse_anchor,
)

log = logging.getLogger(__name__)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never half."""
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


class TrustStore:
    """Reads and writes one trust directory. No I/O until a method is called."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def load_anchor(self) -> ec.EllipticCurvePublicKey | None:
        path = self.directory / ANCHOR_FILE
        try:
            return parse_anchor(path.read_bytes())
        except FileNotFoundError:
            log.warning("no trust anchor at %s: every credential will be refused", path)
        except AnchorError as exc:
            log.error("trust anchor %s: %s", path, exc)
        return None

    def _load(
        self, name: str, cls: type[TrustList] | type[RevocationList], anchor: object
    ) -> TrustList | RevocationList | None:
        path = self.directory / name
        if not isinstance(anchor, ec.EllipticCurvePublicKey):
            return None
        try:
            return cls.accept(path.read_bytes(), anchor, None)
        except FileNotFoundError:
            log.warning("no %s in %s", name, self.directory)
        except ListError as exc:
            log.error("ignoring %s: %s", path, exc)
        return None

    def load_trust(self, anchor: ec.EllipticCurvePublicKey | None) -> TrustList | None:
        """The stored trust list if its signature verifies under `anchor`."""
        item = self._load(TRUST_FILE, TrustList, anchor)
        return item if isinstance(item, TrustList) else None

    def load_revocations(self, anchor: ec.EllipticCurvePublicKey | None) -> RevocationList | None:
        item = self._load(REVOCATIONS_FILE, RevocationList, anchor)
        return item if isinstance(item, RevocationList) else None

    def save_anchor(self, key: ec.EllipticCurvePublicKey) -> None:
        write_atomic(self.directory / ANCHOR_FILE, anchor_pem(key))

    def save_trust(self, raw: bytes) -> None:
        write_atomic(self.directory / TRUST_FILE, raw)

    def save_revocations(self, raw: bytes) -> None:
        write_atomic(self.directory / REVOCATIONS_FILE, raw)
