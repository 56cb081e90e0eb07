"""A TCP proxy between stations and the broker that loses the radio on demand.

A station's uplink rarely fails politely. A cellular or Wi-Fi dropout is a *blackhole*:
packets stop both ways, nobody sends FIN or RST, and each end only learns of it from its own
timers (MQTT keepalive) or when the link comes back and TCP delivers what it had queued. A
crashed router or NAT rebinding is a *reset*. `NetCut` plays both between real sockets:

- `cut()`: stop forwarding both ways and keep every socket open. Bytes sent meanwhile stay
  queued (in the kernel or here) and arrive after `heal()`, as TCP retransmission delivers
  them; a close during the cut is passed on after it too. A connection opened during a cut
  gets no further than the proxy: at `heal()` it is forwarded if its client is still waiting
  (a late SYN that got through) and dropped if the client gave up meanwhile.
- `heal()`: forward again.
- `reset()`: RST both sides of every open connection at once (SO_LINGER 0 close).

One accept thread and two pump threads per connection; a station link is a few packets a
second, so threads are plenty. For tests, chaos runs and benchmarks only.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable

POLL_S = 0.1  # how often idle threads look at their stop flags
CHUNK = 65536
_LINGER_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


def _rst(sock: socket.socket) -> None:
    """Close `sock` with an RST instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    with contextlib.suppress(OSError):
        sock.close()


class _Conn:
    """One proxied connection: the client's socket and, once forwarded, the upstream one."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.dead = threading.Event()  # reset, closed or proxy stopped: pumps end
        self._open_halves = 2
        self._lock = threading.Lock()

    def half_done(self) -> None:
        with self._lock:
            self._open_halves -= 1
            last = self._open_halves == 0
        if last:
            self.close()

    def close(self) -> None:
        self.dead.set()
        for sock in (self.client, self.upstream):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    def reset(self) -> None:
        self.dead.set()
        for sock in (self.client, self.upstream):
            if sock is not None:
                _rst(sock)


class NetCut:
    """Forwards `listen` (default 127.0.0.1, a free port) to `target`; `start()` first."""

    def __init__(self, target: tuple[str, int], *, listen: tuple[str, int] = ("127.0.0.1", 0)):
        self.target = target
        self._listen_addr = listen
        self._server: socket.socket | None = None
        self._flowing = threading.Event()
        self._flowing.set()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[_Conn] = set()
        self._pending: list[_Conn] = []  # accepted during a cut, not forwarded yet
        self._threads: list[threading.Thread] = []
        self.stats: Counter[str] = Counter()

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("NetCut not started")
        return int(self._server.getsockname()[1])

    @property
    def address(self) -> tuple[str, int]:
        return self._listen_addr[0], self.port

    @property
    def is_cut(self) -> bool:
        return not self._flowing.is_set()

    @property
    def connections(self) -> int:
        """Connections currently forwarded (not counting ones held by a cut)."""
        with self._lock:
            return sum(1 for c in self._conns if c.upstream is not None and not c.dead.is_set())

    def start(self) -> NetCut:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(self._listen_addr)
        server.listen(128)
        self._server = server
        self._spawn(self._accept_loop, "netcut-accept")
        return self

    def stop(self) -> None:
        """Close everything (RST); threads end within `POLL_S`."""
        self._stopped.set()
        self._flowing.set()  # wake whatever waits for a heal
        with self._lock:
            conns = list(self._conns) + self._pending
            self._pending = []
        for conn in conns:
            conn.reset()
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.close()
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads = []

    def __enter__(self) -> NetCut:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- faults ------------------------------------------------------------------------------

    def cut(self) -> None:
        """Blackhole: nothing passes either way; sockets stay open."""
        self.stats["cuts"] += 1
        self._flowing.clear()

    def heal(self) -> None:
        """Forward again: queued bytes (and closes) go through, held connections too."""
        with self._lock:
            pending, self._pending = self._pending, []
        self._flowing.set()
        for conn in pending:
            self._forward_held(conn)

    def reset(self) -> None:
        """RST both sides of every connection (forwarded or held)."""
        self.stats["resets"] += 1
        with self._lock:
            conns = list(self._conns) + self._pending
            self._conns.clear()
            self._pending = []
        for conn in conns:
            conn.reset()

    # --- threads -----------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        server = self._server
        assert server is not None
        while not self._stopped.is_set():
            try:
                ready, _, _ = select.select([server], [], [], POLL_S)
                if not ready:
                    continue
                client, _addr = server.accept()
            except (OSError, ValueError):
                return  # closed by stop()
            self.stats["accepted"] += 1
            conn = _Conn(client)
            with self._lock:
                if not self._flowing.is_set():
                    self._pending.append(conn)
                    self.stats["held"] += 1
                    continue
            self._connect(conn, b"")

    def _forward_held(self, conn: _Conn) -> None:
        """A connection made during a cut: forward it if its client still waits, else drop."""
        queued = bytearray()
        conn.client.setblocking(False)
        try:
            while True:
                data = conn.client.recv(CHUNK)
                if not data:  # the client gave up during the cut
                    self.stats["dropped_at_heal"] += 1
                    conn.reset()
                    return
                queued += data
        except BlockingIOError:
            pass  # still open, everything it sent is in `queued`
        except OSError:
            self.stats["dropped_at_heal"] += 1
            conn.reset()
            return
        finally:
            with contextlib.suppress(OSError):
                conn.client.setblocking(True)
        self._connect(conn, bytes(queued))

    def _connect(self, conn: _Conn, first: bytes) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            if first:  # what the client sent while the upstream connection was being made
                self.stats["bytes_up"] += len(first)
                upstream.sendall(first)
        except OSError:
            self.stats["upstream_refused"] += 1
            conn.reset()  # the broker is down: the client sees its connection reset
            return
        conn.upstream = upstream
        with self._lock:
            self._conns.add(conn)
        self.stats["forwarded"] += 1
        self._spawn(self._pump, "netcut-up", conn, conn.client, upstream, "up")
        self._spawn(self._pump, "netcut-down", conn, upstream, conn.client, "down")

    def _wait_flowing(self, conn: _Conn) -> bool:
        """Block while cut; False when the connection or the proxy is gone."""
        while not self._flowing.wait(POLL_S):
            if conn.dead.is_set() or self._stopped.is_set():
                return False
        return not conn.dead.is_set() and not self._stopped.is_set()

    def _pump(self, conn: _Conn, src: socket.socket, dst: socket.socket, way: str) -> None:
        try:
            while self._wait_flowing(conn):
                ready, _, _ = select.select([src], [], [], POLL_S)
                if not ready or not self._flowing.is_set():
                    continue  # cut meanwhile: leave the bytes queued in the kernel
                data = src.recv(CHUNK)
                if not self._wait_flowing(conn):  # cut after the read: hold the bytes
                    return
                if not data:
                    dst.shutdown(socket.SHUT_WR)  # pass the FIN on
                    return
                self.stats[f"bytes_{way}"] += len(data)  # before: the echo may beat it back
                dst.sendall(data)
        except ConnectionResetError:
            conn.reset()  # pass the RST on
        except (OSError, ValueError):
            if not conn.dead.is_set():
                conn.reset()
        finally:
            conn.half_done()
            if conn.dead.is_set():
                with self._lock:
                    self._conns.discard(conn)
