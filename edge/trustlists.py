"""The signed lists the door decides by: loaded from the trust directory at start, replaced
when the link brings newer ones, and kept there for the next boot.

A list is applied only if it is signed by the station's anchor and newer than the one held
(`edge.access.verify`, rollback refused); only an applied list is written to disk, so a
station that reboots without a network comes back with the newest list it ever accepted.
"""

from __future__ import annotations

from collections import Counter

from edge.access.store import TrustStore
from edge.access.verify import AccessVerifier
from edge.guard import guarded


class TrustLists:
    """Called on the agent's start (`load`) and on the link's thread (`on_*`)."""

    def __init__(
        self,
        sid: str,
        verifier: AccessVerifier,
        store: TrustStore | None,
        stats: Counter[str],
    ) -> None:
        self.sid = sid
        self.verifier = verifier
        self.store = store  # None: no trust directory configured, everyone is refused
        self.stats = stats

    def load(self) -> None:
        """Read the anchor and the last applied lists from the trust directory (at start)."""
        store = self.store
        if store is None:
            return
        anchor = store.load_anchor()
        self.verifier.load(anchor, store.load_trust(anchor), store.load_revocations(anchor))

    def on_trust(self, raw: bytes) -> None:
        """A trust list arrived; apply it if newer and signed, and keep it for the next boot."""
        store = self.store
        if self.verifier.update_trust(raw) is not None and store is not None:
            guarded(self.sid, self.stats, "store_errors", lambda: store.save_trust(raw))

    def on_revocations(self, raw: bytes) -> None:
        """A revocation list arrived; the same rules as a trust list."""
        store = self.store
        if self.verifier.update_revocations(raw) is not None and store is not None:
            guarded(self.sid, self.stats, "store_errors", lambda: store.save_revocations(raw))
