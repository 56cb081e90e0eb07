"""Who runs a link's network I/O and drain: paho's own thread, or a shared loop.

`ThreadRunner` (a real station): paho's `loop_start()` thread reads, writes, keeps alive and
reconnects with its doubling backoff; one drain thread publishes journal rows when woken
(and once a second, which also notices an ack timeout). The jitter is waited inside paho's
`on_connect_fail` / `on_disconnect`, which paho calls just before its own wait.

`LoopRunner` (`loop=`, e.g. `firmware_sim.netloop.NetLoop`, a fleet of thousands of stations
in one process): no thread of the link's own. The loop's thread runs paho's reads, writes and
keepalive, the connects and the whole reconnect wait (scheduled, never slept: one station's
wait must not stall the others), and the drain (`kick()` schedules a pass; a tick each second
checks the ack timeout).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from edge.link.backoff import Backoff
from edge.link.drain import Drain

log = logging.getLogger(__name__)

# How long the drain thread sleeps when nothing wakes it; it also checks the ack timeout this
# often (seconds).
DRAIN_POLL_S = 1.0
# How long stopping waits for the broker to take what was queued last (the retained `offline`
# state, the DISCONNECT), seconds.
STOP_TIMEOUT_S = 3.0


class ExternalLoop(Protocol):
    """What the link needs from a shared network loop (`firmware_sim.netloop.NetLoop`)."""

    @property
    def in_loop(self) -> bool: ...

    def attach(self, client: mqtt.Client, *, tick: Callable[[], None] | None = None) -> None: ...

    def detach(self, client: mqtt.Client) -> None: ...

    def connect(self, client: mqtt.Client) -> None: ...

    def call_soon(self, fn: Callable[[], object]) -> None: ...

    def call_later(self, delay_s: float, fn: Callable[[], object]) -> Any: ...

    def run(self, fn: Callable[[], Any], timeout_s: float = 10.0) -> Any: ...


class Host(Protocol):
    """What a runner reads from the link it runs."""

    sid: str
    stats: Counter[str]
    backoff: Backoff
    drain: Drain

    @property
    def client(self) -> mqtt.Client | None:
        """The paho client from `start()` until `stop()` / `abort()`."""
        ...

    @property
    def fatal(self) -> str | None: ...


class Runner(Protocol):
    """The strategy the link's lifecycle calls; one per link, chosen at construction."""

    @property
    def halted(self) -> bool:
        """True from `halt()` until the next `start()`: no drain, no reconnect."""
        ...

    def start(self, client: mqtt.Client) -> None:
        """Begin: connect (paho's `connect_async` is already set up) and drain when kicked."""
        ...

    def kick(self) -> None:
        """Wake the drain."""
        ...

    def retry(self, client: mqtt.Client) -> None:
        """An attempt failed or a connection dropped: wait (or schedule) the backoff."""
        ...

    def halt(self) -> None:
        """Stop the drain and any pending reconnect (first step of stop and abort)."""
        ...

    def may_block(self) -> bool:
        """Whether the caller may wait here for a PUBACK (never on the loop's own thread)."""
        ...

    def close(self, client: mqtt.Client) -> None:
        """After DISCONNECT was queued: let it go out, then end the network side."""
        ...

    def cut(self, client: mqtt.Client) -> None:
        """End the network side without DISCONNECT, like a power cut (the broker sends the will)."""
        ...


def shutdown(client: mqtt.Client) -> None:
    """Shut the client's TCP connection down without an MQTT DISCONNECT."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class ThreadRunner:
    """paho's network thread plus a drain thread: a real station."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def halted(self) -> bool:
        return self._stopping.is_set()

    def start(self, client: mqtt.Client) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._drain_loop, name=f"drain-{self.host.sid}", daemon=True
        )
        self._thread.start()
        client.loop_start()

    def kick(self) -> None:
        self._wake.set()

    def retry(self, client: mqtt.Client) -> None:
        """On paho's thread, just before paho's own wait: add the jitter to it."""
        _, extra = self.host.backoff.next()
        self._stopping.wait(extra)  # halt() sets this: never delays shutting down

    def halt(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def may_block(self) -> bool:
        return True

    def close(self, client: mqtt.Client) -> None:
        client.loop_stop()

    def cut(self, client: mqtt.Client) -> None:
        # paho has no public way to end its thread without sending DISCONNECT: raise its
        # stop flag first so the cut below ends the loop at once instead of reconnecting.
        client._thread_terminate = True
        shutdown(client)
        client.loop_stop()  # paho closes its sockets when the client is collected

    def _drain_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(DRAIN_POLL_S)
            self._wake.clear()
            if not self.host.drain.run(self._stopping):
                self._stopping.wait(DRAIN_POLL_S)


class LoopRunner:
    """Everything on a shared loop's thread; the link owns no thread."""

    def __init__(self, host: Host, loop: ExternalLoop) -> None:
        self.host = host
        self.loop = loop
        self._stopping = threading.Event()
        self._queued = False  # a drain pass is already scheduled
        self._timer: Any = None  # the pending reconnect

    @property
    def halted(self) -> bool:
        return self._stopping.is_set()

    def start(self, client: mqtt.Client) -> None:
        self._stopping.clear()
        self.loop.attach(client, tick=self._tick)
        self.loop.call_soon(lambda: self._connect_now(client))

    def kick(self) -> None:
        if not self._queued and not self.halted:
            self._queued = True
            self.loop.call_soon(self._drain_pass)

    def retry(self, client: mqtt.Client) -> None:
        """paho reconnects only in its own loop: schedule the step plus the jitter (a timer
        on the loop, never a sleep)."""
        step, extra = self.host.backoff.next()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(step + extra, lambda: self._connect_now(client))

    def halt(self) -> None:
        self._stopping.set()
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def may_block(self) -> bool:
        return not self.loop.in_loop

    def close(self, client: mqtt.Client) -> None:
        self._leave(client, wait_s=STOP_TIMEOUT_S)

    def cut(self, client: mqtt.Client) -> None:
        self._leave(client, wait_s=0.0)

    def _leave(self, client: mqtt.Client, *, wait_s: float) -> None:
        """Give the loop `wait_s` to write what is queued (the DISCONNECT), then cut and detach."""
        loop = self.loop
        deadline = time.monotonic() + wait_s  # real time: a simulated clock may stand still
        while client.socket() is not None and time.monotonic() < deadline:
            if loop.in_loop:
                break  # cannot wait for ourselves
            time.sleep(0.005)  # halted by now: nothing else can pace this

        def leave() -> None:
            loop.detach(client)
            sock = client.socket()
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # no DISCONNECT: the broker sends the will
                sock.close()

        loop.run(leave)

    def _connect_now(self, client: mqtt.Client) -> None:
        """On the loop thread: one connect attempt; a failure schedules the next one."""
        self._timer = None
        host = self.host
        if client is not host.client or self.halted or host.fatal is not None:
            return
        try:
            self.loop.connect(client)
        except Exception as exc:  # refused, unreachable, partitioned, timed out
            host.stats["connect_failures"] += 1
            log.debug("%s: connect failed: %s", host.sid, exc)
            self.retry(client)

    def _tick(self) -> None:
        """Every second on the loop thread: resend the window if the cloud stopped acking."""
        if self.host.drain.overdue():
            self.kick()

    def _drain_pass(self) -> None:
        """On the loop thread: publish up to the free window (what the drain thread does)."""
        self._queued = False
        self.host.drain.run(self._stopping)
