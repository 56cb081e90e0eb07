"""The signed lists the door decides by: loaded from the trust directory at start, replaced
when the link brings newer ones, and kept there for the next boot.

A list is applied only if it is signed by the station's anchor and newer than the one held
(`edge.access.verify`, rollback refused); only an applied list is written to disk, so a
station that reboots without a network comes back with the newest list it ever accepted.

Without the anchor (never sent over MQTT: the installer copies `anchor.pem`) the station
refuses every member. `AnchorWatch` turns that into the `no_trust_anchor` alarm, and picks up
an anchor copied in while the agent runs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

from edge.access.trustfiles import TrustStore
from edge.access.verify import AccessVerifier
from edge.guard import guarded
from protocol.trustdir import ANCHOR_FILE


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
        self._anchor_seen: tuple[int, int] | None = None  # (mtime ns, size) last tried

    @property
    def has_anchor(self) -> bool:
        return self.verifier.anchor is not None

    def load(self) -> None:
        """Read the anchor and the last applied lists from the trust directory (at start)."""
        store = self.store
        if store is None:
            return
        anchor = store.load_anchor()
        self.verifier.load(anchor, store.load_trust(anchor), store.load_revocations(anchor))

    def reload_if_anchor_changed(self) -> bool:
        """Without an anchor: load the trust directory again if `anchor.pem` appeared or
        changed since the last try (one stat(), no log while it stays missing). Whether an
        anchor is held now."""
        store = self.store
        if self.has_anchor or store is None:
            return self.has_anchor
        try:
            st = (store.directory / ANCHOR_FILE).stat()
        except OSError:
            return False
        seen = (st.st_mtime_ns, st.st_size)
        if seen != self._anchor_seen:
            self._anchor_seen = seen
            self.load()
        return self.has_anchor

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


Transition = Literal["raised", "cleared"]
NO_ANCHOR = "no trust anchor: every member is refused"


class AnchorWatch:
    """The `no_trust_anchor` alarm: raised while no anchor is held, cleared when one is.

    A raise is remembered in a marker file beside the journal, so an agent restarted with the
    anchor in place clears the alarm the previous run raised (the cloud would otherwise keep
    a station that can admit members closed on the map). Called from housekeeping.
    """

    def __init__(self, lists: TrustLists, marker: Path) -> None:
        self.lists = lists
        self.marker = marker
        self.raised: bool | None = None  # None: not judged yet in this run

    def check(self) -> Transition | None:
        """The alarm transition now due, if any (the caller journals it)."""
        missing = not self.lists.reload_if_anchor_changed()
        if self.raised is None:  # first judgement: what the last run left raised
            self.raised = self.marker.exists()
        if missing == self.raised:
            return None
        self.raised = missing
        sid, stats = self.lists.sid, self.lists.stats
        if missing:
            guarded(sid, stats, "store_errors", lambda: self.marker.write_bytes(b""))
            return "raised"
        guarded(sid, stats, "store_errors", lambda: self.marker.unlink(missing_ok=True))
        return "cleared"
