"""Fixtures for credential tests: an issuing kit with a real sealed key, and a station's view.

`station(kit_dir)` loads the kit's trust directory exactly as an edge does (`TrustStore`:
anchor pinned, lists checked against it) and returns a `decide(text, now)` function.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloud.credentials.keys import Passphrase
from cloud.credentials.kit import Kit
from edge.access.store import TrustStore
from protocol.credential import Decision, ReplayCache, VerifyPolicy, verify

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PASSPHRASE = "test passphrase, not a secret"

Decide = Callable[..., Decision]


@pytest.fixture
def passphrase() -> Passphrase:
    return Passphrase(PASSPHRASE)


@pytest.fixture
def kit(tmp_path: Path, passphrase: Passphrase) -> Kit:
    return Kit.init(tmp_path / "kit", kid="union-1", passphrase=passphrase, now=NOW)


@pytest.fixture
def station() -> Callable[[Path], Decide]:
    def make(directory: Path) -> Decide:
        store = TrustStore(directory)
        anchor = store.load_anchor()
        trust, revocations = store.load_trust(anchor), store.load_revocations(anchor)
        replay = ReplayCache(horizon_s=120)

        def decide(text: str, now: datetime = NOW, *, window_s: int = 30) -> Decision:
            return verify(
                text,
                issuers=trust.issuers() if trust else {},
                revoked=revocations.revoked() if revocations else frozenset(),
                now=now,
                policy=VerifyPolicy(window_s=window_s),
                replay=replay,
            )

        return decide

    return make
