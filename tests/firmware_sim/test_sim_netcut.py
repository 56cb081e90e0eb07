"""NetCut, the radio-loss proxy: forwards, blackholes without closing, heals with the queued
bytes, resets with RST on both sides, and treats connections made during a cut like SYNs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from firmware_sim.netcut import NetCut
from tests.support.wait import wait_for
from waystation.mosquitto import free_port


class EchoServer:
    """Echoes every connection; records how each one ended (eof, reset)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.endings: list[str] = []
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
                self.endings.append("eof")
            except ConnectionResetError:
                self.endings.append("reset")
            except OSError:
                self.endings.append("error")

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[NetCut]:
    with NetCut(("127.0.0.1", echo.port)) as cut:
        yield cut


def connect(proxy: NetCut) -> socket.socket:
    sock = socket.create_connection(proxy.address, timeout=2)
    sock.settimeout(2)
    return sock


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(data)
        data += chunk
    return data


def silent(sock: socket.socket, seconds: float) -> bool:
    """True if nothing (no data, no EOF, no error) arrives on `sock` for `seconds`."""
    sock.settimeout(seconds)
    try:
        sock.recv(1)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(2)
    return False


def test_forwards_both_ways(proxy: NetCut) -> None:
    with connect(proxy) as sock:
        sock.sendall(b"hello")
        assert recv_exactly(sock, 5) == b"hello"
        assert proxy.connections == 1
    assert proxy.stats["bytes_up"] == 5


def test_a_cut_is_a_blackhole_and_heal_delivers_what_was_queued(
    proxy: NetCut, echo: EchoServer
) -> None:
    with connect(proxy) as sock:
        sock.sendall(b"a")
        assert recv_exactly(sock, 1) == b"a"
        proxy.cut()
        sock.sendall(b"during the cut")
        assert silent(sock, 0.6), "nothing may pass, and the socket must stay open"
        assert echo.endings == []
        proxy.heal()
        assert recv_exactly(sock, 14) == b"during the cut"


def test_a_close_during_the_cut_reaches_the_other_side_after_heal(
    proxy: NetCut, echo: EchoServer
) -> None:
    sock = connect(proxy)
    sock.sendall(b"x")
    assert recv_exactly(sock, 1) == b"x"
    proxy.cut()
    sock.close()
    time.sleep(0.4)  # a window for the FIN to get through if the cut leaked
    assert echo.endings == []  # the FIN is stuck in the blackhole
    proxy.heal()
    wait_for(lambda: echo.endings == ["eof"], 3.0)


def test_reset_sends_rst_both_ways(proxy: NetCut, echo: EchoServer) -> None:
    with connect(proxy) as sock:
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        proxy.cut()
        proxy.reset()
        with pytest.raises(ConnectionResetError):
            sock.recv(1)
        wait_for(lambda: echo.endings == ["reset"], 3.0)
    assert proxy.connections == 0


def test_a_connection_made_during_a_cut_goes_through_at_heal_if_still_waiting(
    proxy: NetCut, echo: EchoServer
) -> None:
    proxy.cut()
    waiting = connect(proxy)  # TCP says connected; nothing reaches the server
    waiting.sendall(b"CONNECT")
    gave_up = connect(proxy)
    gave_up.sendall(b"CONNECT")
    wait_for(lambda: proxy.stats["held"] == 2, 3.0)
    gave_up.close()  # its CONNACK timeout ran out during the cut
    assert echo.accepted == 0
    proxy.heal()
    assert recv_exactly(waiting, 7) == b"CONNECT"
    assert echo.accepted == 1
    assert proxy.stats["dropped_at_heal"] == 1
    waiting.close()


def test_a_broker_that_is_down_resets_the_client() -> None:
    with NetCut(("127.0.0.1", free_port())) as cut:  # nothing listens upstream
        # The reset may come while connecting (a loaded machine) or at the first read.
        with pytest.raises((ConnectionResetError, EOFError)), connect(cut) as sock:
            recv_exactly(sock, 1)
        assert cut.stats["upstream_refused"] == 1
