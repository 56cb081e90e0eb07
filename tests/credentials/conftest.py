"""Fixtures for credential tests: an issuing kit with a real sealed key, a station's view, and
the cloud app under a real uvicorn.

`station(kit_dir)` loads the kit's trust directory exactly as an edge does (`TrustStore`:
anchor pinned, lists checked against it) and returns a `decide(text, now)` function.
`live(app, log_level=…)` serves an app on a loopback port (real HTTP parser, real access
log) and returns its base URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloud.credentials.keys import Passphrase
from cloud.credentials.kit import Kit
from edge.access.replay import ReplayCache
from edge.access.trustfiles import TrustStore
from protocol.credential import Decision, VerifyPolicy, verify
from tests.support.server import uvicorn_thread

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
        seen = {"now": NOW.timestamp()}  # the station's own time: the last `now` decided at
        replay = ReplayCache(monotonic=lambda: seen["now"], floor=lambda: seen["now"])

        def decide(text: str, now: datetime = NOW, *, window_s: int = 30) -> Decision:
            seen["now"] = now.timestamp()
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


@pytest.fixture
def live() -> Iterator[Callable[..., str]]:
    """live(app, log_level="warning") runs `app` under uvicorn on 127.0.0.1; its base URL."""
    with ExitStack() as stack:

        def start(app: Any, log_level: str = "warning") -> str:
            port = stack.enter_context(uvicorn_thread(app, log_level=log_level))
            return f"http://127.0.0.1:{port}"

        yield start
