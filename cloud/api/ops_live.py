"""Live updates for the ops dashboard: `GET /api/v1/ops/live` (viewer), server-sent events.

One `LiveHub` per process polls the database for every connected dashboard at once (never
one poll per client) and fans the changes out:

- `hello`: the fleet summary, first thing on every stream (the page then loads its tables);
- `fleet`: the fleet summary, when it changed;
- `alarm`: one alarm (as in the inbox) whose `updated_at` moved: raised, cleared, acked;
- `stations`: the stations whose health, status, door, lock or maintenance changed.

Each listener gets only what its account's scope (`cloud.auth.scope`) may see: its own fleet
summary, its stations' changes, alarms about its stations (the poll is shared; a summary is
computed once per distinct scope listening, not per listener).

A comment line goes out every `heartbeat_s` so proxies keep the stream open. A stream ends
after `max_stream_s` (the browser's EventSource reconnects by itself after `retry`, and the
login is checked again then), when the hub closes (SIGTERM/SIGINT to the server, or
`close()`), or when the client goes away. The poller runs only while someone listens.

One module on purpose (~430 lines): the poll, the hub that shares it and the stream are one
mechanism, and each part works on the others' internals (the snapshot, the client queues).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Connection, Engine, bindparam, func, select
from starlette.concurrency import run_in_threadpool

from cloud.alarms.models import PENDING, Alarm
from cloud.api.scoping import scoped
from cloud.auth import Principal, Role
from cloud.auth.scope import ALL, Scope
from cloud.clock import Clock, utcnow
from cloud.models import Station, StationState, table
from cloud.ops import fleet
from cloud.ops.alarms import AlarmView, select_views
from cloud.sql.types import UTCDateTime
from cloud.stations.maintenance import in_maintenance

log = logging.getLogger(__name__)

ALARM = table(Alarm)
STATION = table(Station)
STATE = table(StationState)
Viewer = Annotated[Principal, Depends(scoped(Role.VIEWER))]

# Alarm rows are written with the writer's clock before its transaction commits, so a row can
# become visible with an `updated_at` older than one already sent. Re-reading this far back
# (and skipping what was sent) catches it; the cost is one indexed-by-time re-read per poll.
ALARM_LOOKBACK = timedelta(seconds=60)
ALARM_BATCH = 500  # alarm changes read per poll at most; the rest follow on the next poll

router = APIRouter(prefix="/api/v1/ops", tags=["ops live"])


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """How the hub polls and streams. Defaults suit a fleet of 10,000–200,000 stations: the
    monitor judges health every 10 s, so polling faster than ~2 s shows nothing sooner."""

    interval_s: float = 2.0  # seconds between database polls while someone listens
    heartbeat_s: float = 15.0  # a comment line this often (proxies close idle streams at 30–60 s)
    max_stream_s: float = 300.0  # a stream ends after this; EventSource reconnects by itself
    retry_ms: int = 3000  # tells EventSource how long to wait before reconnecting
    queue_max: int = 512  # messages buffered per client; a client that falls behind is dropped


@dataclass(slots=True)
class _Snapshot:
    baselined: bool = False  # the first poll only takes the baseline
    fleets: dict[Scope, dict[str, Any]] = field(default_factory=dict)  # per scope listening
    stations: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    owners: dict[str, tuple[str, str]] = field(default_factory=dict)  # id → (operator, city)
    alarms_baselined: bool = False
    alarm_cursor: datetime | None = None  # the newest alarm `updated_at` seen
    alarms_sent: dict[tuple[int, datetime], datetime] = field(default_factory=dict)


STATION_FIELDS = ("health", "status", "door", "lock", "maintenance", "occupancy")
_STATION_ROWS = (
    select(
        STATION.c.id,
        func.coalesce(STATE.c.health, "unknown"),
        func.coalesce(STATE.c.history_status, "unknown"),
        STATE.c.door,
        STATE.c.lock,
        in_maintenance(bindparam("now", type_=UTCDateTime())),
        STATE.c.occupancy,
        STATION.c.operator,
        STATION.c.city,
    )
    .select_from(STATION.outerjoin(STATE, STATE.c.station_id == STATION.c.id))
    .where(STATION.c.retired_at.is_(None))  # retired stations are off the map
)
_SHOWN = len(STATION_FIELDS)


def _station_rows(
    conn: Connection, now: datetime
) -> tuple[dict[str, tuple[Any, ...]], dict[str, Any]]:
    """id → the shown fields, and id → (operator, city) for the scope filter."""
    rows, owners = {}, {}
    for r in conn.execute(_STATION_ROWS, {"now": now}):
        rows[r[0]] = tuple(r[1 : _SHOWN + 1])
        owners[r[0]] = (r[_SHOWN + 1], r[_SHOWN + 2])
    return rows, owners


def _alarm_changes(conn: Connection, snap: _Snapshot) -> list[AlarmView]:
    """Alarms whose `updated_at` moved since the last poll, oldest change first."""
    if not snap.alarms_baselined:  # baseline: history is the inbox's job, not the stream's
        snap.alarms_baselined = True
        newest = conn.execute(select(func.max(ALARM.c.updated_at))).scalar_one_or_none()
        if newest is not None:
            recent = conn.execute(
                select(ALARM.c.id, ALARM.c.updated_at).where(
                    ALARM.c.updated_at >= newest - ALARM_LOOKBACK
                )
            )
            snap.alarms_sent = {(r.id, r.updated_at): r.updated_at for r in recent}
        snap.alarm_cursor = newest
        return []
    where = [ALARM.c.state != PENDING]
    if snap.alarm_cursor is not None:  # None: the table was empty at the baseline
        where.append(ALARM.c.updated_at >= snap.alarm_cursor - ALARM_LOOKBACK)
    rows = conn.execute(
        select_views().where(*where).order_by(ALARM.c.updated_at, ALARM.c.id).limit(ALARM_BATCH)
    )
    out = []
    for row in rows:
        key = (row.id, row.updated_at)
        if key in snap.alarms_sent:
            continue
        snap.alarms_sent[key] = row.updated_at
        out.append(AlarmView.model_validate(row))
        if snap.alarm_cursor is None or row.updated_at > snap.alarm_cursor:
            snap.alarm_cursor = row.updated_at
    if snap.alarm_cursor is None:
        return out
    horizon = snap.alarm_cursor - ALARM_LOOKBACK
    snap.alarms_sent = {k: at for k, at in snap.alarms_sent.items() if at >= horizon}
    return out


def poll(engine: Engine, snap: _Snapshot, now: datetime | None = None) -> list[tuple[str, Any]]:
    """One database poll for a union-wide listener (see `poll_scoped`)."""
    return poll_scoped(engine, snap, {ALL}, now)[ALL]


def poll_scoped(
    engine: Engine, snap: _Snapshot, scopes: set[Scope], now: datetime | None = None
) -> dict[Scope, list[tuple[str, Any]]]:
    """One database poll: for each scope listening, the messages it implies, as (event,
    data). Mutates `snap`. The first poll only takes the baseline (and yields the fleet
    summary, for `hello`); a scope seen for the first time gets its summary as `fleet`."""
    first = not snap.baselined
    now = now or utcnow()  # maintenance windows are judged at it
    with engine.connect() as conn:
        summaries = {
            scope: fleet.summary(conn, now, within=scope.where()).model_dump(mode="json")
            for scope in scopes
        }
        stations, owners = _station_rows(conn, now)
        alarms = _alarm_changes(conn, snap)
    changed = []
    if not first:
        changed = [
            {"id": sid, **dict(zip(STATION_FIELDS, row, strict=True))}
            for sid, row in stations.items()
            if snap.stations.get(sid) != row
        ]
    raised = [] if first else alarms
    out: dict[Scope, list[tuple[str, Any]]] = {}
    for scope in scopes:
        said: list[tuple[str, Any]] = []
        if summaries[scope] != snap.fleets.get(scope):
            said.append(("fleet", summaries[scope]))
        mine = [c for c in changed if _allowed(scope, owners.get(c["id"]))]
        if mine:
            said.append(("stations", mine))
        said.extend(
            ("alarm", a.model_dump(mode="json"))
            for a in raised
            if scope.everything or _allowed(scope, owners.get(a.station_id or ""))
        )
        out[scope] = said
    snap.baselined = True
    snap.fleets = {scope: summaries[scope] for scope in scopes}
    snap.stations, snap.owners = stations, owners
    return out


def _allowed(scope: Scope, owner: tuple[str, str] | None) -> bool:
    """Whether a station with this (operator, city) is in `scope`; an unknown station (or
    none: an alarm about the cloud) only for the union."""
    if owner is None:
        return scope.everything
    return scope.allows(*owner)


def frame(event: str, data: Any) -> bytes:
    """One server-sent event (JSON never contains a raw newline, so one `data:` line)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class _Client:
    __slots__ = ("dropped", "greeted", "queue", "scope")

    def __init__(self, size: int, scope: Scope) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(size)
        self.dropped = False
        self.scope = scope  # what this listener may see (cloud.auth.scope)
        self.greeted = False  # `hello` sent


class LiveHub:
    """The one poller of a process and its listeners. Lives on `app.state.ops_live`."""

    def __init__(
        self, engine: Engine, config: LiveConfig | None = None, clock: Clock = utcnow
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.config = config or LiveConfig()
        self.polls = 0  # database polls made (tests and metrics: one per interval, any clients)
        self._clients: set[_Client] = set()
        self._task: asyncio.Task[None] | None = None
        self._snap = _Snapshot()
        self._closed = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signals_chained = False

    @property
    def listeners(self) -> int:
        return len(self._clients)

    @property
    def closed(self) -> bool:
        return self._closed

    def subscribe(self, scope: Scope = ALL) -> _Client:
        """A new listener seeing `scope`; starts the poller if it is not running. Call in the
        event loop."""
        client = _Client(self.config.queue_max, scope)
        self._clients.add(client)
        running = self._task is not None and not self._task.done()
        summary = self._snap.fleets.get(scope)
        if running and summary is not None:
            self._put(client, frame("hello", summary))
            client.greeted = True
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._snap = _Snapshot()  # a fresh baseline: nothing was watched meanwhile
            self._task = asyncio.create_task(self._run(), name="ops-live-poller")
            if not self._signals_chained:
                _chain_exit_signals(self.close_threadsafe)
                self._signals_chained = True
        return client

    def unsubscribe(self, client: _Client) -> None:
        self._clients.discard(client)

    def _put(self, client: _Client, data: bytes | None) -> None:
        try:
            client.queue.put_nowait(data)
        except asyncio.QueueFull:  # too slow: end its stream, it reconnects and resyncs
            client.dropped = True
            self._clients.discard(client)
            client.queue.get_nowait()
            client.queue.put_nowait(None)

    def _broadcast(self, data: bytes | None) -> None:
        for client in list(self._clients):
            self._put(client, data)

    def _deliver(self, by_scope: dict[Scope, list[tuple[str, Any]]]) -> None:
        """Each listener its scope's messages; the first summary it gets is its `hello`."""
        for client in list(self._clients):
            messages = by_scope.get(client.scope, [])
            if not client.greeted:
                summary = self._snap.fleets.get(client.scope)
                if summary is None:
                    continue  # subscribed during this poll: greeted on the next
                self._put(client, frame("hello", summary))
                client.greeted = True
                messages = [m for m in messages if m[0] != "fleet"]
            for event, data in messages:
                self._put(client, frame(event, data))

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        while self._clients and not self._closed:
            scopes = {c.scope for c in self._clients}
            try:
                by_scope = await run_in_threadpool(
                    poll_scoped, self.engine, self._snap, scopes, self.clock()
                )
                self.polls += 1
            except Exception:  # the database may be restarting: say nothing, try again
                log.warning("ops live: database poll failed", exc_info=True)
                by_scope = {}
            self._deliver(by_scope)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.config.interval_s)
        self._task = None

    async def close(self) -> None:
        """End every stream and the poller (shutdown)."""
        self._closed = True
        self._broadcast(None)
        self._clients.clear()
        if self._wake is not None:
            self._wake.set()
        task = self._task
        if task is not None:
            await asyncio.wait([task], timeout=5)

    def close_threadsafe(self) -> None:
        """`close()` from a signal handler or another thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._closed = True
            return
        loop.call_soon_threadsafe(lambda: loop.create_task(self.close()))

    async def stream(self, client: _Client) -> AsyncIterator[bytes]:
        """The bytes of one client's stream: retry hint, events, heartbeats, then the end."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        ends = loop.time() + cfg.max_stream_s
        try:
            yield f"retry: {cfg.retry_ms}\n: waystation ops live\n\n".encode()
            while not self._closed:
                left = ends - loop.time()
                if left <= 0:
                    break
                try:
                    data = await asyncio.wait_for(client.queue.get(), min(cfg.heartbeat_s, left))
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                if data is None:
                    break
                yield data
        finally:
            self.unsubscribe(client)


def _chain_exit_signals(callback: Callable[[], None]) -> None:
    """Run `callback` on SIGTERM/SIGINT before the server's own handler: uvicorn waits for
    open responses before it stops, and an event stream never ends by itself. Only from the
    main thread (where uvicorn installs its handlers) and only over a handler that is a
    function; elsewhere streams end by `max_stream_s` or when their client goes."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame_: Any, previous: Any = previous) -> None:
            callback()
            previous(signum, frame_)

        signal.signal(sig, handler)


def hub_of(request: Request) -> LiveHub:
    """The process's hub (made on first use; tests may put one with their own config)."""
    state = request.app.state
    hub: LiveHub | None = getattr(state, "ops_live", None)
    if hub is None:
        hub = LiveHub(state.ctx.engine, clock=state.ctx.clock)
        state.ops_live = hub
    return hub


class EventStream(StreamingResponse):
    """So the schema documents `text/event-stream`, not JSON (schemathesis checks it)."""

    media_type = "text/event-stream"


# One server-sent event, as clients (and schemathesis) read it off the stream.
SSE_EVENT_SCHEMA = {
    "type": "object",
    "required": ["data"],
    "properties": {"event": {"type": "string"}, "data": {"type": "string", "description": "JSON"}},
}


@router.get(
    "/live",
    include_in_schema=True,
    response_class=EventStream,
    responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}}},
)
async def live(request: Request, principal: Viewer) -> EventStream:
    """Server-sent events: `hello`, `fleet`, `alarm`, `stations` (see the module doc), of the
    caller's scope only."""
    hub = hub_of(request)
    client = hub.subscribe(principal.scope)
    return EventStream(
        hub.stream(client),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass events through at once
            "X-Content-Type-Options": "nosniff",
        },
    )
