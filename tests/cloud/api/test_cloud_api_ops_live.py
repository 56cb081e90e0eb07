"""Live updates for the ops dashboard: the poll that turns database changes into events, the one
poller a process shares between all its listeners, and the SSE stream over real HTTP (uvicorn):
login required, hello first, alarms as they are raised, heartbeats, a bounded stream life,
and every stream ended by `close()` or by SIGTERM.
"""

from __future__ import annotations

import asyncio
import gc
import http.client
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import Engine, insert

from cloud.alarms.models import Alarm
from cloud.alarms.monitor import Monitor
from cloud.api import ops_live
from cloud.api.ops_live import LiveConfig, LiveHub, _Snapshot, poll
from cloud.auth import Role, create_user, issue_token, passwords
from cloud.db import init_db, make_engine
from cloud.ingest.ingestor import Ingestor
from cloud.main import create_app
from cloud.models import Station, table
from cloud.ops import alarms
from cloud.settings import Settings
from protocol import topics
from protocol.messages import AlarmEvent, StatePayload, TelemetryPayload
from tests.support.server import uvicorn_thread
from tests.support.wait import wait_for

ALARM = table(Alarm)


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


class Feed:
    """Station messages through the real ingestor, judged by the real monitor, on a fake clock."""

    def __init__(self, engine: Engine, clock: Any) -> None:
        self.ing = Ingestor(engine, clock=clock)
        self.monitor = Monitor(engine, clock=clock)
        self.clock = clock
        self.seq = 0

    def live(self, sid: str) -> None:
        now = self.clock.now
        self.ing.handle(
            topics.state(sid), StatePayload(sid=sid, status="online", sess=1, ts=now).to_bytes()
        )
        self.ing.handle(
            topics.telemetry(sid), TelemetryPayload(sid=sid, uptime_s=1, ts=now).to_bytes()
        )
        self.ing.flush()
        self.monitor.run_once()

    def alarm(self, sid: str, name: str, state: str = "raised") -> None:
        self.seq += 1
        event = AlarmEvent(
            sid=sid, event_id=uuid4(), seq=self.seq, alarm=name, state=state, ts=self.clock.now
        )
        self.ing.handle(topics.events(sid), event.to_bytes())
        self.ing.flush()


def test_poll_turns_database_changes_into_events_after_a_quiet_baseline(
    engine: Engine, clock: Any, add_station: Callable[..., Station]
) -> None:
    add_station("st-a")
    add_station("st-b")
    feed = Feed(engine, clock)
    feed.alarm("st-b", "camera_down")  # history before anyone listened
    feed.monitor.run_once()
    snap = _Snapshot()

    first = poll(engine, snap)  # the baseline: the summary for `hello`, no history
    assert [e for e, _ in first] == ["fleet"]
    assert first[0][1]["by_health"] == {"ok": 0, "degraded": 0, "down": 1, "unknown": 1}
    assert poll(engine, snap) == []  # nothing changed, nothing said

    clock.advance(5)
    feed.live("st-a")
    events = dict(poll(engine, snap))
    assert events["fleet"]["by_health"]["ok"] == 1
    assert [(c["id"], c["health"], c["status"]) for c in events["stations"]] == [
        ("st-a", "ok", "online")
    ]

    clock.advance(5)
    feed.alarm("st-a", "fridge_fault")
    out = poll(engine, snap)
    raised = [d for e, d in out if e == "alarm"]
    assert [(a["station_id"], a["rule"], a["state"]) for a in raised] == [
        ("st-a", "fridge_fault", "raised")
    ]
    assert poll(engine, snap) == []  # sent once

    clock.advance(5)
    with engine.begin() as conn:
        alarms.acknowledge(conn, raised[0]["id"], "op", clock.now)
    acked = [d for e, d in poll(engine, snap) if e == "alarm"]
    assert [(a["id"], a["acknowledged_by"]) for a in acked] == [(raised[0]["id"], "op")]


def test_poll_catches_an_alarm_committed_late_with_an_older_time(
    engine: Engine, clock: Any, add_station: Callable[..., Station]
) -> None:
    """A writer stamps `updated_at` before it commits: a row can appear older than one the
    stream already sent. It must still go out, once."""
    add_station("st-a")
    feed = Feed(engine, clock)
    snap = _Snapshot()
    poll(engine, snap)
    clock.advance(10)
    feed.alarm("st-a", "camera_down")
    assert [d["rule"] for e, d in poll(engine, snap) if e == "alarm"] == ["camera_down"]
    late = clock.now - timedelta(seconds=5)
    with engine.begin() as conn:
        conn.execute(
            insert(ALARM).values(
                station_id="st-a", rule="late_rule", severity="warning", source="cloud",
                state="raised", since=late, raised_at=late, updated_at=late,
            )
        )  # fmt: skip
    assert [d["rule"] for e, d in poll(engine, snap) if e == "alarm"] == ["late_rule"]
    assert [e for e, _ in poll(engine, snap)] == []


@pytest.fixture
def file_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    init_db(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def _run(scenario: Callable[[], Any]) -> Any:
    """asyncio.run(scenario()) on a thread of its own: playwright's sync API (the e2e tests, in
    the same session) leaves an event loop running on the main thread."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = asyncio.run(scenario())
        except BaseException as exc:  # handed to the test's thread
            out["error"] = exc

    thread = threading.Thread(target=target, name="scenario")
    thread.start()
    thread.join(60)
    if "error" in out:
        raise out["error"]
    return out["value"]


async def _drain(hub: LiveHub, client: Any, into: list[bytes], until: float) -> None:
    async for chunk in hub.stream(client):
        into.append(chunk)
        if asyncio.get_running_loop().time() > until:
            break


def test_one_poller_serves_every_listener_and_stops_when_they_go(file_engine: Engine) -> None:
    interval = 0.05
    hub = LiveHub(file_engine, LiveConfig(interval_s=interval, heartbeat_s=0.2, max_stream_s=0.6))

    async def scenario() -> tuple[list[list[bytes]], int, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        clients = [hub.subscribe() for _ in range(5)]
        got: list[list[bytes]] = [[] for _ in clients]
        await asyncio.gather(
            *(_drain(hub, c, g, t0 + 10) for c, g in zip(clients, got, strict=True))
        )  # each stream ends by itself after max_stream_s
        elapsed = loop.time() - t0
        polls = hub.polls
        await asyncio.sleep(5 * interval)  # nobody listens: the poller has stopped
        assert hub.polls <= polls + 1
        assert hub.listeners == 0
        return got, polls, elapsed

    got, polls, elapsed = _run(scenario)
    # One database poll per interval for all five listeners, not five.
    assert 3 <= polls <= elapsed / interval + 2, (polls, elapsed)
    for stream in got:
        text = b"".join(stream).decode()
        assert text.startswith("retry: ")
        assert "event: hello" in text
        assert ": ping" in text  # heartbeats while nothing changes


def test_a_listener_that_falls_behind_is_cut_off_not_the_others(file_engine: Engine) -> None:
    hub = LiveHub(file_engine, LiveConfig(interval_s=0.02, queue_max=2, max_stream_s=5))

    async def scenario() -> tuple[bool, bool]:
        slow = hub.subscribe()
        fast = hub.subscribe()
        for _ in range(5):  # more than the slow one's queue holds
            hub._broadcast(ops_live.frame("fleet", {"n": 1}))
            await asyncio.sleep(0)
            while not fast.queue.empty():
                fast.queue.get_nowait()
        slow_chunks = [c async for c in hub.stream(slow)]
        await hub.close()
        return slow.dropped and len(slow_chunks) <= 3, fast.dropped

    slow_dropped, fast_dropped = _run(scenario)
    assert slow_dropped
    assert not fast_dropped


def test_close_ends_every_stream_at_once(file_engine: Engine) -> None:
    hub = LiveHub(file_engine, LiveConfig(interval_s=0.05, heartbeat_s=30, max_stream_s=60))

    async def scenario() -> float:
        clients = [hub.subscribe() for _ in range(3)]
        loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(_drain(hub, c, [], loop.time() + 60)) for c in clients]
        await asyncio.sleep(0.2)  # let the three streams start before closing
        t0 = loop.time()
        await hub.close()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return loop.time() - t0

    assert _run(scenario) < 1.0
    assert hub.closed


def test_sigterm_closes_the_hub_before_the_servers_own_handler() -> None:
    """uvicorn waits for open responses at shutdown; an event stream never ends by itself."""
    calls: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: calls.append("server"))
    try:
        ops_live._chain_exit_signals(lambda: calls.append("hub"))
        signal.raise_signal(signal.SIGTERM)
        wait_for(lambda: len(calls) >= 2, 5, "both handlers to run")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert calls == ["hub", "server"]


# --- over HTTP -------------------------------------------------------------------------------


@pytest.fixture
def server(db_url: str, engine: Engine) -> Iterator[tuple[int, Any]]:
    app = create_app(Settings(db=db_url, cookie_secure=False))
    app.state.ops_live = LiveHub(
        app.state.ctx.engine, LiveConfig(interval_s=0.1, heartbeat_s=0.3, max_stream_s=1.5)
    )
    with uvicorn_thread(app) as port:
        yield port, app


def _events(resp: http.client.HTTPResponse, stop: Callable[[list[str]], bool]) -> list[str]:
    """Lines of the stream until `stop(lines)` or the stream ends."""
    lines: list[str] = []
    while True:
        raw = resp.readline()
        if not raw:
            return lines
        lines.append(raw.decode().rstrip("\n"))
        if stop(lines):
            return lines


def test_live_stream_over_http(
    server: tuple[int, Any], engine: Engine, add_station: Callable[..., Station]
) -> None:
    port, _app = server
    add_station("st-a")
    create_user(engine, "eve", Role.VIEWER, "correct horse battery")
    token = issue_token(engine, "eve")

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/v1/ops/live")
    refused = conn.getresponse()
    assert refused.status == 401
    refused.read()
    conn.close()

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    t0 = time.monotonic()
    conn.request("GET", "/api/v1/ops/live", headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("content-type", "").startswith("text/event-stream")
    assert resp.getheader("cache-control") == "no-store"
    head = _events(resp, lambda ls: any(line.startswith("data:") for line in ls))
    assert head[0].startswith("retry: ")
    assert "event: hello" in head

    # A station raises an alarm: it arrives on the open stream.
    from cloud.clock import utcnow

    ing = Ingestor(engine)
    event = AlarmEvent(
        sid="st-a", event_id=uuid4(), seq=1, alarm="camera_down", state="raised", ts=utcnow()
    )
    ing.handle(topics.events("st-a"), event.to_bytes())
    ing.flush()
    rest = _events(resp, lambda ls: "event: alarm" in ls and ls[-1].startswith("data:"))
    assert "event: alarm" in rest
    assert '"rule":"camera_down"' in rest[-1]
    assert ": ping" in rest or ": ping" in _events(resp, lambda ls: ": ping" in ls)

    # The stream ends by itself after max_stream_s (EventSource then reconnects).
    _events(resp, lambda _ls: False)
    assert 1.2 < time.monotonic() - t0 < 8
    conn.close()


def test_shutdown_waits_for_the_poll_in_flight_before_disposing(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Story: a dashboard's stream was still polling (on a worker thread, holding a pooled
    connection) when the app shut down; the engine was disposed under it and psycopg warned
    "connection deleted while still open" whenever the collector got to it, in a later test.
    The shutdown now closes the hub, which waits for the poll in flight."""
    from fastapi.testclient import TestClient

    holding, release, returned = threading.Event(), threading.Event(), threading.Event()
    real = ops_live.poll_scoped

    def slow_poll(engine: Engine, *args: Any) -> Any:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            holding.set()
            release.wait(10)
        try:
            return real(engine, *args)
        finally:
            returned.set()

    monkeypatch.setattr(ops_live, "poll_scoped", slow_poll)
    app = create_app(Settings(db=pg_url))
    try:
        with TestClient(app) as client:
            hub = LiveHub(app.state.ctx.engine, LiveConfig(interval_s=0.05))
            app.state.ops_live = hub
            client.portal.call(hub.subscribe)  # type: ignore[union-attr]
            assert holding.wait(5)
            threading.Timer(0.3, release.set).start()  # ends a moment into the shutdown
        assert returned.wait(10)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
        leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
        assert not leaked
        assert hub.closed
    finally:
        release.set()
