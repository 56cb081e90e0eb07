"""Background reads of the API's cached views give their connections back before the engine
is disposed (cloud.background).

The bug this pins: a registry check on its own thread still held a pooled PostgreSQL
connection when the app's shutdown disposed of the engine; the connection went back to a pool
nobody owned, and psycopg warned "connection deleted while still open" whenever the collector
got to it — in some later test, at random (an intermittent CI failure under
`filterwarnings = error`)."""

from __future__ import annotations

import gc
import threading
import time
import warnings
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from cloud.background import BackgroundRead
from cloud.main import create_app
from cloud.settings import Settings
from cloud.stations import index as index_module


def test_close_waits_for_the_read_in_flight_and_refuses_new_ones() -> None:
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()

    def read() -> None:
        entered.set()
        release.wait(5)
        finished.set()

    background = BackgroundRead(read, "test read")
    assert background.start()
    assert entered.wait(5)
    assert not background.start()  # one at a time
    threading.Timer(0.2, release.set).start()
    background.close()
    assert finished.is_set()  # close returned only after the read did
    assert not background.running
    assert not background.start()  # none after close


def test_a_failing_read_is_logged_and_the_next_may_start(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def read() -> None:
        calls.append(1)
        raise RuntimeError("database away")

    background = BackgroundRead(read, "flaky read")
    assert background.start()
    background.close()
    assert calls == [1]
    assert "flaky read failed" in caplog.text


@pytest.fixture
def held_registry_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, threading.Event]]:
    """Once `armed` is set, the index's registry check holds its connection until `release`
    is set (the startup's first load runs unheld)."""
    events = {name: threading.Event() for name in ("armed", "holding", "release", "returned")}
    real = index_module.registry_version

    def slow_version(engine: Engine):  # type: ignore[no-untyped-def]
        if not events["armed"].is_set():
            return real(engine)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            events["holding"].set()
            events["release"].wait(10)
        version = real(engine)
        events["returned"].set()
        return version

    monkeypatch.setattr(index_module, "registry_version", slow_version)
    yield events
    events["release"].set()


def test_shutdown_waits_for_a_background_check_before_disposing(
    pg_url: str, held_registry_check: dict[str, threading.Event]
) -> None:
    app = create_app(Settings(db=pg_url, index_refresh_s=0.05, sight_refresh_s=0.05))
    with TestClient(app):
        index = app.state.ctx.index
        held_registry_check["armed"].set()
        deadline = time.monotonic() + 5
        while not held_registry_check["holding"].is_set() and time.monotonic() < deadline:
            index.snapshot_nowait()  # due after 0.05 s: the check starts on its own thread
            time.sleep(0.01)
        assert held_registry_check["holding"].is_set()
        # the shutdown below must wait for the check, which ends a moment later
        threading.Timer(0.3, held_registry_check["release"].set).start()
    assert held_registry_check["returned"].wait(10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    leaked = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaked, [str(w.message) for w in leaked]
