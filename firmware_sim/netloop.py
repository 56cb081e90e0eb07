"""One network thread for many paho MQTT clients: an external event loop on `selectors` (epoll).

Why: paho's `loop_start()` costs a thread per client and watches its socket with `select()`,
which cannot see a file descriptor above 1023, so a process running more than ~169 stations
silently leaves the rest unconnected. Here one thread waits on every client's socket with
epoll and calls paho's `loop_read()` / `loop_write()` / `loop_misc()` (paho 2.x's external
loop API; it tells us through `on_socket_open/close/register_write/unregister_write`).

Threads: paho calls are made on the loop thread, except `publish()`, which any thread may call
(paho queues the packet and calls `on_socket_register_write`, which marks the client dirty and
wakes the loop). `call_soon`/`call_later`/`run` run code on the loop thread, so a client's
owner (`edge.link.mqtt.Link`) can do its connects, reconnect backoff and journal drain there
without a thread of its own.

Faults (for `firmware_sim` chaos runs), by MQTT client id (the station id), so they also
hold for the fresh client of a restarted station:
- `partition(key, True)`: a blackhole. The loop stops reading and writing the socket but
  keeps it open (nothing is closed, nothing in the journal is touched); paho still runs its
  keepalive, so after a keepalive without an answer it closes the connection itself, and
  `connect()` refuses while partitioned ("network unreachable"), as a dead radio would.
  `partition(key, False)` resumes reading and writing what waited in the socket buffers.
- `reset(key)`: shuts the socket down (the broker sees the connection drop and sends the
  will); paho reads the EOF and reports the loss as usual. On a partitioned client the loss
  is noticed only when the partition ends or the keepalive runs out.

One module on purpose (~410 lines): the loop, its timers and the faults share the same
per-client entries and must change together.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

T = TypeVar("T")

# paho's keepalive and ping checks (`loop_misc`) run this often for every client, seconds.
MISC_INTERVAL_S = 1.0
# The longest the loop sleeps with nothing to do (it also bounds timer lateness).
MAX_WAIT_S = 0.5


class PartitionedError(OSError):
    """A connect attempt while the client's network is cut."""


@dataclass(eq=False)
class _Entry:
    client: mqtt.Client
    key: str  # the MQTT client id
    tick: Callable[[], None] | None
    sock: Any = None  # the socket paho opened (SocketLike); None while disconnected
    fd: int = -1
    mask: int = 0  # what the selector watches now (0: not registered)
    partitioned: bool = False


@dataclass(order=True)
class _Timer:
    due: float
    order: int
    fn: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class NetLoopStats:
    clients: int = 0
    sockets: int = 0
    iterations: int = 0
    reads: int = 0
    writes: int = 0
    calls: int = 0
    errors: int = 0
    busy_s: float = 0.0  # time spent working (not waiting in epoll)


class NetLoop:
    """The network thread. `start()` it, `attach()` clients, `stop()` at the end."""

    def __init__(self, name: str = "netloop", *, misc_interval_s: float = MISC_INTERVAL_S):
        self.name = name
        self.misc_interval_s = misc_interval_s
        self.stats = NetLoopStats()
        self._selector = selectors.DefaultSelector()
        self._sel_lock = threading.Lock()  # selector (un)register/modify from any thread
        self._entries: dict[int, _Entry] = {}  # id(client) → entry
        self._partitioned: set[str] = set()  # client ids whose network is cut
        self._dirty: set[_Entry] = set()  # clients with packets to write
        self._dirty_lock = threading.Lock()
        self._calls: list[Callable[[], object]] = []
        self._calls_lock = threading.Lock()
        self._timers: list[_Timer] = []
        self._order = itertools.count()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._woken = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_misc = 0.0

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> NetLoop:
        if self._thread is None:
            self._selector.register(self._wake_r, selectors.EVENT_READ, None)
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """End the thread; attached clients' sockets are left to their owners."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        self._wake()
        thread.join(timeout=10)
        self._thread = None
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self._wake_r)

    def close(self) -> None:
        self.stop()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    @property
    def in_loop(self) -> bool:
        return threading.current_thread() is self._thread

    # --- running code on the loop thread ------------------------------------------------------

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run `fn` on the loop thread at its next turn (thread-safe)."""
        with self._calls_lock:
            self._calls.append(fn)
        if not self.in_loop:
            self._wake()

    def call_later(self, delay_s: float, fn: Callable[[], object]) -> _Timer:
        """Run `fn` on the loop thread after `delay_s`; `.cancel()` the result to drop it."""
        timer = _Timer(time.monotonic() + max(0.0, delay_s), next(self._order), fn)
        if self.in_loop:
            heapq.heappush(self._timers, timer)
        else:
            self.call_soon(lambda: heapq.heappush(self._timers, timer))
        return timer

    def run(self, fn: Callable[[], T], timeout_s: float = 10.0) -> T:
        """Run `fn` on the loop thread and return its result (inline if already there)."""
        if self.in_loop or self._thread is None:
            return fn()
        future: Future[T] = Future()

        def call() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

        self.call_soon(call)
        return future.result(timeout=timeout_s)

    # --- clients -----------------------------------------------------------------------------

    def attach(self, client: mqtt.Client, *, tick: Callable[[], None] | None = None) -> None:
        """Watch `client` from now on; `tick` runs on the loop thread every misc interval."""
        key = client._client_id  # paho keeps it as bytes; no public getter
        entry = _Entry(client, key.decode() if isinstance(key, bytes) else str(key), tick)
        entry.partitioned = entry.key in self._partitioned
        self._entries[id(client)] = entry
        self.stats.clients = len(self._entries)
        client.on_socket_open = lambda c, u, sock: self._opened(entry, sock)
        client.on_socket_close = lambda c, u, sock: self._closed(entry, sock)
        client.on_socket_register_write = lambda c, u, sock: self._mark_dirty(entry)
        client.on_socket_unregister_write = lambda c, u, sock: self._unregistered_write(entry)
        if client.socket() is not None:
            self._opened(entry, client.socket())

    def detach(self, client: mqtt.Client) -> None:
        """Stop watching `client` (its socket stays as it is: close it first or after)."""
        entry = self._entries.pop(id(client), None)
        self.stats.clients = len(self._entries)
        if entry is None:
            return
        self._unwatch(entry)
        with self._dirty_lock:
            self._dirty.discard(entry)
        client.on_socket_open = None
        client.on_socket_close = None
        client.on_socket_register_write = None
        client.on_socket_unregister_write = None

    def connect(self, client: mqtt.Client) -> None:
        """Open the TCP connection and send CONNECT (paho's `reconnect()`); raises OSError.

        Blocks for the TCP handshake (paho's own `connect_timeout` bounds it): cheap on a LAN,
        and one thread doing every connect in turn paces a reconnect storm by itself.
        """
        entry = self._entries.get(id(client))
        if entry is not None and entry.key in self._partitioned:
            raise PartitionedError("network unreachable (partitioned)")
        client.reconnect()

    def partition(self, key: str, on: bool) -> None:
        """Blackhole (`on`) or restore the network of client id `key`; thread-safe."""
        self.run(lambda: self._partition(key, on))

    def is_partitioned(self, key: str) -> bool:
        return key in self._partitioned

    def reset(self, key: str) -> None:
        """Shut the connection of client id `key` down (no DISCONNECT); thread-safe."""
        for entry in list(self._entries.values()):
            if entry.key == key and isinstance(entry.sock, socket.socket):
                with contextlib.suppress(OSError):
                    entry.sock.shutdown(socket.SHUT_RDWR)

    # --- paho's socket callbacks ---------------------------------------------------------------

    def _opened(self, entry: _Entry, sock: Any) -> None:
        self._unwatch(entry)
        entry.sock = sock
        entry.fd = sock.fileno()
        self._watch(entry, writing=False)
        self.stats.sockets += 1

    def _closed(self, entry: _Entry, sock: Any) -> None:
        if entry.sock is sock:
            self._unwatch(entry)
            entry.sock = None
            entry.fd = -1
            self.stats.sockets -= 1

    def _mark_dirty(self, entry: _Entry) -> None:
        with self._dirty_lock:
            self._dirty.add(entry)
        if not self.in_loop:
            self._wake()

    def _unregistered_write(self, entry: _Entry) -> None:
        # paho clears its "registered" flag before this call: a packet another thread queued
        # just before would otherwise wait for the next publish. Look again.
        if entry.client.want_write():
            self._mark_dirty(entry)

    # --- selector bookkeeping (any thread) -------------------------------------------------------

    def _watch(self, entry: _Entry, *, writing: bool) -> None:
        if entry.sock is None or entry.partitioned:
            return
        mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
        if mask == entry.mask:
            return
        with self._sel_lock:
            try:
                if entry.mask:
                    self._selector.modify(entry.fd, mask, entry)
                else:
                    self._selector.register(entry.fd, mask, entry)
                entry.mask = mask
            except (KeyError, ValueError, OSError):
                self.stats.errors += 1
                log.warning("%s: could not watch fd %d", self.name, entry.fd, exc_info=True)

    def _unwatch(self, entry: _Entry) -> None:
        if not entry.mask:
            return
        with self._sel_lock:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(entry.fd)
            entry.mask = 0

    def _partition(self, key: str, on: bool) -> None:
        if on:
            self._partitioned.add(key)
        else:
            self._partitioned.discard(key)
        for entry in self._entries.values():
            if entry.key != key:
                continue
            entry.partitioned = on
            if on:
                self._unwatch(entry)
            else:
                self._watch(entry, writing=False)
                self._mark_dirty(entry)  # what was queued while cut goes out now

    def _wake(self) -> None:
        if self._woken:
            return
        self._woken = True
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    # --- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._turn()
            except Exception:  # the loop must not die: count, log, carry on
                self.stats.errors += 1
                log.exception("%s: loop turn failed", self.name)
                time.sleep(0.01)

    def _timeout(self) -> float:
        if self._calls or self._dirty:
            return 0.0
        now = time.monotonic()
        wait = min(MAX_WAIT_S, self._next_misc - now)
        if self._timers:
            wait = min(wait, self._timers[0].due - now)
        return max(0.0, wait)

    def _turn(self) -> None:
        events = self._selector.select(self._timeout())
        started = time.monotonic()
        self.stats.iterations += 1
        for key, mask in events:
            entry = key.data
            if entry is None:
                self._woken = False
                with contextlib.suppress(BlockingIOError, OSError):
                    self._wake_r.recv(4096)
                continue
            if entry.partitioned or entry.sock is None:
                continue
            if mask & selectors.EVENT_READ:
                self.stats.reads += 1
                self._guard(entry, entry.client.loop_read)
            if mask & selectors.EVENT_WRITE:
                with self._dirty_lock:
                    self._dirty.add(entry)
        self._run_calls()
        self._run_timers()
        self._write_dirty()
        if time.monotonic() >= self._next_misc:
            self._next_misc = time.monotonic() + self.misc_interval_s
            self._misc()
        self.stats.busy_s += time.monotonic() - started

    def _run_calls(self) -> None:
        with self._calls_lock:
            calls, self._calls = self._calls, []
        for fn in calls:
            self.stats.calls += 1
            try:
                fn()
            except Exception:
                self.stats.errors += 1
                log.exception("%s: call failed", self.name)

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0].due <= now:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            try:
                timer.fn()
            except Exception:
                self.stats.errors += 1
                log.exception("%s: timer failed", self.name)

    def _write_dirty(self) -> None:
        with self._dirty_lock:
            dirty, self._dirty = self._dirty, set()
        for entry in dirty:
            if entry.partitioned:
                continue  # held in paho's queue until the partition ends
            if entry.sock is None or self._entries.get(id(entry.client)) is not entry:
                continue
            self.stats.writes += 1
            self._guard(entry, entry.client.loop_write)
            if entry.sock is not None:
                # Still data queued: the socket buffer is full, wait until it is writable.
                self._watch(entry, writing=entry.client.want_write())

    def _misc(self) -> None:
        for entry in list(self._entries.values()):
            if entry.sock is not None:
                self._guard(entry, entry.client.loop_misc)
            if entry.tick is not None:
                try:
                    entry.tick()
                except Exception:
                    self.stats.errors += 1
                    log.exception("%s: tick failed", self.name)

    def _guard(self, entry: _Entry, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception:  # paho raised (a callback bug): the client must not stop the others
            self.stats.errors += 1
            log.exception("%s: client %s failed", self.name, entry.client._client_id)
