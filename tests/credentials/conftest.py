"""Fixtures for credential tests: an issuing kit with a real sealed key, a station's view, and
the cloud app under a real uvicorn.

`station(kit_dir)` loads the kit's trust directory exactly as an edge does (`TrustStore`:
anchor pinned, lists checked against it) and returns a `decide(text, now)` function.
`live(app, log_level=…)` serves an app on a loopback port (real HTTP parser, real access
log) and returns its base URL.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from cloud.credentials.keys import Passphrase
from cloud.credentials.kit import Kit
from edge.access.replay import ReplayCache
from edge.access.store import TrustStore
from protocol.credential import Decision, VerifyPolicy, verify
from tests.support.wait import wait_for

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PASSPHRASE = "test passphrase, not a secret"
START_TIMEOUT_S = 15.0  # uvicorn binds in milliseconds; this only bounds a broken start

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
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Any, log_level: str = "warning") -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level)
        )
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        wait_for(
            lambda: server.started or not thread.is_alive(), START_TIMEOUT_S, "uvicorn to start"
        )
        assert server.started, "uvicorn did not start"
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    try:
        yield start
    finally:
        for server, thread in servers:
            server.should_exit = True
            thread.join(10)
